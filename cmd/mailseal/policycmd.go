package main

import (
	"bufio"
	"fmt"
	"net/textproto"
	"os"
	"strings"

	"github.com/spf13/cobra"

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
			for _, r := range to {
				if rej := settings.Engine.RecipientPrecheck(dir, from, r, policy.KeyAvailability{}); rej != nil {
					fmt.Fprintf(out, "at RCPT: %s refused: %d %s %s\n", r, rej.Code, rej.Enhanced, rej.Text)
				}
			}
			in := policy.Input{
				Direction: dir, Sender: from, Recipients: rcpts, Subject: subj, Headers: hs,
				ClientTLS: tls, SignerAvailable: dir == policy.Outbound,
			}
			fmt.Fprint(out, settings.Engine.Explain(in))
			for _, d := range settings.Engine.Evaluate(in).Decisions {
				if d.Treatment.Protects() {
					fmt.Fprintf(out, "note: this version cannot encrypt yet (%s): the message to %s would be refused with 550 5.7.1\n", d.Treatment, d.Recipient)
				}
			}
			fmt.Fprintln(out, "(dry run: no recipient keys are known to this version's directory; nothing was changed)")
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
