// Command mailseal is the one binary: the milter daemon and its admin CLI.
// main only wires commands; each command loads config and calls packages.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	root := newRootCommand()
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
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
		newVersionCommand(),
	)
	return root
}
