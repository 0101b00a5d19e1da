package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailseal/mailseal/certs/stepcatest"
)

// TestStepConfigCheck: ca.backend step needs its keys, and config check
// opens the files they name (without contacting the CA).
func TestStepConfigCheck(t *testing.T) {
	ca, err := stepcatest.New(t.TempDir(), stepcatest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wrongPW := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(wrongPW, []byte("not it\n"), 0o600)
	step := func(url, root, key, pw string) string {
		return fmt.Sprintf("internal_domains: [corp.example]\nca:\n  backend: step\n  step:\n    url: %q\n    root: %q\n    provisioner: mailseal\n    key_file: %q\n    password_file: %q\n", url, root, key, pw)
	}
	for _, tc := range []struct {
		name, config string
		code         int
		want         []string
	}{
		{"complete", step(ca.URL, ca.RootFile, ca.KeyFile, ca.PasswordFile), 0, []string{"config OK"}},
		{"plain key", step(ca.URL, ca.RootFile, ca.PlainKeyFile, ""), 0, []string{"config OK"}},
		{"unknown backend", "ca:\n  backend: vault\n", 2, []string{`ca.backend: "vault" is not a CA backend (builtin or step)`}},
		{"nothing set", "ca:\n  backend: step\n", 2, []string{"ca.step.url: is required", "ca.step.provisioner: is required", "ca.step.root: is required", "ca.step.key_file: is required"}},
		{"http URL", step("http://127.0.0.1:9000", ca.RootFile, ca.KeyFile, ca.PasswordFile), 2, []string{"ca.step.url", "is not https://HOST[:PORT]"}},
		{"missing root", step(ca.URL, "/nonexistent/root.pem", ca.KeyFile, ca.PasswordFile), 2, []string{"ca.step.root: cannot be read"}},
		{"root not PEM", step(ca.URL, ca.PasswordFile, ca.KeyFile, ca.PasswordFile), 2, []string{"ca.step.root", "holds no PEM certificate"}},
		{"wrong password", step(ca.URL, ca.RootFile, ca.KeyFile, wrongPW), 2, []string{"ca.step.password_file", "wrong password"}},
		{"no password", step(ca.URL, ca.RootFile, ca.KeyFile, ""), 2, []string{"ca.step.key_file", "a password is needed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, tc.config, "config", "check")
			if got := exitCode(err); got != tc.code {
				t.Fatalf("exit %d (%v), want %d\n%s", got, err, tc.code, out)
			}
			msg := out
			if err != nil {
				msg += err.Error()
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("output lacks %q:\n%s", w, msg)
				}
			}
		})
	}
}
