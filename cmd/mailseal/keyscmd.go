package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailseal/mailseal/certs"
)

// The partner key directory: `certs import|remove`, `certs list --external`
// and `keys import|list|remove`.

// usageArgs wraps a cobra argument check so that a wrong call exits 2.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &exitError{code: 2, err: err}
		}
		return nil
	}
}

// importer is Directory.ImportCertificates or Directory.ImportPGPKeys.
type importer func(d *certs.Directory, ctx context.Context, name string, data []byte, opts certs.ImportOptions) (*certs.ImportResult, error)

// newImportCommand builds `certs import` and `keys import`: every file is
// tried; one line per stored key on stdout, one per skipped or rejected
// item on stderr; exit 1 when anything was rejected.
func newImportCommand(cfgPath func() string, what, short string, imp importer) *cobra.Command {
	var trust string
	cmd := &cobra.Command{
		Use:   "import FILE…",
		Short: short,
		Args:  usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, files []string) error {
			level, err := certs.ParseTrustLevel(trust)
			if err != nil {
				return &exitError{code: 2, err: fmt.Errorf("--trust: %w", err)}
			}
			return withCerts(cmd, cfgPath, func(ctx context.Context, m *certs.Manager) error {
				out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
				failed := 0
				for _, f := range files {
					res, err := importFile(ctx, m.Directory(), f, level, imp)
					if err != nil {
						return err
					}
					for _, k := range res.Stored {
						fmt.Fprintf(out, "imported %s %s %s (%s)\n", strings.Join(k.Emails, ","), k.Fingerprint, expiry(k.NotAfter), level)
					}
					for _, s := range res.Skipped {
						fmt.Fprintln(errOut, s)
					}
					for _, r := range res.Rejected {
						if r.Item != "" {
							fmt.Fprintf(errOut, "%s: %s: %s\n", r.File, r.Item, r.Reason)
						} else {
							fmt.Fprintf(errOut, "%s: %s\n", r.File, r.Reason)
						}
					}
					if len(res.Rejected) > 0 {
						failed++
					}
				}
				if failed > 0 {
					return &exitError{code: 1, err: fmt.Errorf("%d of %d files had %s that were not imported", failed, len(files), what)}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&trust, "trust", string(certs.TrustUnverified), "trust level: unverified, or verified once the fingerprint was checked with the partner")
	return cmd
}

func importFile(ctx context.Context, d *certs.Directory, name string, level certs.TrustLevel, imp importer) (*certs.ImportResult, error) {
	f, err := os.Open(name)
	var data []byte
	if err == nil {
		data, err = io.ReadAll(io.LimitReader(f, certs.MaxKeyFileSize+1))
		f.Close()
	}
	if err != nil {
		return &certs.ImportResult{Rejected: []*certs.ImportError{{File: name, Reason: fmt.Sprintf("cannot read: %v", errors.Unwrap(err))}}}, nil
	}
	return imp(d, ctx, name, data, certs.ImportOptions{Provenance: certs.ProvenanceImported, Trust: level})
}

func expiry(t time.Time) string {
	if t.IsZero() {
		return "never expires"
	}
	return "expires " + t.UTC().Format(time.RFC3339)
}

// newRemoveCommand builds `certs remove` and `keys remove`.
func newRemoveCommand(cfgPath func() string, short string, remove func(*certs.Directory, context.Context, string) ([]string, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "remove FINGERPRINT|EMAIL",
		Short: short,
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCerts(cmd, cfgPath, func(ctx context.Context, m *certs.Manager) error {
				fps, err := remove(m.Directory(), ctx, args[0])
				if errors.Is(err, certs.ErrNotFound) {
					return fmt.Errorf("nothing in the partner key directory matches %s", args[0])
				}
				if err != nil {
					return err
				}
				for _, fp := range fps {
					fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", fp)
				}
				return nil
			})
		},
	}
}

// addPartnerCertCommands adds `certs import` and `certs remove`.
func addPartnerCertCommands(cmd *cobra.Command, cfgPath func() string) {
	cmd.AddCommand(
		newImportCommand(cfgPath, "certificates",
			"Import partners' S/MIME certificates (PEM, DER, PKCS#7 .p7c/.p7b) to encrypt to",
			(*certs.Directory).ImportCertificates),
		newRemoveCommand(cfgPath, "Remove a partner certificate by SHA-256 fingerprint, or all of an address",
			(*certs.Directory).RemoveCertificates),
	)
}

// listExternal prints `certs list --external`.
func listExternal(cmd *cobra.Command, cfgPath func() string) error {
	return withCerts(cmd, cfgPath, func(ctx context.Context, m *certs.Manager) error {
		list, err := m.Directory().ExternalCertificates(ctx, "")
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "EMAIL\tSHA-256\tNOT AFTER\tTRUST\tSOURCE\tSTATUS")
		now := time.Now()
		for _, c := range list {
			st := "valid"
			if now.After(c.NotAfter) {
				st = "expired"
			} else if now.Before(c.NotBefore) {
				st = "not yet valid"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", strings.Join(c.Emails, ","), c.Fingerprint,
				c.NotAfter.UTC().Format(time.RFC3339), c.Trust, c.Provenance, st)
		}
		return w.Flush()
	})
}

func newKeysCommand(cfgPath func() string) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Import, list and remove partners' OpenPGP public keys; export users' own"}
	cmd.AddCommand(
		newKeysExportCmd(cfgPath),
		newImportCommand(cfgPath, "keys", "Import partners' OpenPGP public keys (armored or binary) to encrypt to",
			(*certs.Directory).ImportPGPKeys),
		&cobra.Command{
			Use:   "list",
			Short: "List the partners' OpenPGP keys",
			Args:  usageArgs(cobra.NoArgs),
			RunE: func(cmd *cobra.Command, _ []string) error {
				return withCerts(cmd, cfgPath, func(ctx context.Context, m *certs.Manager) error {
					list, err := m.Directory().PGPKeys(ctx, "")
					if err != nil {
						return err
					}
					w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "EMAIL\tFINGERPRINT\tEXPIRES\tTRUST\tSOURCE\tSTATUS")
					for _, k := range list {
						exp, st := "never", "valid"
						if !k.ExpiresAt.IsZero() {
							exp = k.ExpiresAt.UTC().Format(time.RFC3339)
							if time.Now().After(k.ExpiresAt) {
								st = "expired"
							}
						}
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", strings.Join(k.Emails, ","), k.Fingerprint, exp, k.Trust, k.Provenance, st)
					}
					return w.Flush()
				})
			},
		},
		newRemoveCommand(cfgPath, "Remove a partner OpenPGP key by fingerprint, or all of an address",
			(*certs.Directory).RemovePGPKeys),
	)
	return cmd
}
