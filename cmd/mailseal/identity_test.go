package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The CA handed to partners: its subject, name constraints, fingerprint
// and the refusals around it, through the real CLI.
func TestCACommands(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MAILSEAL_STATE_DIR", filepath.Join(dir, "state"))
	t.Setenv("MAILSEAL_ADMIN_LISTEN", "127.0.0.1:1")
	cfg := filepath.Join(dir, "mailseal.yaml")
	write := func(body string) {
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cli := func(args ...string) (string, error) {
		root := newRootCommand()
		var out strings.Builder
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append(args, "--config", cfg))
		err := root.Execute()
		return out.String(), err
	}
	write("internal_domains: [corp.example]\nca:\n  subject: \"CN=Corp Mail CA,O=Corp,C=DE\"\n")

	// No store yet: config check warns about the CRL URL, creates nothing.
	out, err := cli("config", "check")
	if err != nil || !strings.Contains(out, "warning: ca.crl_url is empty") || !strings.Contains(out, "config OK") {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
		t.Error("config check created the state dir")
	}

	out, err = cli("ca", "cert")
	if err != nil {
		t.Fatalf("ca cert: %v\n%s", err, out)
	}
	block, _ := pem.Decode([]byte(out))
	if block == nil {
		t.Fatalf("ca cert printed no PEM:\n%s", out)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if ca.Subject.String() != "CN=Corp Mail CA,O=Corp,C=DE" || !slices.Equal(ca.PermittedEmailAddresses, []string{"corp.example", ".corp.example"}) {
		t.Errorf("CA subject %q, permitted %v", ca.Subject, ca.PermittedEmailAddresses)
	}
	caPath := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caPath, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	fp, err := exec.Command("openssl", "x509", "-in", caPath, "-noout", "-fingerprint", "-sha256").Output()
	if err != nil {
		t.Fatal(err)
	}
	_, want, _ := strings.Cut(strings.TrimSpace(string(fp)), "=")
	out, err = cli("ca", "cert", "--fingerprint")
	if err != nil || strings.TrimSpace(out) != "SHA256 Fingerprint="+want {
		t.Errorf("ca cert --fingerprint = %q (%v), openssl says %s", out, err, want)
	}

	// certs issue: internal addresses only; no look-alikes; no CRL URL.
	out, err = cli("certs", "issue", "alice@corp.example")
	if err != nil {
		t.Fatalf("certs issue: %v\n%s", err, out)
	}
	out, err = cli("certs", "export", "alice@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	block, _ = pem.Decode([]byte(out))
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil || len(leaf.CRLDistributionPoints) != 0 {
		t.Errorf("leaf CRL distribution points %v (%v), want none without ca.crl_url", leaf.CRLDistributionPoints, err)
	}
	for _, tc := range []struct{ addr, want string }{
		{"mallory@other.example", "mallory@other.example is not in internal_domains (corp.example)"},
		{"\u212Aate@corp.example", "certificates name ASCII addresses only"},
	} {
		out, err = cli("certs", "issue", tc.addr)
		if err == nil || !strings.Contains(out+err.Error(), tc.want) {
			t.Errorf("certs issue %s: %v\n%s", tc.addr, err, out)
		}
	}
	if out, err = cli("certs", "show", "kate@corp.example"); err == nil {
		t.Errorf("a certificate for kate@corp.example exists:\n%s", out)
	}

	// internal_domains grows after the CA was made: config check says the
	// CA does not cover the new domain, and issuing for it is refused.
	write("internal_domains: [corp.example, new.example]\nca:\n  crl_url: https://pki.corp.example/mail.crl\n")
	out, err = cli("config", "check")
	if err != nil || !strings.Contains(out, "warning: internal domain new.example is outside the name constraints") || strings.Contains(out, "crl_url") {
		t.Errorf("config check after adding a domain: %v\n%s", err, out)
	}
	out, err = cli("certs", "issue", "bob@new.example")
	if err == nil || !strings.Contains(out+err.Error(), "outside the CA's name constraints") {
		t.Errorf("certs issue bob@new.example: %v\n%s", err, out)
	}

	// ca recertify extends the CA (same key) to the new domain.
	out, err = cli("ca", "recertify")
	if err != nil || !strings.Contains(out, "re-certified CN=Corp Mail CA,O=Corp,C=DE for corp.example .corp.example new.example .new.example") {
		t.Fatalf("ca recertify: %v\n%s", err, out)
	}
	out, err = cli("config", "check")
	if err != nil || strings.Contains(out, "warning") {
		t.Errorf("config check after recertify: %v\n%s", err, out)
	}
	if out, err = cli("certs", "issue", "bob@new.example"); err != nil {
		t.Errorf("certs issue bob@new.example after recertify: %v\n%s", err, out)
	}
	out, err = cli("ca", "cert", "--fingerprint")
	if err != nil || strings.TrimSpace(out) == "SHA256 Fingerprint="+want {
		t.Errorf("fingerprint unchanged after recertify: %q (%v)", out, err)
	}

	// config check never opens another user's store (SQLite would leave
	// files the daemon's user cannot open).
	if os.Geteuid() == 0 {
		db := filepath.Join(dir, "state", "mailseal.db")
		if err := os.Chown(db, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		out, err = cli("config", "check")
		if err != nil || !strings.Contains(out, "warning: the CA was not checked: "+db+" belongs to user id 65534") {
			t.Errorf("config check on another user's store: %v\n%s", err, out)
		}
	}
}
