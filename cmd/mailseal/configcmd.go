package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/mailseal/mailseal/config"
)

func newConfigCommand(cfgPath func() string) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check or print the configuration"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check [FILE]",
		Short: "Validate a config file (and MAILSEAL_* variables); exit 2 naming each bad key",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := cfgPath()
			if len(args) == 1 {
				path = args[0]
			}
			cfg, err := loadConfig(path)
			if err != nil {
				return err
			}
			// The step-ca files' contents: a root that parses, a key the
			// password opens (no network: the CA may be down).
			if _, err := newIssuer(cfg); err != nil {
				return err
			}
			src := cfg.Source
			if src == "" {
				src = "embedded defaults"
			}
			for _, w := range append(checkWarnings(cmd.Context(), cfg), tlsBypassWarnings(cfg)...) {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+w)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "config OK (%s)\n", src)
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "example",
		Short: "Print a complete, commented config file with every default",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return config.WriteExample(cmd.OutOrStdout())
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:    "reference",
		Short:  "Print the key table used in docs/configuration.md",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return config.WriteReference(os.Stdout)
		},
	})
	return cmd
}
