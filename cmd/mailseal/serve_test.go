package main

import (
	"strings"
	"testing"

	"github.com/mailseal/mailseal/config"
	"github.com/mailseal/mailseal/policy"
)

func TestProtectionDroppedOnReload(t *testing.T) {
	tlsRule := []policy.RuleSpec{{Name: "p", Recipients: []string{"*@p.example"}, RequireTLS: true}}
	full := &config.Config{InternalDomains: []string{"corp.example"}}
	full.Policy.Rules = tlsRule
	cases := []struct {
		name     string
		old, new *config.Config
		keys     []string
	}{
		{"unchanged", full, full, nil},
		{"emptied", full, &config.Config{}, []string{"internal_domains", "policy.rules"}},
		{"was empty already", &config.Config{}, &config.Config{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ws := protectionDropped(tc.old, tc.new)
			if len(ws) != len(tc.keys) {
				t.Fatalf("warnings %v, want keys %v", ws, tc.keys)
			}
			for i, w := range ws {
				if w.key != tc.keys[i] {
					t.Errorf("warning %d names %s, want %s", i, w.key, tc.keys[i])
				}
			}
		})
	}
}

func TestBypassFromPostconf(t *testing.T) {
	cases := []struct {
		name, out string
		want      []string
	}{
		{"direct", "relayhost =\ntransport_maps =\nsender_dependent_relayhost_maps =\ndefault_transport = smtp\n", nil},
		{"relayhost", "relayhost = [relay.corp.example]:25\ntransport_maps =\ndefault_transport = smtp\n", []string{"relayhost = [relay.corp.example]:25"}},
		{"transport", "relayhost =\ntransport_maps = hash:/etc/postfix/transport\n", []string{"transport_maps = hash:/etc/postfix/transport"}},
		{"sender relay", "sender_dependent_relayhost_maps = hash:/x\n", []string{"sender_dependent_relayhost_maps = hash:/x"}},
		{"default transport", "default_transport = smtp:[relay]\n", []string{"default_transport = smtp:[relay]"}},
		{"default transport without next hop", "default_transport = relay\n", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ws := bypassFromPostconf(tc.out, []string{"p"})
			if len(ws) != len(tc.want) {
				t.Fatalf("warnings %q, want %d", ws, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(ws[i], w) || !strings.Contains(ws[i], "(p) are NOT enforced") {
					t.Errorf("warning %q lacks %q", ws[i], w)
				}
			}
		})
	}
}
