package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/textproto"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/config"
	"github.com/mailseal/mailseal/policy"
)

// newPolicyCommand is the dry-run: it evaluates the configured policy for a
// message described on the command line or in a file, and changes nothing.
func newPolicyCommand(cfgPath func() string) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Inspect the policy"}
	var (
		from, subject, file, direction string
		to, headers                    []string
		tls                            bool
	)
	explain := &cobra.Command{
		Use:   "explain --from ADDR --to ADDR [--to ADDR…] [--subject S] [--header 'K: V'…] [--file msg.eml]",
		Short: "Print, per recipient, what mailseal would do and which rule decides it (changes nothing)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath())
			if err != nil {
				return err
			}
			settings, err := settingsFrom(cfg)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			var hs []policy.Header
			if file != "" {
				if hs, err = readHeaders(file); err != nil {
					return &exitError{code: 2, err: err}
				}
			}
			for _, h := range headers {
				name, value, ok := strings.Cut(h, ":")
				if !ok {
					return &exitError{code: 2, err: fmt.Errorf("--header %q: want \"Name: value\"", h)}
				}
				hs = append(hs, policy.Header{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
			}
			if subject != "" {
				hs = append(hs, policy.Header{Name: "Subject", Value: subject})
			}
			if from == "" || len(to) == 0 {
				return &exitError{code: 2, err: fmt.Errorf("--from and at least one --to are required")}
			}
			dir := policy.Inbound
			switch direction {
			case "outbound":
				dir = policy.Outbound
			case "inbound":
			case "auto":
				if settings.Policy.IsInternal(policy.LowerASCII(from)) {
					dir = policy.Outbound
				}
			default:
				return &exitError{code: 2, err: fmt.Errorf("--direction %q: want auto, inbound or outbound", direction)}
			}
			visible := map[string]bool{}
			hasTo := false
			for _, h := range hs {
				if strings.EqualFold(h.Name, "To") || strings.EqualFold(h.Name, "Cc") {
					hasTo = true
					for _, a := range strings.FieldsFunc(h.Value, func(r rune) bool { return r == ',' || r == ' ' || r == '<' || r == '>' }) {
						visible[policy.LowerASCII(a)] = true
					}
				}
			}
			var rcpts []policy.Recipient
			for _, r := range to {
				rcpts = append(rcpts, policy.Recipient{Address: r, Bcc: hasTo && !visible[policy.LowerASCII(r)]})
			}
			subj := ""
			for _, h := range hs {
				if strings.EqualFold(h.Name, "Subject") {
					subj = h.Value
				}
			}
			out := cmd.OutOrStdout()
			var keys map[string]policy.KeyAvailability
			if dir == policy.Outbound {
				if keys, err = directoryKeys(cmd.Context(), cfg, to); err != nil {
					return err
				}
			}
			for _, r := range to {
				if rej := settings.Engine.RecipientPrecheck(dir, from, r, keys[policy.KeyOf(r)]); rej != nil {
					fmt.Fprintf(out, "at RCPT: %s refused: %d %s %s\n", r, rej.Code, rej.Enhanced, rej.Text)
				}
			}
			in := policy.Input{
				Direction: dir, Sender: from, Recipients: rcpts, Subject: subj, Headers: hs,
				ClientTLS: tls, SignerAvailable: dir == policy.Outbound, Keys: keys,
			}
			fmt.Fprint(out, settings.Engine.Explain(in))
			for _, d := range settings.Engine.Evaluate(in).Decisions {
				if d.Treatment == policy.TreatPDF {
					fmt.Fprintf(out, "note: %s would get the message as an encrypted PDF; its password goes to the sender in a separate mail\n", d.Recipient)
				}
			}
			fmt.Fprintln(out, "(dry run: keys from the partner key directory; nothing was changed)")
			return nil
		},
	}
	f := explain.Flags()
	f.StringVar(&from, "from", "", "envelope sender")
	f.StringArrayVar(&to, "to", nil, "envelope recipient (repeat for several)")
	f.StringVar(&subject, "subject", "", "Subject: of the message")
	f.StringArrayVar(&headers, "header", nil, "a header \"Name: value\" (repeatable)")
	f.StringVar(&file, "file", "", "read headers from this message (.eml)")
	f.StringVar(&direction, "direction", "auto", "auto (outbound when --from is internal, as if authenticated), inbound or outbound")
	f.BoolVar(&tls, "tls", false, "the client used STARTTLS (for inbound require_tls rules)")
	cmd.AddCommand(explain)
	return cmd
}

func readHeaders(path string) ([]policy.Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mh, err := textproto.NewReader(bufio.NewReader(f)).ReadMIMEHeader()
	if err != nil && len(mh) == 0 {
		return nil, fmt.Errorf("%s: cannot read the message header: %v", path, err)
	}
	var hs []policy.Header
	for name, vs := range mh {
		for _, v := range vs {
			hs = append(hs, policy.Header{Name: name, Value: v})
		}
	}
	return hs, nil
}

// directoryKeys asks the partner key directory which keys each recipient
// has, with the key's description. Without a store yet (a first dry run),
// nobody has a key: the dry run must not create a CA.
func directoryKeys(ctx context.Context, cfg *config.Config, rcpts []string) (map[string]policy.KeyAvailability, error) {
	// (A PostgreSQL store is shared; it exists once any instance ran.)
	if db := cfg.SQLitePath(cfg.StateDir); db != "" {
		if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	quiet := newLogger(&config.Config{Log: config.LogConfig{Level: "error", Format: cfg.Log.Format}})
	mgr, err := openCerts(ctx, cfg, quiet, nil)
	if err != nil {
		return nil, err
	}
	defer mgr.Close()
	dir := mgr.Directory()
	keys := map[string]policy.KeyAvailability{}
	for _, r := range rcpts {
		addr := strings.Trim(strings.TrimSpace(r), "<>")
		var k policy.KeyAvailability
		if _, rec, err := dir.SMIMECertificate(ctx, addr); err == nil {
			k.SMIME = true
			k.SMIMEKey = fmt.Sprintf("SHA-256 %s (%s, %s, valid until %s)", rec.Fingerprint, rec.Provenance, rec.Trust, rec.NotAfter.UTC().Format("2006-01-02"))
		} else if !errors.Is(err, certs.ErrNotFound) {
			return nil, fmt.Errorf("key directory: %s: %w", addr, err)
		}
		if _, rec, err := dir.PGPKey(ctx, addr); err == nil {
			k.PGP = true
			k.PGPKeyID = fmt.Sprintf("%s (%s, %s)", rec.Fingerprint, rec.Provenance, rec.Trust)
		} else if !errors.Is(err, certs.ErrNotFound) {
			return nil, fmt.Errorf("key directory: %s: %w", addr, err)
		}
		keys[policy.KeyOf(r)] = k
	}
	return keys, nil
}
