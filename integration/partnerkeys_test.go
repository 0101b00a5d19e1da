package integration

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPartnerKeysCLI drives the real binary's partner key directory with
// files made by the real openssl and gpg, and checks the exit codes a
// script would see.
func TestPartnerKeysCLI(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	env := append(os.Environ(), "MAILSEAL_STATE_DIR="+p("state"), "MAILSEAL_CONFIG=", "GNUPGHOME="+p("gnupg"))
	tool := func(name string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.String())
		}
		return out
	}
	mailseal := func(args ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(binary, args...)
		cmd.Env = env
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errOut.String(), code
	}
	if err := os.Mkdir(p("gnupg"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
		cmd.Env = env
		_ = cmd.Run()
	})

	tool("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("hank.key"), "-out", p("hank.pem"),
		"-subj", "/CN=Hank", "-days", "30", "-addext", "subjectAltName=email:Hank@Partner.example",
		"-addext", "basicConstraints=critical,CA:FALSE", "-addext", "keyUsage=digitalSignature,keyEncipherment",
		"-addext", "extendedKeyUsage=emailProtection")
	tool("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("tls.key"), "-out", p("tls.pem"),
		"-subj", "/CN=www.partner.example", "-days", "30", "-addext", "subjectAltName=email:web@partner.example",
		"-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth")
	fpLine := string(tool("openssl", "x509", "-in", p("hank.pem"), "-noout", "-fingerprint", "-sha256"))
	_, fp, _ := strings.Cut(strings.TrimSpace(fpLine), "=")
	hankFP := strings.ToLower(strings.ReplaceAll(fp, ":", ""))

	out, errOut, code := mailseal("certs", "import", p("hank.pem"), p("tls.pem"))
	if code != 1 || !strings.Contains(out, "imported hank@partner.example "+hankFP) ||
		!strings.Contains(errOut, p("tls.pem")+`: certificate "CN=www.partner.example": extended key usage does not allow emailProtection`) {
		t.Errorf("certs import: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if _, _, code := mailseal("certs", "import"); code != 2 {
		t.Errorf("certs import without files: exit %d, want 2", code)
	}
	if out, _, code := mailseal("certs", "list", "--external"); code != 0 || !strings.Contains(out, hankFP) || strings.Contains(out, "web@") {
		t.Errorf("certs list --external: exit %d\n%s", code, out)
	}

	tool("gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key", "Ivy <ivy@partner.example>", "default", "default", "1y")
	if err := os.WriteFile(p("ivy.asc"), tool("gpg", "--export", "--armor", "ivy@partner.example"), 0o600); err != nil {
		t.Fatal(err)
	}
	var ivyFP string
	for _, line := range strings.Split(string(tool("gpg", "--with-colons", "--fingerprint", "ivy@partner.example")), "\n") {
		if f := strings.Split(line, ":"); len(f) > 9 && f[0] == "fpr" {
			ivyFP = f[9]
			break
		}
	}
	if out, errOut, code := mailseal("keys", "import", "--trust", "verified", p("ivy.asc")); code != 0 || !strings.Contains(out, "imported ivy@partner.example "+ivyFP) {
		t.Errorf("keys import: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if out, _, code := mailseal("keys", "list"); code != 0 || !strings.Contains(out, ivyFP) || !strings.Contains(out, "verified") {
		t.Errorf("keys list: exit %d\n%s", code, out)
	}
	if out, _, code := mailseal("keys", "remove", "IVY@partner.example"); code != 0 || !strings.Contains(out, "removed "+ivyFP) {
		t.Errorf("keys remove: exit %d\n%s", code, out)
	}
	if _, errOut, code := mailseal("certs", "remove", "nobody@partner.example"); code != 1 || !strings.Contains(errOut, "nothing in the partner key directory") {
		t.Errorf("certs remove unknown: exit %d\n%s", code, errOut)
	}
}
