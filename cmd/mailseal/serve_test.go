package main

import (
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
