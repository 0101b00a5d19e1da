package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mailseal/mailseal/config"
	"github.com/mailseal/mailseal/policy"
)

// newKeysExportCmd is `mailseal keys export EMAIL`: an internal user's own
// OpenPGP public key, armored, for partners who encrypt to the user and
// verify the user's PGP/MIME signatures. The key is generated now when the
// user has none yet, as the first PGP/MIME mail would; status goes to
// stderr so that stdout is the key alone.
func newKeysExportCmd(cfgPath func() string) *cobra.Command {
	return &cobra.Command{
		Use:   "export EMAIL",
		Short: "Print an internal user's own OpenPGP public key (armored), generating it if there is none yet",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			email, err := emailArg(args[0])
			if err != nil {
				return err
			}
			cfg, err := loadConfig(cfgPath())
			if err != nil {
				return err
			}
			internal := policy.Settings{InternalDomains: cfg.InternalDomains}
			if !internal.IsInternal(email) {
				return &exitError{code: 2, err: fmt.Errorf("%s is not in internal_domains: only internal users have their own OpenPGP key", email)}
			}
			m, err := openCerts(cmd.Context(), cfg, newLogger(&config.Config{Log: config.LogConfig{Level: "warn", Format: cfg.Log.Format}}), nil)
			if err != nil {
				return err
			}
			defer m.Close()
			id, issued, err := m.PGPIdentity(cmd.Context(), email)
			if err != nil {
				return err
			}
			if issued {
				fmt.Fprintf(cmd.ErrOrStderr(), "generated an OpenPGP key for %s, fingerprint %s, valid until %s\n",
					email, id.Fingerprint, id.Expires.UTC().Format("2006-01-02T15:04:05Z"))
			}
			_, err = cmd.OutOrStdout().Write(id.PublicArmored)
			return err
		},
	}
}
