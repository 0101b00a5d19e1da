package policy

import (
	"fmt"
	"strings"
)

// Explain evaluates in and describes the outcome for an admin, one line per
// fact and per recipient, e.g.
//
//	bob@partner.example: smime+sign (rule partner-x: encrypt required, S/MIME certificate known)
//
// The output depends only on the engine and in.
func (e *Engine) Explain(in Input) string {
	ev := e.Evaluate(in)
	var b strings.Builder
	sender := in.Sender
	if strings.TrimSpace(sender) == "" {
		sender = "<>"
	}
	fmt.Fprintf(&b, "%s mail from %s\n", in.Direction, sender)
	if ev.Confidential {
		fmt.Fprintf(&b, "confidential: yes (%s)\n", ev.ConfidentialBy)
	} else {
		b.WriteString("confidential: no\n")
	}
	if ev.SubjectChanged {
		fmt.Fprintf(&b, "subject becomes: %q\n", ev.CleanSubject)
	}
	if v := ev.RequireTLSInboundViolation; v != nil {
		fmt.Fprintf(&b, "message refused: %d %s %s (rule %s: require_tls)\n", v.Code, v.Enhanced, v.Text, v.Rule)
	}
	if ev.RequireSignature != "" {
		fmt.Fprintf(&b, "require_signature: %s\n", ev.RequireSignature)
	}
	for _, d := range ev.Decisions {
		label := d.Treatment.String()
		if d.Sign && d.Treatment != TreatSign {
			label += "+sign"
		}
		name := d.Recipient
		if d.Bcc {
			name += " (bcc)"
		}
		source := "defaults"
		if d.Rule != "" {
			source = "rule " + d.Rule
		}
		reason := d.Reason
		if d.RequireTLS {
			reason += "; TLS required to the next hop"
		}
		if d.Treatment == TreatEncryptSMIME {
			reason += "; " + d.SMIME.String()
			if k := in.Keys[KeyOf(d.Recipient)].SMIMEKey; k != "" {
				reason += "; certificate " + k
			}
		}
		if d.Treatment == TreatEncryptPGP {
			if k := in.Keys[KeyOf(d.Recipient)].PGPKeyID; k != "" {
				reason += "; key " + k
			}
		}
		fmt.Fprintf(&b, "%s: %s (%s: %s)\n", name, label, source, reason)
	}
	for _, r := range ev.Rejections {
		fmt.Fprintf(&b, "refused: %d %s %s\n", r.Code, r.Enhanced, r.Text)
	}
	for i, g := range ev.Groups {
		label := g.Treatment.String()
		if g.Sign && g.Treatment != TreatSign {
			label += "+sign"
		}
		where := "re-injected copy"
		if i == 0 {
			where = "kept in place"
		}
		if g.Bcc {
			where += ", bcc"
		}
		fmt.Fprintf(&b, "copy %d (%s, %s): %s\n", i+1, label, where, strings.Join(g.Recipients, ", "))
	}
	return b.String()
}
