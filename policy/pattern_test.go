package policy

import "testing"

func TestPatternMatch(t *testing.T) {
	cases := []struct {
		pattern, addr string
		want          bool
	}{
		{"alice@corp.example", "alice@corp.example", true},
		{"alice@corp.example", "ALICE@Corp.Example", true},
		{"Alice@CORP.example", "alice@corp.example", true},
		{"alice@corp.example", "alice2@corp.example", false},
		{"alice@corp.example", "alice@eu.corp.example", false},
		{"*@bank.example", "x@bank.example", true},
		{"*@bank.example", "x@bank.example.", true},
		{"*@bank.example", "x@eu.bank.example", false},
		{"*@bank.example", "x@evilbank.example", false},
		{"*@bank.example", "x@bank.example.evil", false},
		{"*@bank.example", "bank.example", false},
		{"*@bank.example", "@bank.example", false},
		{"*@bank.example", "", false},
		{"bank.example", "x@bank.example", true},
		{"bank.example", "x@a.bank.example", false},
		{"Bank.Example.", "x@BANK.example", true},
		{"*.partner.example", "x@a.partner.example", true},
		{"*.partner.example", "x@a.b.partner.example", true},
		{"*.partner.example", "x@partner.example", false},
		{"*.partner.example", "x@apartner.example", false},
		{"*.partner.example", "x@.partner.example", false},
		{"*@*.partner.example", "x@mx.partner.example", true},
		{"*@*.partner.example", "x@partner.example", false},
		{"*", "x@anything.example", true},
		{"*", "postmaster", false},
		{"*@*", "x@y", true},
		{"a*@corp.example", "alice@corp.example", true},
		{"a*@corp.example", "bob@corp.example", false},
		{"*-team@corp.example", "sales-team@corp.example", true},
		{"a*b*c@x.example", "aXXbYYbZc@x.example", true},
		{"a*b*c@x.example", "aXXbYYbZ@x.example", false},
		{"*", "\"odd@local\"@x.example", true},
		{"\"odd@local\"@x.example", "\"odd@local\"@x.example", true},
		// Only ASCII letters fold: KELVIN SIGN (U+212A) is not a 'k'.
		{"kate@partner.example", "\u212Aate@partner.example", false},
		{"\u212Aate@partner.example", "kate@partner.example", false},
		{"*@bank.example", "x@ban\u212A.example", false},
		{"*@ban\u212A.example", "x@bank.example", false},
		{"\u212Aate@partner.example", "\u212Aate@partner.example", true},
	}
	for _, tc := range cases {
		p, err := parsePattern(tc.pattern)
		if err != nil {
			t.Fatalf("parsePattern(%q): %v", tc.pattern, err)
		}
		if got := p.match(normAddress(tc.addr)); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.pattern, tc.addr, got, tc.want)
		}
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		glob, s string
		want    bool
	}{
		{"", "", true}, {"*", "", true}, {"", "a", false}, {"**", "abc", true},
		{"a*", "a", true}, {"*a", "ba", true}, {"*a", "ab", false}, {"a*a", "a", false},
	} {
		if got := globMatch(tc.glob, tc.s); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.glob, tc.s, got, tc.want)
		}
	}
}
