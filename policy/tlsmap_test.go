package policy

import "testing"

func TestTLSPolicy(t *testing.T) {
	s := DefaultSpec()
	s.Rules = []RuleSpec{
		{Name: "no-tls", Recipients: []string{"*@plain.example"}},
		{Name: "inbound", Direction: "inbound", Senders: []string{"*@bank.example"}, Recipients: []string{"*@bank.example"}, RequireTLS: true},
		{Name: "partner", Direction: "outbound", Recipients: []string{"*@partner.example", "bob@single.example"}, RequireTLS: true},
		{Name: "verify", Recipients: []string{"*@*.verify.example", "verify.example"}, RequireTLS: true, TLSCAFile: "/etc/mailseal/verify-ca.pem"},
		{Name: "subs", Direction: "outbound", Recipients: []string{"*.subs.example"}, RequireTLS: true},
		{Name: "senders-too", Direction: "outbound", Senders: []string{"ceo@corp.example"}, Recipients: []string{"*@board.example"}, RequireTLS: true},
		{Name: "later", Direction: "outbound", Recipients: []string{"partner.example"}, RequireTLS: true, TLSCAFile: "/etc/other.pem"},
		{Name: "glob-local", Direction: "outbound", Recipients: []string{"*@glob.example", "x*@globonly.example"}, RequireTLS: true},
	}
	e := mustCompile(t, s)
	cases := []struct {
		key, value string
		ok         bool
	}{
		{"partner.example", "encrypt", true},
		{"PARTNER.Example", "encrypt", true},
		{"partner.example.", "encrypt", true},
		{"[partner.example]", "encrypt", true},
		{"[partner.example]:25", "encrypt", true},
		{"partner.example:587", "encrypt", true},
		{"mx.partner.example", "", false},
		{"[mx.partner.example]:25", "encrypt", true},
		{"[MX.Partner.Example.]", "encrypt", true},
		{"[a.b.partner.example]:2525", "encrypt", true},
		{"[mx.evilpartner.example]:25", "", false},
		{"[partner.example.evil]:25", "", false},
		{"[mx.single.example]:25", "", false},
		{"[mx.subs.example]:25", "encrypt", true},
		{"[subs.example]:25", "", false},
		{"[mx.board.example]:25", "encrypt", true},
		{"[smarthost.isp.example]:587", "", false},
		{"[.partner.example]:25", "", false},
		{".partner.example", "", false},
		{"evilpartner.example", "", false},
		{"partner.example.evil", "", false},
		{"single.example", "", false},
		{"plain.example", "", false},
		{"bank.example", "", false},
		{"verify.example", "verify tafile=/etc/mailseal/verify-ca.pem", true},
		{"mx.verify.example", "verify tafile=/etc/mailseal/verify-ca.pem", true},
		{".verify.example", "verify tafile=/etc/mailseal/verify-ca.pem", true},
		{"[mx.verify.example]:2525", "verify tafile=/etc/mailseal/verify-ca.pem", true},
		{".example", "", false},
		{"subs.example", "", false},
		{"a.b.subs.example", "encrypt", true},
		{".subs.example", "encrypt", true},
		{".b.subs.example", "", false},
		{"board.example", "encrypt", true},
		{"glob.example", "encrypt", true},
		{"globonly.example", "", false},
		{"", "", false},
		{".", "", false},
		{"[", "", false},
		{"[]:25", "", false},
		{"[ipv6:2001:db8::1]:25", "", false},
	}
	for _, tc := range cases {
		v, ok := e.TLSPolicy(tc.key)
		if v != tc.value || ok != tc.ok {
			t.Errorf("TLSPolicy(%q) = %q, %v; want %q, %v", tc.key, v, ok, tc.value, tc.ok)
		}
	}

	everywhere := DefaultSpec()
	everywhere.Rules = []RuleSpec{{Name: "all", Direction: "outbound", Recipients: []string{"*"}, RequireTLS: true}}
	e = mustCompile(t, everywhere)
	for _, key := range []string{"a.example", "[192.0.2.1]:25"} {
		if v, ok := e.TLSPolicy(key); v != "encrypt" || !ok {
			t.Errorf("require everywhere: TLSPolicy(%q) = %q, %v", key, v, ok)
		}
	}
}
