package main

import (
	"bytes"
	"crypto"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"
)

func TestCertsExportP12(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MAILSEAL_STATE_DIR", filepath.Join(dir, "state"))
	t.Setenv("MAILSEAL_ADMIN_LISTEN", "127.0.0.1:1")
	t.Setenv(p12PasswordEnv, "")
	cfg := filepath.Join(dir, "mailseal.yaml")
	os.WriteFile(cfg, []byte("internal_domains: [corp.example]\nca:\n  key_type: ecdsa-p256\n"), 0o600)
	// No terminal to prompt on, whatever runs the test.
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	oldStdin := os.Stdin
	os.Stdin = devnull
	t.Cleanup(func() { os.Stdin = oldStdin })

	mailseal := func(args ...string) (string, error) {
		root := newRootCommand()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append(args, "--config", cfg))
		err := root.Execute()
		return out.String(), err
	}
	if out, err := mailseal("certs", "issue", "bob@corp.example"); err != nil {
		t.Fatalf("issue: %v\n%s", err, out)
	}
	pemOut, err := mailseal("certs", "export", "bob@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode([]byte(pemOut))
	if blk == nil {
		t.Fatalf("export printed no PEM:\n%s", pemOut)
	}
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("correct horse\nignored second line\n"), 0o600)
	p12 := filepath.Join(dir, "bob.p12")
	check := func(password string) {
		t.Helper()
		fi, err := os.Stat(p12)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", p12, fi.Mode().Perm())
		}
		der, _ := os.ReadFile(p12)
		key, cert, chain, err := pkcs12.DecodeChain(der, password)
		if err != nil {
			t.Fatalf("decode with %q: %v", password, err)
		}
		if !bytes.Equal(cert.Raw, blk.Bytes) || len(chain) != 1 || !chain[0].IsCA {
			t.Fatal("the file holds another certificate or no CA")
		}
		if !cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.(crypto.Signer).Public()) {
			t.Fatal("key and certificate differ")
		}
	}

	for _, tc := range []struct {
		name string
		env  string
		args []string
		code int
		want string
		pw   string // "": the file is not (re)written
	}{
		{"no password without a terminal", "", []string{"--p12", p12}, 2, "give --password-file FILE or set MAILSEAL_P12_PASSWORD", ""},
		{"password file", "", []string{"--p12", p12, "--password-file", pwFile}, 0, "wrote " + p12 + " (AES-256 PKCS#12): bob@corp.example serial", "correct horse"},
		{"no overwrite", "", []string{"--p12", p12, "--password-file", pwFile}, 2, "exists: give --force", ""},
		{"env password, legacy, force", "from env", []string{"--p12", p12, "--legacy", "--force"}, 0, "(legacy 3DES PKCS#12)", "from env"},
		{"legacy without p12", "", []string{"--legacy"}, 2, "go with --p12 FILE", ""},
		{"missing password file", "", []string{"--p12", p12 + "2", "--password-file", filepath.Join(dir, "nope")}, 2, "--password-file", ""},
		{"no certificate", "x", []string{"--p12", p12 + "3"}, 1, "no certificate for carol@corp.example", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(p12PasswordEnv, tc.env)
			if tc.name == "env password, legacy, force" {
				os.Chmod(p12, 0o644) // --force must not keep a wider mode
			}
			who := "bob@corp.example"
			if tc.name == "no certificate" {
				who = "carol@corp.example"
			}
			before, _ := os.ReadFile(p12)
			out, err := mailseal(append([]string{"certs", "export", who}, tc.args...)...)
			if got := exitCode(err); got != tc.code {
				t.Fatalf("exit %d (%v), want %d\n%s", got, err, tc.code, out)
			}
			msg := out
			if err != nil {
				msg += err.Error()
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("output %q lacks %q", msg, tc.want)
			}
			if tc.pw != "" {
				check(tc.pw)
			} else if after, _ := os.ReadFile(p12); !bytes.Equal(before, after) {
				t.Error("the existing file was changed")
			}
		})
	}
	if _, err := os.Stat(p12 + "3"); err == nil {
		t.Error("a file was written for an address without a certificate")
	}
}
