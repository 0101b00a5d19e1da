package policy

import (
	"reflect"
	"testing"
)

func mustCompile(t testing.TB, s Spec) *Engine {
	t.Helper()
	e, ps := Compile(s)
	if ps != nil {
		t.Fatalf("Compile: %v", ps)
	}
	return e
}

var (
	noKeys = KeyAvailability{}
	smime  = KeyAvailability{SMIME: true}
	pgp    = KeyAvailability{PGP: true}
	both   = KeyAvailability{SMIME: true, PGP: true}
)

// TestOutboundDecision covers every global setting and how rules override it.
func TestOutboundDecision(t *testing.T) {
	type want struct {
		t      Treatment
		sign   bool
		rule   string
		reason string
		rej    string // rejection text, "" for none
	}
	spec := func(edit func(*Spec)) Spec { s := DefaultSpec(); edit(&s); return s }
	cases := []struct {
		name    string
		spec    Spec
		subject string
		signer  bool
		keys    KeyAvailability
		rcpt    string
		want    want
	}{
		{"defaults, no key", DefaultSpec(), "hi", true, noKeys, "bob@x.example",
			want{TreatSign, true, "", "encrypt opportunistic, no certificate or key known", ""}},
		{"defaults, S/MIME", DefaultSpec(), "hi", true, smime, "bob@x.example",
			want{TreatEncryptSMIME, true, "", "encrypt opportunistic, S/MIME certificate known", ""}},
		{"defaults, both keys prefer smime", DefaultSpec(), "hi", true, both, "bob@x.example",
			want{TreatEncryptSMIME, true, "", "encrypt opportunistic, S/MIME certificate known", ""}},
		{"defaults, PGP", DefaultSpec(), "hi", true, pgp, "bob@x.example",
			want{TreatEncryptPGP, true, "", "encrypt opportunistic, PGP key known", ""}},
		{"no signer", DefaultSpec(), "hi", false, noKeys, "bob@x.example",
			want{TreatPlain, false, "", "encrypt opportunistic, no certificate or key known; unsigned: sender may not be signed for", ""}},
		{"no signer, encrypted", DefaultSpec(), "hi", false, smime, "bob@x.example",
			want{TreatEncryptSMIME, false, "", "encrypt opportunistic, S/MIME certificate known; unsigned: sender may not be signed for", ""}},
		{"methods order pgp first", spec(func(s *Spec) { s.Methods = []string{"pgp", "smime"} }), "hi", true, both, "bob@x.example",
			want{TreatEncryptPGP, true, "", "encrypt opportunistic, PGP key known", ""}},
		{"opportunistic ignores pdf", spec(func(s *Spec) { s.Methods = []string{"pdf"} }), "hi", true, smime, "bob@x.example",
			want{TreatSign, true, "", "encrypt opportunistic, no certificate or key known", ""}},
		{"sign never", spec(func(s *Spec) { s.Sign = "never" }), "hi", true, noKeys, "bob@x.example",
			want{TreatPlain, false, "", "encrypt opportunistic, no certificate or key known", ""}},
		{"sign confidential, not marked", spec(func(s *Spec) { s.Sign = "confidential" }), "hi", true, noKeys, "bob@x.example",
			want{TreatPlain, false, "", "encrypt opportunistic, no certificate or key known; unsigned: sign confidential, message not marked confidential", ""}},
		{"sign confidential, marked", spec(func(s *Spec) { s.Sign = "confidential" }), "[secure] hi", true, smime, "bob@x.example",
			want{TreatEncryptSMIME, true, "", "marked confidential (encrypt opportunistic), S/MIME certificate known", ""}},
		{"encrypt never", spec(func(s *Spec) { s.Encrypt = "never" }), "hi", true, smime, "bob@x.example",
			want{TreatSign, true, "", "encrypt never", ""}},
		{"encrypt never, but confidential", spec(func(s *Spec) { s.Encrypt = "never" }), "[secure] hi", true, smime, "bob@x.example",
			want{TreatEncryptSMIME, true, "", "marked confidential (encrypt never), S/MIME certificate known", ""}},
		{"encrypt confidential, not marked", spec(func(s *Spec) { s.Encrypt = "confidential" }), "hi", true, smime, "bob@x.example",
			want{TreatSign, true, "", "encrypt confidential, message not marked confidential", ""}},
		{"encrypt confidential, marked, no key: pdf", spec(func(s *Spec) { s.Encrypt = "confidential" }), "[secure] hi", true, noKeys, "bob@x.example",
			want{TreatPDF, true, "", "marked confidential (encrypt confidential), pdf (no certificate or key needed)", ""}},
		{"required, key", spec(func(s *Spec) { s.Encrypt = "required" }), "hi", true, pgp, "bob@x.example",
			want{TreatEncryptPGP, true, "", "encrypt required, PGP key known", ""}},
		{"required, no key, pdf method", spec(func(s *Spec) { s.Encrypt = "required" }), "hi", true, noKeys, "bob@x.example",
			want{TreatPDF, true, "", "encrypt required, pdf (no certificate or key needed)", ""}},
		{"required, pdf preferred", spec(func(s *Spec) { s.Encrypt = "required"; s.Methods = []string{"pdf", "smime"} }), "hi", true, smime, "bob@x.example",
			want{TreatPDF, true, "", "encrypt required, pdf preferred by methods", ""}},
		{"required, no key, fallback pdf", spec(func(s *Spec) { s.Encrypt = "required"; s.Methods = []string{"smime"} }), "hi", true, pgp, "bob@x.example",
			want{TreatPDF, true, "", "encrypt required, no certificate or key known, fallback pdf", ""}},
		{"required, no key, fallback reject", spec(func(s *Spec) { s.Encrypt = "required"; s.Methods = []string{"smime", "pgp"}; s.Fallback = "reject" }), "hi", true, noKeys, "Bob@Partner.example",
			want{TreatReject, false, "", "encrypt required, no certificate or key known, fallback reject",
				"<Bob@Partner.example> requires encryption, but no certificate or key is known for this address"}},
		{"required and confidential: policy text", spec(func(s *Spec) { s.Encrypt = "required"; s.Methods = []string{"smime"}; s.Fallback = "reject" }), "[secure] x", true, noKeys, "bob@partner.example",
			want{TreatReject, false, "", "encrypt required, no certificate or key known, fallback reject",
				"<bob@partner.example> requires encryption, but no certificate or key is known for this address"}},
		{"confidential, no key, reject", spec(func(s *Spec) { s.Methods = []string{"smime", "pgp"}; s.Fallback = "reject" }), "[vertraulich] x", true, noKeys, "bob@partner.example",
			want{TreatReject, false, "", "marked confidential (encrypt opportunistic), no certificate or key known, fallback reject",
				"<bob@partner.example>: this message is marked confidential, but no certificate or key is known for this address"}},
		{"opportunistic with reject fallback and no key is not rejected", spec(func(s *Spec) { s.Methods = []string{"smime", "pgp"}; s.Fallback = "reject" }), "hi", true, noKeys, "bob@partner.example",
			want{TreatSign, true, "", "encrypt opportunistic, no certificate or key known", ""}},
		{"keys looked up lower-cased", DefaultSpec(), "hi", true, smime, "<BOB@X.EXAMPLE>",
			want{TreatEncryptSMIME, true, "", "encrypt opportunistic, S/MIME certificate known", ""}},

		// Rules.
		{"rule overrides every field", spec(func(s *Spec) {
			s.Rules = []RuleSpec{{Name: "partner-x", Recipients: []string{"*@partner.example"}, Sign: "never", Encrypt: "required", Methods: []string{"pgp"}, Fallback: "reject"}}
		}), "hi", true, smime, "bob@partner.example",
			want{TreatReject, false, "partner-x", "encrypt required, no certificate or key known, fallback reject",
				"<bob@partner.example> requires encryption, but no certificate or key is known for this address"}},
		{"rule inherits", spec(func(s *Spec) {
			s.Encrypt = "required"
			s.Rules = []RuleSpec{{Name: "nosign", Recipients: []string{"*@partner.example"}, Sign: "never"}}
		}), "hi", true, smime, "bob@partner.example",
			want{TreatEncryptSMIME, false, "nosign", "encrypt required, S/MIME certificate known", ""}},
		{"rule for other domain does not match", spec(func(s *Spec) {
			s.Rules = []RuleSpec{{Name: "p", Recipients: []string{"*@partner.example"}, Encrypt: "never"}}
		}), "hi", true, smime, "bob@evilpartner.example",
			want{TreatEncryptSMIME, true, "", "encrypt opportunistic, S/MIME certificate known", ""}},
		{"first matching rule wins", spec(func(s *Spec) {
			s.Rules = []RuleSpec{
				{Name: "first", Recipients: []string{"partner.example"}, Encrypt: "never"},
				{Name: "second", Recipients: []string{"*@partner.example"}, Encrypt: "required"}}
		}), "hi", true, smime, "bob@partner.example",
			want{TreatSign, true, "first", "encrypt never", ""}},
		{"sender and recipient both needed", spec(func(s *Spec) {
			s.Rules = []RuleSpec{
				{Name: "ceo-partner", Senders: []string{"ceo@corp.example"}, Recipients: []string{"*@partner.example"}, Encrypt: "never"},
				{Name: "partner", Recipients: []string{"*@partner.example"}, Encrypt: "required"}}
		}), "hi", true, smime, "bob@partner.example",
			want{TreatEncryptSMIME, true, "partner", "encrypt required, S/MIME certificate known", ""}},
		{"sender-only rule", spec(func(s *Spec) {
			s.Rules = []RuleSpec{{Name: "alice", Senders: []string{"ALICE@corp.example"}, Encrypt: "never"}}
		}), "hi", true, smime, "bob@partner.example",
			want{TreatSign, true, "alice", "encrypt never", ""}},
		{"inbound-only rule ignored outbound", spec(func(s *Spec) {
			s.Rules = []RuleSpec{{Name: "in", Direction: "inbound", Recipients: []string{"*"}, RequireTLS: true}}
		}), "hi", true, noKeys, "bob@partner.example",
			want{TreatSign, true, "", "encrypt opportunistic, no certificate or key known", ""}},
		{"outbound rule applies outbound", spec(func(s *Spec) {
			s.Rules = []RuleSpec{{Name: "out", Direction: "outbound", Recipients: []string{"*.partner.example"}, Encrypt: "never"}}
		}), "hi", true, smime, "bob@mx.partner.example",
			want{TreatSign, true, "out", "encrypt never", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := mustCompile(t, tc.spec)
			in := Input{Direction: Outbound, Sender: "alice@corp.example", Subject: tc.subject, SignerAvailable: tc.signer,
				Recipients: []Recipient{{Address: tc.rcpt}}, Keys: map[string]KeyAvailability{normAddress(tc.rcpt): tc.keys}}
			ev := e.Evaluate(in)
			d := ev.Decisions[0]
			got := want{d.Treatment, d.Sign, d.Rule, d.Reason, ""}
			if len(ev.Rejections) > 0 {
				got.rej = ev.Rejections[0].Text
				r := ev.Rejections[0]
				if r.Code != 550 || r.Enhanced != "5.7.1" || r.Recipient != tc.rcpt || r.Rule != d.Rule {
					t.Errorf("rejection = %+v", r)
				}
			}
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
			if len(ev.Rejections) > 1 {
				t.Fatalf("rejections %v", ev.Rejections)
			}
			// RecipientPrecheck refuses exactly the content-independent rejections.
			pre := e.RecipientPrecheck(Outbound, in.Sender, tc.rcpt, tc.keys)
			contentFree := tc.want.rej != "" && tc.want.reason[:16] == "encrypt required"
			if (pre != nil) != contentFree {
				t.Fatalf("RecipientPrecheck = %+v, want refusal %v", pre, contentFree)
			}
			if pre != nil && (pre.Text != tc.want.rej || pre.Code != 550 || pre.Enhanced != "5.7.1" || pre.Rule != tc.want.rule) {
				t.Fatalf("RecipientPrecheck = %+v", pre)
			}
		})
	}
}

func TestRecipientPrecheckInbound(t *testing.T) {
	s := DefaultSpec()
	s.Encrypt, s.Methods, s.Fallback = "required", []string{"smime"}, "reject"
	e := mustCompile(t, s)
	if r := e.RecipientPrecheck(Inbound, "x@partner.example", "bob@corp.example", noKeys); r != nil {
		t.Fatalf("inbound precheck = %+v", r)
	}
	if r := e.RecipientPrecheck(Outbound, "a@corp.example", "bob@x.example", smime); r != nil {
		t.Fatalf("precheck with key = %+v", r)
	}
	if r := e.RecipientPrecheck(Outbound, "a@corp.example", "bob@x.example", pgp); r == nil {
		t.Fatal("precheck with only an unusable key did not refuse")
	}
}

var defSMIME = SMIMEOptions{Cipher: CipherAuto, KeyTransport: KeyTransportPKCS1}

func TestGroups(t *testing.T) {
	e := mustCompile(t, DefaultSpec())
	keys := map[string]KeyAvailability{"s1@x.example": smime, "s2@x.example": smime, "p@x.example": pgp, "b1@x.example": smime}
	cases := []struct {
		name  string
		dir   Direction
		rcpts []Recipient
		want  []Group
	}{
		{"one group", Outbound, []Recipient{{Address: "s1@x.example"}, {Address: "S2@x.example"}},
			[]Group{{TreatEncryptSMIME, true, []string{"s1@x.example", "S2@x.example"}, false, defSMIME}}},
		{"by treatment, stable order", Outbound, []Recipient{{Address: "n@x.example"}, {Address: "s1@x.example"}, {Address: "p@x.example"}, {Address: "s2@x.example"}, {Address: "m@x.example"}},
			[]Group{
				{TreatSign, true, []string{"n@x.example", "m@x.example"}, false, SMIMEOptions{}},
				{TreatEncryptSMIME, true, []string{"s1@x.example", "s2@x.example"}, false, defSMIME},
				{TreatEncryptPGP, true, []string{"p@x.example"}, false, SMIMEOptions{}}}},
		{"bcc first still not the first group", Outbound, []Recipient{{Address: "b1@x.example", Bcc: true}, {Address: "b2@x.example", Bcc: true}, {Address: "p@x.example"}, {Address: "s1@x.example"}, {Address: "n@x.example"}},
			[]Group{
				{TreatEncryptPGP, true, []string{"p@x.example"}, false, SMIMEOptions{}},
				{TreatEncryptSMIME, true, []string{"b1@x.example"}, true, defSMIME},
				{TreatSign, true, []string{"b2@x.example", "n@x.example"}, false, SMIMEOptions{}},
				{TreatEncryptSMIME, true, []string{"s1@x.example"}, false, defSMIME}}},
		{"same treatment bcc apart", Outbound, []Recipient{{Address: "s1@x.example"}, {Address: "b1@x.example", Bcc: true}, {Address: "s2@x.example"}},
			[]Group{
				{TreatEncryptSMIME, true, []string{"s1@x.example", "s2@x.example"}, false, defSMIME},
				{TreatEncryptSMIME, true, []string{"b1@x.example"}, true, defSMIME}}},
		// A signature names no recipient: a Bcc recipient whose copy is
		// only signed (or plain) shares it with the visible recipients.
		{"signed bcc shares the copy", Outbound, []Recipient{{Address: "n@x.example"}, {Address: "b2@x.example", Bcc: true}, {Address: "m@x.example"}},
			[]Group{{TreatSign, true, []string{"n@x.example", "b2@x.example", "m@x.example"}, false, SMIMEOptions{}}}},
		{"only bcc", Outbound, []Recipient{{Address: "b1@x.example", Bcc: true}, {Address: "n@x.example", Bcc: true}},
			[]Group{
				{TreatEncryptSMIME, true, []string{"b1@x.example"}, true, defSMIME},
				{TreatSign, true, []string{"n@x.example"}, false, SMIMEOptions{}}}},
		{"inbound keeps bcc together", Inbound, []Recipient{{Address: "a@corp.example", Bcc: true}, {Address: "b@corp.example"}},
			[]Group{{TreatPlain, false, []string{"a@corp.example", "b@corp.example"}, false, SMIMEOptions{}}}},
		{"no recipients", Outbound, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := e.Evaluate(Input{Direction: tc.dir, Sender: "a@corp.example", Recipients: tc.rcpts, Keys: keys, SignerAvailable: true})
			if !reflect.DeepEqual(ev.Groups, tc.want) {
				t.Fatalf("groups\n got %+v\nwant %+v", ev.Groups, tc.want)
			}
		})
	}
}

func TestRejectedRecipientsHaveNoGroup(t *testing.T) {
	s := DefaultSpec()
	s.Methods, s.Fallback = []string{"smime"}, "reject"
	e := mustCompile(t, s)
	ev := e.Evaluate(Input{Direction: Outbound, Subject: "[secure] x", SignerAvailable: true,
		Recipients: []Recipient{{Address: "a@x.example"}, {Address: "k@x.example"}, {Address: "c@x.example", Bcc: true}},
		Keys:       map[string]KeyAvailability{"k@x.example": smime}})
	want := []Rejection{
		{Recipient: "a@x.example", Code: 550, Enhanced: "5.7.1", Text: "<a@x.example>: this message is marked confidential, but no certificate or key is known for this address"},
		{Recipient: "c@x.example", Code: 550, Enhanced: "5.7.1", Text: "<c@x.example>: this message is marked confidential, but no certificate or key is known for this address"},
	}
	if !reflect.DeepEqual(ev.Rejections, want) {
		t.Fatalf("rejections %+v", ev.Rejections)
	}
	if !reflect.DeepEqual(ev.Groups, []Group{{TreatEncryptSMIME, true, []string{"k@x.example"}, false, defSMIME}}) {
		t.Fatalf("groups %+v", ev.Groups)
	}
	if !ev.Confidential || ev.ConfidentialBy != `subject tag "[secure]"` || ev.CleanSubject != "x" || !ev.SubjectChanged {
		t.Fatalf("confidential fields %+v", ev)
	}
	for _, d := range ev.Decisions {
		for _, g := range ev.Groups {
			for _, r := range g.Recipients {
				if d.Treatment == TreatReject && r == d.Recipient {
					t.Fatalf("rejected %s in a group", r)
				}
			}
		}
	}
}

func TestSubjectUnchanged(t *testing.T) {
	e := mustCompile(t, DefaultSpec())
	ev := e.Evaluate(Input{Direction: Outbound, Subject: "plain", Headers: []Header{{"Sensitivity", "Private"}}})
	if !ev.Confidential || ev.CleanSubject != "" || ev.SubjectChanged {
		t.Fatalf("%+v", ev)
	}
	ev = e.Evaluate(Input{Direction: Outbound, Subject: "[secure]"})
	if ev.CleanSubject != "" || !ev.SubjectChanged {
		t.Fatalf("subject that is only a tag: %+v", ev)
	}
}

func TestInbound(t *testing.T) {
	s := DefaultSpec()
	s.Encrypt, s.Methods, s.Fallback = "required", []string{"smime"}, "reject"
	s.Rules = []RuleSpec{
		{Name: "bank", Direction: "inbound", Senders: []string{"*@bank.example"}, RequireTLS: true, RequireSignature: "reject"},
		{Name: "partner", Senders: []string{"*@partner.example"}, Recipients: []string{"ceo@corp.example"}, RequireSignature: "tag"},
		{Name: "both-tls", Senders: []string{"*.tls.example"}, RequireTLS: true},
	}
	e := mustCompile(t, s)
	violation := &Rejection{Code: 550, Enhanced: "5.7.1", Text: "this sender's mail must arrive over TLS (STARTTLS); the connection was not encrypted", Rule: "bank"}
	cases := []struct {
		name      string
		sender    string
		tls       bool
		rcpts     []string
		violation *Rejection
		sig       string
		rules     []string
		reasons   []string
	}{
		{"bank without TLS", "x@BANK.example", false, []string{"a@corp.example", "b@corp.example"}, violation, "reject", []string{"bank", "bank"},
			[]string{"inbound: delivered as received; require_tls violated: the connection was not encrypted", "inbound: delivered as received; require_tls violated: the connection was not encrypted"}},
		{"bank with TLS", "x@bank.example", true, []string{"a@corp.example"}, nil, "reject", []string{"bank"},
			[]string{"inbound: delivered as received; require_tls met (client used STARTTLS)"}},
		{"look-alike bank", "x@bank.example.evil", false, []string{"a@corp.example"}, nil, "", []string{""},
			[]string{"inbound: delivered as received"}},
		{"per-recipient rule", "x@partner.example", false, []string{"a@corp.example", "ceo@corp.example"}, nil, "tag", []string{"", "partner"},
			[]string{"inbound: delivered as received", "inbound: delivered as received"}},
		{"direction-less rule applies inbound", "x@mx.tls.example", false, []string{"a@corp.example"},
			&Rejection{Code: 550, Enhanced: "5.7.1", Text: violation.Text, Rule: "both-tls"}, "", []string{"both-tls"},
			[]string{"inbound: delivered as received; require_tls violated: the connection was not encrypted"}},
		{"null sender", "", false, []string{"a@corp.example"}, nil, "", []string{""}, []string{"inbound: delivered as received"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Direction: Inbound, Sender: tc.sender, ClientTLS: tc.tls, Subject: "[secure] x", SignerAvailable: true}
			for _, r := range tc.rcpts {
				in.Recipients = append(in.Recipients, Recipient{Address: r})
			}
			ev := e.Evaluate(in)
			if !reflect.DeepEqual(ev.RequireTLSInboundViolation, tc.violation) {
				t.Fatalf("violation = %+v, want %+v", ev.RequireTLSInboundViolation, tc.violation)
			}
			if ev.RequireSignature != tc.sig || len(ev.Rejections) != 0 {
				t.Fatalf("require_signature %q rejections %v", ev.RequireSignature, ev.Rejections)
			}
			for i, d := range ev.Decisions {
				if d.Treatment != TreatPlain || d.Sign || d.Rule != tc.rules[i] || d.Reason != tc.reasons[i] {
					t.Fatalf("decision %d = %+v", i, d)
				}
			}
			if len(ev.Groups) != 1 || len(ev.Groups[0].Recipients) != len(tc.rcpts) {
				t.Fatalf("groups %+v", ev.Groups)
			}
		})
	}
}

func TestTreatmentString(t *testing.T) {
	want := map[Treatment]string{TreatPlain: "plain", TreatSign: "sign", TreatEncryptSMIME: "smime", TreatEncryptPGP: "pgp", TreatPDF: "pdf", TreatReject: "reject", 42: "Treatment(42)"}
	for tr, s := range want {
		if tr.String() != s {
			t.Errorf("%d.String() = %q, want %q", int(tr), tr.String(), s)
		}
	}
	if TreatSign.Protects() || !TreatPDF.Protects() || TreatReject.Protects() {
		t.Error("Protects")
	}
}

// "fallback: reject" without methods drops the default pdf, so the rule
// really refuses recipients without keys (at RCPT and at end of data).
func TestRejectFallbackDropsInheritedPDF(t *testing.T) {
	for _, spec := range []Spec{
		{Rules: []RuleSpec{{Name: "partner-x", Recipients: []string{"*@partner.example"}, Encrypt: "required", Fallback: "reject"}}},
		{Fallback: "reject", Rules: []RuleSpec{{Name: "partner-x", Recipients: []string{"*@partner.example"}, Encrypt: "required"}}},
	} {
		e := mustCompile(t, spec)
		rej := e.RecipientPrecheck(Outbound, "alice@corp.example", "bob@partner.example", KeyAvailability{})
		if rej == nil || rej.Rule != "partner-x" || rej.Text != "<bob@partner.example> requires encryption, but no certificate or key is known for this address" {
			t.Fatalf("precheck = %+v", rej)
		}
		ev := e.Evaluate(Input{Direction: Outbound, Sender: "alice@corp.example", Recipients: []Recipient{{Address: "bob@partner.example"}}, SignerAvailable: true})
		if len(ev.Rejections) != 1 || len(ev.Groups) != 0 {
			t.Fatalf("evaluation = %+v", ev)
		}
	}
}
