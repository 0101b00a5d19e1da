package config

import (
	"strings"
	"testing"
)

func TestValidatePKCS11(t *testing.T) {
	ok := PKCS11Config{Module: "/m.so", TokenLabel: "t", Slot: -1, PINFile: "/pin", KeyLabel: "mailseal-ca"}
	cases := []struct {
		name string
		edit func(*PKCS11Config)
		back string
		want []string // "key: message part"; empty: only the build problem, if any
	}{
		{"not set", func(p *PKCS11Config) { *p = PKCS11Config{Slot: -1, KeyLabel: "mailseal-ca"} }, "builtin", nil},
		{"complete", func(*PKCS11Config) {}, "builtin", nil},
		{"slot instead of label", func(p *PKCS11Config) { p.TokenLabel, p.Slot = "", 0 }, "builtin", nil},
		{"other keys without module", func(p *PKCS11Config) { p.Module = "" }, "builtin", []string{"ca.pkcs11.module: must be set"}},
		{"no token", func(p *PKCS11Config) { p.TokenLabel = "" }, "builtin", []string{"ca.pkcs11.token_label: set ca.pkcs11.token_label or ca.pkcs11.slot"}},
		{"both token and slot", func(p *PKCS11Config) { p.Slot = 3 }, "builtin", []string{"ca.pkcs11.slot: set either"}},
		{"bad slot", func(p *PKCS11Config) { p.Slot = -5 }, "builtin", []string{"ca.pkcs11.slot: must be a slot number"}},
		{"no pin", func(p *PKCS11Config) { p.PINFile = "" }, "builtin", []string{"ca.pkcs11.pin_file: must name"}},
		{"no key name", func(p *PKCS11Config) { p.KeyLabel = "" }, "builtin", []string{"ca.pkcs11.key_label: set"}},
		{"key id hex", func(p *PKCS11Config) { p.KeyID = "zz" }, "builtin", []string{`ca.pkcs11.key_id: "zz" is not hex`}},
		{"external CA", func(*PKCS11Config) {}, "step", []string{"ca.pkcs11.module: only the built-in CA"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := ok
			tc.edit(&p)
			var got []string
			for _, pr := range validatePKCS11(p, tc.back) {
				s := pr.Key + ": " + pr.Message
				if strings.Contains(s, "built without PKCS#11 support") {
					if pkcs11Built || !p.Enabled() {
						t.Errorf("unexpected %q", s)
					}
					continue
				}
				got = append(got, s)
			}
			if p.Enabled() && !pkcs11Built {
				// The build problem must be there (checked above by its absence being an error otherwise).
				found := false
				for _, pr := range validatePKCS11(p, tc.back) {
					found = found || strings.Contains(pr.Message, "build with -tags pkcs11")
				}
				if !found {
					t.Error("a static build accepts ca.pkcs11.module")
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("problems %q, want %q", got, tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("problem %q, want prefix %q", got[i], w)
				}
			}
		})
	}
}
