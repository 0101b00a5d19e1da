// Command mailseal is the one binary: the milter daemon and its admin CLI.
// main only wires commands; each command loads config and calls packages.
package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/spf13/cobra"
)

// exitError carries a process exit code through cobra.
type exitError struct {
	code   int
	err    error
	logged bool // already logged in the configured log format: do not print again
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	// Everything mailseal writes (the store, SQLite's -wal and -shm files,
	// the copy ledger, the master key) is for its own user only.
	syscall.Umask(0o077)
	root := newRootCommand()
	if err := root.Execute(); err != nil {
		var ee *exitError
		if !errors.As(err, &ee) || !ee.logged {
			fmt.Fprintln(os.Stderr, err)
		}
		if ee != nil {
			os.Exit(ee.code)
		}
		os.Exit(exitFailed)
	}
}

func newRootCommand() *cobra.Command {
	var configFile string
	root := &cobra.Command{
		Use:           "mailseal",
		Short:         "S/MIME signing milter for Postfix with automatic personal certificates",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&configFile, "config", "c", "", "YAML config file (default: $MAILSEAL_CONFIG, else embedded defaults)")
	cfgPath := func() string {
		if configFile != "" {
			return configFile
		}
		return configFileFromEnv()
	}
	root.AddCommand(
		newServeCommand(cfgPath),
		newConfigCommand(cfgPath),
		newCertsCommand(cfgPath),
		newKeysCommand(cfgPath),
		newCACommand(cfgPath),
		newPostfixConfigCommand(cfgPath),
		newPolicyCommand(cfgPath),
		newPDFCommand(cfgPath),
		newMasterKeyCommand(cfgPath),
		newVersionCommand(),
	)
	root.AddCommand(newManCommand(root))
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", c.CommandPath(), err)}
	})
	strictUsage(root)
	return root
}
