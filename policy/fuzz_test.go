package policy

import (
	"strings"
	"testing"
)

func FuzzEvaluate(f *testing.F) {
	s := DefaultSpec()
	s.Confidential.Headers = []string{"X-Classification: secret", "X-Confidential"}
	s.Rules = []RuleSpec{
		{Name: "p", Recipients: []string{"*@partner.example", "*.sub.example"}, Encrypt: "required", Methods: []string{"smime", "pgp"}, Fallback: "reject", RequireTLS: true},
		{Name: "g", Senders: []string{"a*b@corp.example"}, Recipients: []string{"*"}, Sign: "confidential", Encrypt: "confidential"},
		{Name: "in", Direction: "inbound", Senders: []string{"*@bank.example"}, RequireTLS: true},
	}
	e := mustCompile(f, s)
	f.Add("[secure] hi", "Sensitivity", "Private", "alice@corp.example", "bob@partner.example", "carol@x.sub.example", true)
	f.Add("=?utf-8?q?=5BVertraulich=5D?=", "X-Classification", "=?x?b?AAAA?=", "<>", "<BOB@partner.example>", "@", false)
	f.Add("\u212a[SECURE]\u212a", "X-Confidential", "", "", "x@bank.example", "[partner.example]:25", false)
	f.Fuzz(func(t *testing.T, subject, hname, hvalue, sender, r1, r2 string, bcc bool) {
		for _, dir := range []Direction{Inbound, Outbound} {
			in := Input{Direction: dir, Sender: sender, Subject: subject, Headers: []Header{{hname, hvalue}},
				Recipients:      []Recipient{{Address: r1}, {Address: r2, Bcc: bcc}, {Address: r1, Bcc: !bcc}},
				Keys:            map[string]KeyAvailability{normAddress(r1): {SMIME: true}},
				SignerAvailable: true}
			ev := e.Evaluate(in)
			if len(ev.Decisions) != 3 {
				t.Fatalf("decisions %d", len(ev.Decisions))
			}
			grouped := 0
			for _, g := range ev.Groups {
				grouped += len(g.Recipients)
				if g.Bcc && len(g.Recipients) != 1 {
					t.Fatalf("bcc group with %d recipients", len(g.Recipients))
				}
			}
			if grouped+len(ev.Rejections) != 3 {
				t.Fatalf("%d grouped + %d rejected != 3", grouped, len(ev.Rejections))
			}
			for _, d := range ev.Decisions {
				if ev.Confidential && dir == Outbound && d.Treatment != TreatReject && !d.Treatment.Protects() {
					t.Fatalf("confidential mail unprotected for %q: %+v", d.Recipient, d)
				}
			}
			if ev.SubjectChanged {
				for _, tag := range e.tags {
					if a, _ := indexFold(ev.CleanSubject, tag); a >= 0 {
						t.Fatalf("tag %q left in %q", tag, ev.CleanSubject)
					}
				}
			}
			if !strings.Contains(e.Explain(in), "mail from") {
				t.Fatal("explain")
			}
			e.RecipientPrecheck(dir, sender, r2, KeyAvailability{})
			e.TLSPolicy(r2)
		}
	})
}
