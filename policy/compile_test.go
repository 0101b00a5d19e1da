package policy

import (
	"reflect"
	"strings"
	"testing"
)

func TestCompileDefaults(t *testing.T) {
	for name, s := range map[string]Spec{"DefaultSpec": DefaultSpec(), "zero Spec": {Confidential: ConfidentialSpec{Sensitivity: true}}} {
		e, ps := Compile(s)
		if len(ps) > 0 {
			t.Fatalf("%s: problems %v", name, ps)
		}
		want := settings{sign: SignAlways, encrypt: EncryptOpportunistic, methods: []Method{MethodSMIME, MethodPGP, MethodPDF}, fallback: FallbackPDF, smime: defSMIME}
		if !reflect.DeepEqual(e.global, want) {
			t.Errorf("%s: global = %+v, want %+v", name, e.global, want)
		}
		if !reflect.DeepEqual(e.tags, defaultSubjectTags) || !e.sensitivity {
			t.Errorf("%s: tags %v sensitivity %v", name, e.tags, e.sensitivity)
		}
	}
}

func TestCompileRuleInheritance(t *testing.T) {
	s := DefaultSpec()
	s.Sign, s.Encrypt = "never", "confidential"
	s.Rules = []RuleSpec{
		{Name: "a", Recipients: []string{"*@a.example"}},
		{Name: "b", Recipients: []string{"*@b.example"}, Sign: "always", Encrypt: "required", Methods: []string{"pgp", "smime"}, Fallback: "reject"},
	}
	e, ps := Compile(s)
	if ps != nil {
		t.Fatal(ps)
	}
	if got := e.rules[0].s; !reflect.DeepEqual(got, e.global) {
		t.Errorf("rule a = %+v, want global %+v", got, e.global)
	}
	want := settings{sign: SignAlways, encrypt: EncryptRequired, methods: []Method{MethodPGP, MethodSMIME}, fallback: FallbackReject, smime: defSMIME}
	if got := e.rules[1].s; !reflect.DeepEqual(got, want) {
		t.Errorf("rule b = %+v, want %+v", got, want)
	}
}

func TestCompileProblems(t *testing.T) {
	rcpt := []string{"*@partner.example"}
	cases := []struct {
		name string
		edit func(*Spec)
		want []string // "key: message" prefixes, in order
	}{
		{"global sign", func(s *Spec) { s.Sign = "sometimes" }, []string{`policy.sign: "sometimes" is not one of always, confidential, never`}},
		{"global encrypt", func(s *Spec) { s.Encrypt = "maybe" }, []string{`policy.encrypt: "maybe" is not one of required, opportunistic, confidential, never`}},
		{"global methods", func(s *Spec) { s.Methods = []string{"smime", "gpg", "smime"} }, []string{
			`policy.methods[1]: "gpg" is not one of smime, pgp, pdf`,
			`policy.methods[2]: "smime" is listed twice`}},
		{"global fallback", func(s *Spec) { s.Fallback = "bounce" }, []string{`policy.fallback: "bounce" is not one of pdf, reject`}},
		{"global reject with pdf method", func(s *Spec) { s.Fallback = "reject" }, []string{`policy.fallback: reject never applies while methods include pdf`}},
		{"subject tag empty", func(s *Spec) { s.Confidential.SubjectTags = []string{"[ok]", " ", "a\x00b"} }, []string{
			`policy.confidential.subject_tags[1]: must not be empty`,
			`policy.confidential.subject_tags[2]: "a\x00b" contains control characters`}},
		{"marker headers", func(s *Spec) { s.Confidential.Headers = []string{"X-Ok", "X Bad: 1", ": v", "X-C: a\x01"} }, []string{
			`policy.confidential.headers[1]: "X Bad: 1" is not "Header-Name" or "Header-Name: value"`,
			`policy.confidential.headers[2]: ": v" is not`,
			`policy.confidential.headers[3]: "X-C: a\x01" contains control characters`}},
		{"rule name missing and duplicate", func(s *Spec) {
			s.Rules = []RuleSpec{{Recipients: rcpt}, {Name: "x", Recipients: rcpt}, {Name: "x", Recipients: rcpt}, {Name: " y", Recipients: rcpt}}
		}, []string{
			`policy.rules[0].name: is required`,
			`policy.rules[2].name: duplicate rule name "x" (also policy.rules[1])`,
			`policy.rules[3].name: " y" must not have surrounding spaces`}},
		{"rule direction", func(s *Spec) { s.Rules = []RuleSpec{{Name: "d", Direction: "sideways", Recipients: rcpt}} },
			[]string{`policy.rules[0].direction: "sideways" is not one of inbound, outbound (or empty for both)`}},
		{"rule without senders or recipients", func(s *Spec) { s.Rules = []RuleSpec{{Name: "n", Encrypt: "required"}} },
			[]string{`policy.rules[0]: a rule needs senders or recipients`}},
		{"rule patterns", func(s *Spec) {
			s.Rules = []RuleSpec{{Name: "p", Senders: []string{"", "@x.example", "a@b@"}, Recipients: []string{"x@*.*.example", "a b@x.example", "<a@x.example>", "x@a..example", "x@pa*rtner.example"}}}
		}, []string{
			`policy.rules[0].senders[0]: empty pattern`,
			`policy.rules[0].senders[1]: "@x.example" has an empty local part`,
			`policy.rules[0].senders[2]: "a@b@": empty domain`,
			`policy.rules[0].recipients[0]: "x@*.*.example": '*' is allowed only`,
			`policy.rules[0].recipients[1]: "a b@x.example" must be a bare address`,
			`policy.rules[0].recipients[2]: "<a@x.example>" must be a bare address`,
			`policy.rules[0].recipients[3]: "x@a..example": domain has an empty label`,
			`policy.rules[0].recipients[4]: "x@pa*rtner.example": '*' is allowed only`}},
		{"rule sign encrypt methods fallback values", func(s *Spec) {
			s.Rules = []RuleSpec{{Name: "v", Recipients: rcpt, Sign: "often", Encrypt: "sometimes", Methods: []string{"rot13"}, Fallback: "drop"}}
		}, []string{
			`policy.rules[0].sign: "often" is not one of always, confidential, never`,
			`policy.rules[0].encrypt: "sometimes" is not one of required, opportunistic, confidential, never`,
			`policy.rules[0].methods[0]: "rot13" is not one of smime, pgp, pdf`,
			`policy.rules[0].fallback: "drop" is not one of pdf, reject`}},
		{"rule reject with explicit pdf", func(s *Spec) {
			s.Rules = []RuleSpec{{Name: "r", Recipients: rcpt, Fallback: "reject", Methods: []string{"smime", "pdf"}}}
		},
			[]string{`policy.rules[0].fallback: reject never applies while methods include pdf`}},
		{"rule methods with pdf under global reject", func(s *Spec) {
			s.Methods, s.Fallback = []string{"smime"}, "reject"
			s.Rules = []RuleSpec{{Name: "r", Recipients: rcpt, Methods: []string{"pdf"}}}
		}, []string{`policy.rules[0].fallback: reject never applies`}},
		{"outbound fields on inbound rule", func(s *Spec) {
			s.Rules = []RuleSpec{{Name: "i", Direction: "inbound", Senders: rcpt, Sign: "always", Encrypt: "required", Methods: []string{"pgp"}, Fallback: "pdf"}}
		}, []string{
			`policy.rules[0].sign: applies to outbound mail only`,
			`policy.rules[0].encrypt: applies to outbound mail only`,
			`policy.rules[0].methods: applies to outbound mail only`,
			`policy.rules[0].fallback: applies to outbound mail only`}},
		{"tls_ca_file without require_tls", func(s *Spec) { s.Rules = []RuleSpec{{Name: "t", Recipients: rcpt, TLSCAFile: "/etc/ca.pem"}} },
			[]string{`policy.rules[0].tls_ca_file: needs require_tls: true`}},
		{"tls_ca_file inbound", func(s *Spec) {
			s.Rules = []RuleSpec{{Name: "t", Direction: "inbound", Senders: rcpt, RequireTLS: true, TLSCAFile: "/etc/ca.pem"}}
		}, []string{`policy.rules[0].tls_ca_file: applies to outbound mail only`}},
		{"tls_ca_file relative or spaced", func(s *Spec) {
			s.Rules = []RuleSpec{
				{Name: "t1", Recipients: rcpt, RequireTLS: true, TLSCAFile: "ca.pem"},
				{Name: "t2", Recipients: rcpt, RequireTLS: true, TLSCAFile: "/etc/my ca.pem"}}
		}, []string{
			`policy.rules[0].tls_ca_file: "ca.pem" must be an absolute path`,
			`policy.rules[1].tls_ca_file: "/etc/my ca.pem" must be an absolute path`}},
		{"outbound require_tls for single addresses", func(s *Spec) {
			s.Rules = []RuleSpec{{Name: "o", Direction: "outbound", Recipients: []string{"bob@partner.example"}, RequireTLS: true},
				{Name: "o2", Direction: "outbound", Senders: []string{"*@corp.example"}, RequireTLS: true}}
		}, []string{
			`policy.rules[0].require_tls: an outbound rule can require TLS only for whole domains`,
			`policy.rules[1].require_tls: an outbound rule can require TLS only for whole domains`}},
		{"require_signature", func(s *Spec) {
			s.Rules = []RuleSpec{{Name: "s1", Senders: rcpt, RequireSignature: "bounce"}, {Name: "s2", Direction: "outbound", Recipients: rcpt, RequireSignature: "tag"}}
		}, []string{
			`policy.rules[0].require_signature: "bounce" is not one of reject, tag (or empty)`,
			`policy.rules[1].require_signature: applies to inbound mail only`}},
		{"valid combinations", func(s *Spec) {
			s.Methods, s.Fallback = []string{"smime", "pgp"}, "reject"
			s.Confidential.Headers = []string{"X-Confidential", "X-Classification: secret"}
			s.Rules = []RuleSpec{
				{Name: "in-tls", Senders: []string{"*@bank.example"}, RequireTLS: true, RequireSignature: "reject"},
				{Name: "out-tls", Direction: "outbound", Recipients: []string{"*@*.partner.example", "partner.example"}, RequireTLS: true, TLSCAFile: "/etc/partner-ca.pem", Encrypt: "required"},
				{Name: "pdf", Recipients: []string{"*"}, Methods: []string{"pdf"}, Fallback: "pdf"},
			}
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := DefaultSpec()
			tc.edit(&s)
			e, ps := Compile(s)
			if len(ps) != len(tc.want) {
				t.Fatalf("problems = %v, want %d: %v", ps, len(tc.want), tc.want)
			}
			if (e == nil) != (len(ps) > 0) {
				t.Fatalf("engine %v with problems %v", e, ps)
			}
			for i, p := range ps {
				if !strings.HasPrefix(p.String(), tc.want[i]) {
					t.Errorf("problem %d = %q, want prefix %q", i, p.String(), tc.want[i])
				}
			}
		})
	}
}

func TestCompileSMIMEOptions(t *testing.T) {
	cases := []struct {
		name    string
		spec    func(*Spec)
		wantKey string // "" = valid
	}{
		{"defaults", func(*Spec) {}, ""},
		{"global gcm oaep", func(s *Spec) { s.SMIMECipher, s.SMIMEKeyTransport = "aes256-gcm", "rsa-oaep" }, ""},
		{"bad global cipher", func(s *Spec) { s.SMIMECipher = "des" }, "policy.smime_cipher"},
		{"bad global transport", func(s *Spec) { s.SMIMEKeyTransport = "oaep-sha1" }, "policy.smime_key_transport"},
		{"control in subject", func(s *Spec) { s.EncryptedSubject = "a\nb" }, "policy.encrypted_subject"},
		{"bad rule cipher", func(s *Spec) {
			s.Rules = []RuleSpec{{Name: "r", Recipients: []string{"*@p.example"}, SMIMECipher: "aes128"}}
		}, "policy.rules[0].smime_cipher"},
		{"inbound rule cipher", func(s *Spec) {
			s.Rules = []RuleSpec{{Name: "r", Direction: "inbound", Recipients: []string{"*@p.example"}, SMIMEKeyTransport: "rsa-oaep"}}
		}, "policy.rules[0].smime_key_transport"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := DefaultSpec()
			c.spec(&s)
			_, ps := Compile(s)
			if c.wantKey == "" {
				if ps != nil {
					t.Fatalf("unexpected problems: %v", ps)
				}
				return
			}
			if len(ps) != 1 || ps[0].Key != c.wantKey {
				t.Fatalf("problems %v, want one for %s", ps, c.wantKey)
			}
		})
	}
}

// Recipients whose rules ask for different S/MIME options get different
// copies; the options travel with the decision and the group.
func TestSMIMEOptionsSplitGroups(t *testing.T) {
	s := DefaultSpec()
	s.Rules = []RuleSpec{{Name: "gcm", Recipients: []string{"*@gcm.example"}, SMIMECipher: "aes256-gcm", SMIMEKeyTransport: "rsa-oaep"}}
	e := mustCompile(t, s)
	keys := map[string]KeyAvailability{"a@gcm.example": {SMIME: true}, "b@cbc.example": {SMIME: true}, "c@gcm.example": {SMIME: true}}
	ev := e.Evaluate(Input{Direction: Outbound, Sender: "x@corp.example", SignerAvailable: true, Keys: keys,
		Recipients: []Recipient{{Address: "a@gcm.example"}, {Address: "b@cbc.example"}, {Address: "c@gcm.example"}}})
	gcm := SMIMEOptions{Cipher: CipherAES256GCM, KeyTransport: KeyTransportOAEP}
	want := []Group{
		{Treatment: TreatEncryptSMIME, Sign: true, Recipients: []string{"a@gcm.example", "c@gcm.example"}, SMIME: gcm},
		{Treatment: TreatEncryptSMIME, Sign: true, Recipients: []string{"b@cbc.example"}, SMIME: SMIMEOptions{Cipher: CipherAuto, KeyTransport: KeyTransportPKCS1}},
	}
	if !reflect.DeepEqual(ev.Groups, want) {
		t.Fatalf("groups %+v\nwant %+v", ev.Groups, want)
	}
	if ev.Decisions[0].SMIME != gcm {
		t.Fatalf("decision options %+v", ev.Decisions[0].SMIME)
	}
}
