package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/config"
	"github.com/mailseal/mailseal/policy"
)

// withCerts loads the config, opens the store and runs f; the store is
// SQLite in WAL mode, so this works while the daemon runs.
func withCerts(cmd *cobra.Command, cfgPath func() string, f func(ctx context.Context, m *certs.Manager) error) error {
	cfg, err := loadConfig(cfgPath())
	if err != nil {
		return err
	}
	m, err := openCerts(cmd.Context(), cfg, newLogger(&config.Config{Log: config.LogConfig{Level: "warn", Format: cfg.Log.Format}}), nil)
	if err != nil {
		return err
	}
	defer m.Close()
	return f(cmd.Context(), m)
}

// forUser builds the RunE of a command taking one EMAIL argument.
func forUser(cfgPath func() string, f func(ctx context.Context, cmd *cobra.Command, m *certs.Manager, email string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		email, err := emailArg(args[0])
		if err != nil {
			return err
		}
		return withCerts(cmd, cfgPath, func(ctx context.Context, m *certs.Manager) error {
			return f(ctx, cmd, m, email)
		})
	}
}

// current returns a user's current certificate, with a helpful error.
func current(ctx context.Context, m *certs.Manager, email string) (*certs.CertInfo, error) {
	c, err := m.Show(ctx, email)
	if errors.Is(err, certs.ErrNotFound) {
		return nil, fmt.Errorf("no certificate for %s (one is issued with its first outbound mail, or by `mailseal certs issue`)", email)
	}
	return c, err
}

func emailArg(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return "", &exitError{code: 2, err: fmt.Errorf("%q is not an email address", s)}
	}
	// ASCII-only fold: strings.ToLower would turn a KELVIN SIGN look-alike
	// into kate@…; certs then refuses the non-ASCII address.
	return policy.LowerASCII(s), nil
}

func newCertsCommand(cfgPath func() string) *cobra.Command {
	cmd := &cobra.Command{Use: "certs", Short: "List, show, issue, revoke and export user certificates; import partners' certificates"}
	var external bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List the current certificate of every user (--external: the partners' certificates)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if external {
				return listExternal(cmd, cfgPath)
			}
			return withCerts(cmd, cfgPath, func(ctx context.Context, m *certs.Manager) error {
				list, err := m.List(ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "EMAIL\tSERIAL\tKEY\tNOT AFTER\tSTATUS")
				for _, c := range list {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", c.Email, c.Serial, c.KeyType, c.NotAfter.UTC().Format(time.RFC3339), status(c))
				}
				return w.Flush()
			})
		},
	}
	list.Flags().BoolVar(&external, "external", false, "list the partners' certificates imported to encrypt to")
	cmd.AddCommand(list)
	addPartnerCertCommands(cmd, cfgPath)
	cmd.AddCommand(&cobra.Command{
		Use:   "show EMAIL",
		Short: "Show the current certificate of one user",
		Args:  cobra.ExactArgs(1),
		RunE: forUser(cfgPath, func(ctx context.Context, cmd *cobra.Command, m *certs.Manager, email string) error {
			c, err := current(ctx, m, email)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Email:        %s\nSubject:      %s\nIssuer:       %s\nSerial:       %s\nKey:          %s\n", c.Email, c.Subject, c.Issuer, c.Serial, c.KeyType)
			fmt.Fprintf(out, "Not before:   %s\nNot after:    %s\nSHA-256:      %s\nStatus:       %s\n",
				c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), c.SHA256Fingerprint, status(*c))
			return nil
		}),
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "issue EMAIL",
		Short: "Issue a new certificate for a user now (the previous one stays valid until it expires)",
		Args:  cobra.ExactArgs(1),
		RunE: forUser(cfgPath, func(ctx context.Context, cmd *cobra.Command, m *certs.Manager, email string) error {
			id, err := m.Issue(ctx, email)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "issued %s serial %s valid until %s\n", email, id.Cert.SerialNumber.Text(16), id.Cert.NotAfter.UTC().Format(time.RFC3339))
			return nil
		}),
	})
	var reasonText string
	revoke := &cobra.Command{
		Use:   "revoke EMAIL",
		Short: "Revoke every valid certificate of a user; the CRL lists them and the next mail gets a new one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reason, err := parseReason(reasonText)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			return forUser(cfgPath, func(ctx context.Context, cmd *cobra.Command, m *certs.Manager, email string) error {
				if err := m.Revoke(ctx, email, reason); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked the certificates of %s (reason %d %s); the CRL (/ca.crl) and OCSP (/ocsp) on admin_listen say so at once\n",
					email, reason, reasonNames[reason])
				return nil
			})(cmd, args)
		},
	}
	revoke.Flags().StringVar(&reasonText, "reason", "0", "RFC 5280 reason, by code or name: 0 unspecified, 1 keyCompromise, 3 affiliationChanged, 4 superseded, 5 cessationOfOperation, 9 privilegeWithdrawn")
	cmd.AddCommand(revoke)
	var chain bool
	var p12 p12Flags
	export := &cobra.Command{
		Use:   "export EMAIL",
		Short: "Print a user's current certificate as PEM, or write certificate and private key as PKCS#12 (--p12) for the user's mail client",
		Args:  cobra.ExactArgs(1),
		PreRunE: func(*cobra.Command, []string) error {
			return p12.check()
		},
		RunE: forUser(cfgPath, func(ctx context.Context, cmd *cobra.Command, m *certs.Manager, email string) error {
			if p12.file != "" {
				return exportP12(ctx, cmd, m, email, &p12)
			}
			c, err := current(ctx, m, email)
			if err != nil {
				return err
			}
			if err := pem.Encode(cmd.OutOrStdout(), &pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw}); err != nil {
				return err
			}
			if !chain {
				return nil
			}
			// The chain stored with the certificate: with step-ca the
			// intermediates too. (A built-in CA certificate re-issued by
			// `ca recertify` is the one partners have now.)
			cas := c.Chain
			if ca := m.CACertificate(); ca != nil && len(cas) <= 1 {
				cas = []*x509.Certificate{ca}
			}
			for _, ca := range cas {
				if err := pem.Encode(cmd.OutOrStdout(), &pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}); err != nil {
					return err
				}
			}
			return nil
		}),
	}
	export.Flags().BoolVar(&chain, "chain", false, "also print the issuing CA certificates (intermediates and root)")
	p12.register(export)
	cmd.AddCommand(export)
	cmd.AddCommand(newEnrollCommand(cfgPath))
	return cmd
}

func status(c certs.CertInfo) string {
	switch {
	case c.Revoked:
		return "revoked"
	case time.Now().After(c.NotAfter):
		return "expired"
	}
	return "valid"
}

func newCACommand(cfgPath func() string) *cobra.Command {
	cmd := &cobra.Command{Use: "ca", Short: "The built-in certificate authority"}
	var fingerprint bool
	cert := &cobra.Command{
		Use:   "cert",
		Short: "Print the built-in CA certificate (PEM), to distribute as a trust anchor",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCerts(cmd, cfgPath, func(ctx context.Context, m *certs.Manager) error {
				if fingerprint {
					// The same form as `openssl x509 -noout -fingerprint -sha256`,
					// for partners to compare over the phone.
					_, err := fmt.Fprintf(cmd.OutOrStdout(), "SHA256 Fingerprint=%s\n", certs.FingerprintSHA256(m.CACertificate()))
					return err
				}
				return pem.Encode(cmd.OutOrStdout(), &pem.Block{Type: "CERTIFICATE", Bytes: m.CACertificate().Raw})
			})
		},
	}
	cert.Flags().BoolVar(&fingerprint, "fingerprint", false, "print only the certificate's SHA-256 fingerprint, for partners to check out of band")
	cmd.AddCommand(cert)
	cmd.AddCommand(&cobra.Command{
		Use:   "recertify",
		Short: "Re-issue the built-in CA certificate (same key) limited to the current internal_domains; restart serve and redistribute it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCerts(cmd, cfgPath, func(ctx context.Context, m *certs.Manager) error {
				c, err := m.RecertifyCA(ctx)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "re-certified %s for %s\nSHA256 Fingerprint=%s\n", c.Subject, strings.Join(c.PermittedEmailAddresses, " "), certs.FingerprintSHA256(c))
				fmt.Fprintln(out, "restart `mailseal serve` to use it, and give partners the new CA certificate (`mailseal ca cert`)")
				return nil
			})
		},
	})
	return cmd
}

// reasonNames are the RFC 5280 CRLReason codes a user certificate may be
// revoked with (2 cACompromise and 10 aACompromise concern CAs, 6
// certificateHold would need an unhold mailseal does not offer, 8 exists
// only in delta CRLs, 7 is unused).
var reasonNames = map[int]string{
	0: "unspecified", 1: "keyCompromise", 3: "affiliationChanged", 4: "superseded",
	5: "cessationOfOperation", 9: "privilegeWithdrawn",
}

// parseReason reads --reason as a code or a name (case-insensitive).
func parseReason(s string) (int, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if _, ok := reasonNames[n]; ok {
			return n, nil
		}
	}
	for n, name := range reasonNames {
		if strings.EqualFold(s, name) {
			return n, nil
		}
	}
	return 0, fmt.Errorf("--reason %q: not one of 0 unspecified, 1 keyCompromise, 3 affiliationChanged, 4 superseded, 5 cessationOfOperation, 9 privilegeWithdrawn", s)
}
