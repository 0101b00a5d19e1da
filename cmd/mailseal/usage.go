package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes, the same for every command (documented in mailseal(8)).
const (
	exitOK     = 0 // done
	exitFailed = 1 // the command ran and failed (I/O, store, network)
	exitUsage  = 2 // bad command line or bad configuration
)

// usageError marks a mistake on the command line: exit 2.
func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// strictUsage walks the command tree so every command treats a mistyped
// subcommand or a bad argument as a usage error (exit 2, with "did you
// mean"), instead of cobra's default of printing help and exiting 0 for a
// command group.
func strictUsage(cmd *cobra.Command) {
	cmd.SuggestionsMinimumDistance = 2
	if cmd.HasSubCommands() && cmd.Run == nil && cmd.RunE == nil {
		cmd.Args = unknownSubcommand
		cmd.RunE = func(c *cobra.Command, _ []string) error {
			return usageError("%s needs a subcommand: %s (see %s --help)", c.CommandPath(), subcommandNames(c), c.CommandPath())
		}
	} else if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return &exitError{code: exitUsage, err: fmt.Errorf("%s: %w", c.CommandPath(), err)}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		strictUsage(sub)
	}
}

func unknownSubcommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
	} else {
		msg += fmt.Sprintf("; commands: %s", subcommandNames(c))
	}
	return &exitError{code: exitUsage, err: fmt.Errorf("%s", msg)}
}

func subcommandNames(c *cobra.Command) string {
	var names []string
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			names = append(names, s.Name())
		}
	}
	return strings.Join(names, ", ")
}
