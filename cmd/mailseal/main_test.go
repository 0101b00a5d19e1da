package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run executes the CLI in-process with a private state dir.
func run(t *testing.T, config string, args ...string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("MAILSEAL_STATE_DIR", filepath.Join(dir, "state"))
	t.Setenv("MAILSEAL_ADMIN_LISTEN", "127.0.0.1:1")
	if config != "" {
		p := filepath.Join(dir, "mailseal.yaml")
		if err := os.WriteFile(p, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", p)
	}
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if err != nil {
		return 1
	}
	return 0
}

func TestCLI(t *testing.T) {
	const rules = "internal_domains: [corp.example]\npolicy:\n  rules:\n    - name: partner-x\n      recipients: [\"*@partner.example\"]\n      encrypt: required\n      fallback: reject\n"
	const tlsRule = "policy:\n  rules:\n    - name: p\n      recipients: [\"*@p.example\"]\n      require_tls: true\n"
	cases := []struct {
		name   string
		config string
		args   []string
		code   int
		want   []string
	}{
		{"config check ok", "internal_domains: [corp.example]\n", []string{"config", "check"}, 0, []string{"config OK"}},
		{"config check typo exits 2", "lisen: x\n", []string{"config", "check"}, 2, []string{`config: lisen: unknown key (did you mean "listen"?)`}},
		{"config example", "", []string{"config", "example"}, 0, []string{"listen: \"inet:127.0.0.1:8891\"", "  rules: []", "#   - name: partner-x"}},
		{"postfix-config", "", []string{"postfix-config"}, 0, []string{"smtpd_milters = { inet:127.0.0.1:8891, default_action=tempfail }", "No require_tls rule", "127.0.0.1:10026 inet", "\n# master.cf: edit the file", "cleanup   unix  n       -       y"}},
		{"postfix-config with require_tls", tlsRule, []string{"postfix-config"}, 0, []string{"smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8893:tlspolicy"}},
		{"explain refuses at RCPT", rules, []string{"policy", "explain", "--from", "alice@corp.example", "--to", "bob@partner.example", "--to", "carol@x.example"},
			0, []string{"at RCPT: bob@partner.example refused: 550 5.7.1 <bob@partner.example> requires encryption", "carol@x.example: sign (defaults"}},
		{"explain confidential", rules, []string{"policy", "explain", "--from", "alice@corp.example", "--to", "carol@x.example", "--subject", "[secure] x"},
			0, []string{"confidential: yes", "would get the message as an encrypted PDF"}},
		{"explain needs --to", rules, []string{"policy", "explain", "--from", "alice@corp.example"}, 2, nil},
		{"certs issue and show", "internal_domains: [corp.example]\n", []string{"certs", "issue", "bob@corp.example"}, 0, []string{"issued bob@corp.example serial"}},
		{"certs show unknown", "", []string{"certs", "show", "nobody@corp.example"}, 1, nil},
		{"certs bad address", "", []string{"certs", "show", "not-an-address"}, 2, nil},
		{"version", "", []string{"version"}, 0, []string{"mailseal dev"}},
		{"mistyped subcommand", "", []string{"config", "chek"}, 2, []string{`unknown command "chek" for "mailseal config" (did you mean "check"?)`}},
		{"mistyped command", "", []string{"confg", "check"}, 2, []string{`did you mean "config"?`}},
		{"group without subcommand", "", []string{"certs"}, 2, []string{"mailseal certs needs a subcommand"}},
		{"unknown flag", "", []string{"config", "check", "--bogus"}, 2, []string{"unknown flag: --bogus"}},
		{"too many arguments", "", []string{"config", "check", "a", "b"}, 2, []string{"accepts at most 1 arg"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, tc.config, tc.args...)
			if got := exitCode(err); got != tc.code {
				t.Fatalf("exit %d (%v), want %d\n%s", got, err, tc.code, out)
			}
			text := out
			if err != nil {
				text += err.Error()
			}
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("output lacks %q:\n%s", w, text)
				}
			}
			if tc.name == "postfix-config" && strings.Contains(text, "milter_default_action =") || strings.Contains(text, "smtp_tls_policy_maps =") && tc.config == "" {
				t.Errorf("global milter_default_action or a policy map without require_tls rule:\n%s", text)
			}
		})
	}
}
