package policy

import (
	"net/netip"
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	settings := &Settings{
		InternalDomains: []string{"corp.example"},
		TrustedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("10.0.0.0/8")},
		Sign:            SignAlways,
	}
	trusted := netip.MustParseAddr("127.0.0.2")
	outside := netip.MustParseAddr("198.51.100.7")
	cases := []struct {
		name      string
		settings  *Settings
		facts     Facts
		direction Direction
		sign      bool
		reason    string
	}{
		{"trusted network, matching From", nil,
			Facts{ClientAddr: trusted, EnvelopeFrom: "alice@corp.example", FromHeaders: []string{"Alice <alice@corp.example>"}},
			Outbound, true, "authorised internal sender"},
		{"subdomain is internal", nil,
			Facts{ClientAddr: trusted, EnvelopeFrom: "a@eu.corp.example", FromHeaders: []string{"a@eu.corp.example"}},
			Outbound, true, "authorised internal sender"},
		{"case differs", nil,
			Facts{ClientAddr: trusted, EnvelopeFrom: "Alice@Corp.Example", FromHeaders: []string{"alice@corp.example"}},
			Outbound, true, "authorised internal sender"},
		{"IPv4-mapped trusted address", nil,
			Facts{ClientAddr: netip.MustParseAddr("::ffff:10.1.2.3"), EnvelopeFrom: "alice@corp.example", FromHeaders: []string{"alice@corp.example"}},
			Outbound, true, "authorised internal sender"},
		{"authenticated as the sender from outside", nil,
			Facts{ClientAddr: outside, AuthUser: "alice@corp.example", EnvelopeFrom: "alice@corp.example", FromHeaders: []string{"=?utf-8?q?Al=C3=AFce?= <alice@corp.example>"}},
			Outbound, true, "authorised internal sender"},
		{"authenticated as someone else, even from a trusted network", nil,
			Facts{ClientAddr: trusted, AuthUser: "bob@corp.example", EnvelopeFrom: "alice@corp.example", FromHeaders: []string{"alice@corp.example"}},
			Inbound, false, "client authenticated as bob@corp.example, not as the envelope sender"},
		{"outside client forging an internal sender", nil,
			Facts{ClientAddr: outside, EnvelopeFrom: "ceo@corp.example", FromHeaders: []string{"ceo@corp.example"}},
			Inbound, false, "client neither authenticated nor in trusted_networks"},
		{"no client address (local submission)", nil,
			Facts{EnvelopeFrom: "alice@corp.example", FromHeaders: []string{"alice@corp.example"}},
			Inbound, false, "client neither authenticated nor in trusted_networks"},
		{"From differs from envelope", nil,
			Facts{ClientAddr: trusted, EnvelopeFrom: "alice@corp.example", FromHeaders: []string{"CEO <ceo@corp.example>"}},
			Inbound, false, "From: header does not match the envelope sender"},
		{"two From headers", nil,
			Facts{ClientAddr: trusted, EnvelopeFrom: "alice@corp.example", FromHeaders: []string{"alice@corp.example", "ceo@corp.example"}},
			Inbound, false, "message must have exactly one From: header"},
		{"From with two mailboxes", nil,
			Facts{ClientAddr: trusted, EnvelopeFrom: "alice@corp.example", FromHeaders: []string{"alice@corp.example, ceo@corp.example"}},
			Inbound, false, "From: header does not match the envelope sender"},
		{"no From header", nil,
			Facts{ClientAddr: trusted, EnvelopeFrom: "alice@corp.example"},
			Inbound, false, "message must have exactly one From: header"},
		{"unparsable From", nil,
			Facts{ClientAddr: trusted, EnvelopeFrom: "alice@corp.example", FromHeaders: []string{"<<<"}},
			Inbound, false, "From: header does not match the envelope sender"},
		{"outside sender", nil,
			Facts{ClientAddr: trusted, EnvelopeFrom: "x@partner.example", FromHeaders: []string{"x@partner.example"}},
			Inbound, false, "sender is not in internal_domains"},
		{"look-alike domain", nil,
			Facts{ClientAddr: trusted, EnvelopeFrom: "x@evilcorp.example", FromHeaders: []string{"x@evilcorp.example"}},
			Inbound, false, "sender is not in internal_domains"},
		{"null sender", nil,
			Facts{ClientAddr: trusted, FromHeaders: []string{"MAILER-DAEMON@corp.example"}},
			Inbound, false, "null sender (bounce)"},
		{"already signed", nil,
			Facts{ClientAddr: trusted, EnvelopeFrom: "alice@corp.example", FromHeaders: []string{"alice@corp.example"}, AlreadyProtected: true},
			Outbound, false, "already signed or encrypted"},
		{"KELVIN SIGN look-alike of an authenticated sender", nil,
			Facts{ClientAddr: outside, AuthUser: "kate@corp.example", EnvelopeFrom: "\u212Aate@corp.example", FromHeaders: []string{"\u212Aate@corp.example"}},
			Inbound, false, "sender address is not ASCII (certificates name ASCII addresses only)"},
		{"KELVIN SIGN look-alike from a trusted network", nil,
			Facts{ClientAddr: trusted, EnvelopeFrom: "\u212Aate@corp.example", FromHeaders: []string{"\u212Aate@corp.example"}},
			Inbound, false, "sender address is not ASCII (certificates name ASCII addresses only)"},
		{"KELVIN SIGN look-alike as AUTH login", nil,
			Facts{ClientAddr: outside, AuthUser: "\u212Aate@corp.example", EnvelopeFrom: "kate@corp.example", FromHeaders: []string{"kate@corp.example"}},
			Inbound, false, "client authenticated as \u212aate@corp.example, not as the envelope sender"},
		{"KELVIN SIGN look-alike in From:", nil,
			Facts{ClientAddr: trusted, EnvelopeFrom: "kate@corp.example", FromHeaders: []string{"\u212Aate@corp.example"}},
			Inbound, false, "From: header does not match the envelope sender"},
		{"KELVIN SIGN in the domain", &Settings{InternalDomains: []string{"kcorp.example"}, TrustedNetworks: settings.TrustedNetworks, Sign: SignAlways},
			Facts{ClientAddr: trusted, EnvelopeFrom: "a@\u212Acorp.example", FromHeaders: []string{"a@\u212Acorp.example"}},
			Inbound, false, "sender is not in internal_domains"},
		{"sign never", &Settings{InternalDomains: []string{"corp.example"}, TrustedNetworks: settings.TrustedNetworks, Sign: SignNever},
			Facts{ClientAddr: trusted, EnvelopeFrom: "alice@corp.example", FromHeaders: []string{"alice@corp.example"}},
			Outbound, false, "policy.sign is never"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := settings
			if tc.settings != nil {
				s = tc.settings
			}
			p := Decide(s, tc.facts)
			if p.Direction != tc.direction || p.Sign != tc.sign || p.Reason != tc.reason {
				t.Fatalf("Decide = %+v, want direction %v sign %v reason %q", p, tc.direction, tc.sign, tc.reason)
			}
			wantUnauthorised := strings.HasPrefix(tc.reason, "client ") || strings.HasPrefix(tc.reason, "sender address is not ASCII")
			if p.Unauthorised != wantUnauthorised || (p.Label() == DirectionUnauthorised) != wantUnauthorised {
				t.Errorf("Unauthorised = %v (label %s), want %v", p.Unauthorised, p.Label(), wantUnauthorised)
			}
			if p.Sign && p.Signer == "" {
				t.Fatal("signing plan without signer")
			}
		})
	}
}

func FuzzDecide(f *testing.F) {
	s := &Settings{InternalDomains: []string{"corp.example"}, TrustedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Sign: SignAlways}
	f.Add("alice@corp.example", "Alice <alice@corp.example>", "")
	f.Add("a@corp.example", "=?x-unknown?b?AAAA?= <a@corp.example>", "a@corp.example")
	f.Fuzz(func(t *testing.T, sender, from, auth string) {
		p := Decide(s, Facts{ClientAddr: netip.MustParseAddr("127.0.0.1"), AuthUser: auth, EnvelopeFrom: sender, FromHeaders: []string{from}})
		if p.Sign && !s.IsInternal(p.Signer) {
			t.Fatalf("signing for non-internal %q", p.Signer)
		}
	})
}
