//go:build !pkcs11

package main

import (
	"strings"
	"testing"
)

// A static build (no pkcs11 tag) must refuse a configured token with exit
// 2, never run with a CA key in the store instead of the HSM.
func TestPKCS11NotBuiltExits2(t *testing.T) {
	const cfg = "internal_domains: [corp.example]\nca:\n  pkcs11:\n    module: /usr/lib/softhsm/libsofthsm2.so\n    token_label: t\n    pin_file: /nonexistent\n"
	for _, args := range [][]string{{"config", "check"}, {"serve"}, {"certs", "issue", "bob@corp.example"}} {
		out, err := run(t, cfg, args...)
		if got := exitCode(err); got != 2 {
			t.Fatalf("%v: exit %d (%v), want 2\n%s", args, got, err, out)
		}
		text := out
		if err != nil {
			text += err.Error()
		}
		if want := "ca.pkcs11.module: this mailseal was built without PKCS#11 support; build with -tags pkcs11"; !strings.Contains(text, want) {
			t.Errorf("%v: output lacks %q:\n%s", args, want, text)
		}
	}
}
