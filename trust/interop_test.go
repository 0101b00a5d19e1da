package trust

import (
	"bytes"
	"context"
	"crypto/sha1"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailseal/mailseal/crypto/smime/smimetest"
)

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func run(t *testing.T, env []string, stdin string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.String())
	}
	return out
}

// TestOpenSSLSignedMailPasses: whole messages written by `openssl cms
// -sign` (detached multipart/signed and opaque signed-data; RSA PKCS#1
// v1.5, RSA-PSS, ECDSA) pass, and fail once a byte of the text changes.
func TestOpenSSLSignedMailPasses(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl not found (required): %v", err)
	}
	p := getPKI(t)
	v, err := New(Options{AnchorFiles: []string{p.anchorFile}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	interPEM, _, err := smimetest.PEM(p.inter)
	if err != nil {
		t.Fatal(err)
	}
	interFile := writeFile(t, filepath.Join(dir, "inter.pem"), interPEM)
	for _, tc := range []struct {
		name string
		key  smimetest.KeyType
		args []string
	}{
		{"rsa", smimetest.RSA2048, nil},
		{"rsa-pss", smimetest.RSA2048, []string{"-keyopt", "rsa_padding_mode:pss"}},
		{"ecdsa", smimetest.P256, []string{"-md", "sha384"}},
	} {
		leaf := p.leaf(t, smimetest.Template{CN: "OpenSSL " + tc.name, Key: tc.key})
		certPEM, keyPEM, err := smimetest.PEM(leaf)
		if err != nil {
			t.Fatal(err)
		}
		certFile := writeFile(t, filepath.Join(dir, tc.name+".crt"), certPEM)
		keyFile := writeFile(t, filepath.Join(dir, tc.name+".key"), keyPEM)
		for _, mode := range []struct {
			name  string
			args  []string
			input string
			kind  string
		}{
			{"detached binary", []string{"-binary"}, testContent, KindMultipartSigned},
			{"detached text mode, LF input", nil, strings.ReplaceAll(testContent, "\r\n", "\n"), KindMultipartSigned},
			{"opaque", []string{"-nodetach", "-binary"}, testContent, KindSignedData},
		} {
			t.Run(tc.name+" "+mode.name, func(t *testing.T) {
				in := writeFile(t, filepath.Join(dir, "in"), []byte(mode.input))
				args := append([]string{"cms", "-sign", "-in", in, "-signer", certFile, "-inkey", keyFile, "-certfile", interFile,
					"-from", "Alice <alice@partner.example>", "-to", "bob@corp.example", "-subject", "invoice"}, tc.args...)
				msg := run(t, nil, "", "openssl", append(args, mode.args...)...)
				vd := v.VerifyMessage(context.Background(), msg)
				if vd.Result != Pass || vd.Kind != mode.kind {
					t.Fatalf("%s %s/%s: %s\n%s", vd.Kind, vd.Result, vd.Code, vd.Reason, msg)
				}
				if mode.kind == KindMultipartSigned {
					tampered := bytes.Replace(msg, []byte("4711"), []byte("4712"), 1)
					if vd := v.VerifyMessage(context.Background(), tampered); vd.Result != Fail || vd.Code != "bad-signature" {
						t.Fatalf("tampered: %s/%s", vd.Result, vd.Code)
					}
				} else if !bytes.Contains(vd.Content, []byte("invoice 4711")) {
					t.Fatalf("opaque content %q", vd.Content)
				}
			})
		}
	}
}

// TestGpgsmSignedMailPasses: a detached signature made by `gpgsm
// --detach-sign` (GnuPG, as KMail and Kleopatra send it) passes.
func TestGpgsmSignedMailPasses(t *testing.T) {
	for _, tool := range []string{"gpgsm", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (required): %v", tool, err)
		}
	}
	// An all-RSA hierarchy: what gpgsm 2.2 handles everywhere.
	root, err := smimetest.NewCA("Gpgsm Root")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := smimetest.Issue(root, smimetest.Template{CN: "Gpgsm Alice", Emails: []string{"alice@partner.example"}})
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{"GNUPGHOME=" + home}
	t.Cleanup(func() { exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run() })
	writeFile(t, filepath.Join(home, "gpg-agent.conf"), []byte("allow-loopback-pinentry\n"))
	certPEM, keyPEM, err := smimetest.PEM(leaf)
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, _, err := smimetest.PEM(root)
	if err != nil {
		t.Fatal(err)
	}
	certFile := writeFile(t, filepath.Join(home, "alice.crt"), certPEM)
	keyFile := writeFile(t, filepath.Join(home, "alice.key"), keyPEM)
	rootFile := writeFile(t, filepath.Join(home, "root.pem"), rootPEM)
	h := sha1.Sum(root.Cert.Raw)
	var fp []string
	for _, b := range h {
		fp = append(fp, fmt.Sprintf("%02X", b))
	}
	writeFile(t, filepath.Join(home, "trustlist.txt"), []byte(strings.Join(fp, ":")+" S relax\n"))
	p12 := filepath.Join(home, "alice.p12")
	gpgsm := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command("gpgsm", append([]string{"--batch", "--pinentry-mode", "loopback", "--passphrase-fd", "0",
			"--disable-crl-checks", "--disable-policy-checks"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// gpgsm 2.2 reads only the old PKCS #12 encryption, and now and then
	// fails on one export: a fresh export (new salt) reads.
	var res string
	for try := 0; try < 3 && !strings.Contains(res, "secret keys imported: 1"); try++ {
		run(t, nil, "", "openssl", "pkcs12", "-export", "-inkey", keyFile, "-in", certFile, "-certfile", rootFile,
			"-out", p12, "-passout", "pass:test", "-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1")
		res, err = gpgsm("test\n", "--import", p12)
	}
	if !strings.Contains(res, "secret keys imported: 1") {
		t.Fatalf("gpgsm --import: %v\n%s", err, res)
	}
	in := writeFile(t, filepath.Join(home, "content"), []byte(testContent))
	sigFile := filepath.Join(home, "sig.p7s")
	if res, err := gpgsm("test\n", "--local-user", "alice@partner.example", "--include-certs", "-1", "--output", sigFile, "--detach-sign", in); err != nil {
		t.Fatalf("gpgsm --detach-sign: %v\n%s", err, res)
	}
	der, err := os.ReadFile(sigFile)
	if err != nil {
		t.Fatal(err)
	}
	v, err := New(Options{AnchorFiles: []string{rootFile}})
	if err != nil {
		t.Fatal(err)
	}
	msg := multipartSigned(header(""), testContent, der)
	vd := v.VerifyMessage(context.Background(), msg)
	if vd.Result != Pass {
		t.Fatalf("gpgsm signature: %s/%s %s", vd.Result, vd.Code, vd.Reason)
	}
	t.Logf("gpgsm signed with %s %s", vd.Signers[0].Algorithm, vd.Signers[0].Digest)
	if vd := v.VerifyMessage(context.Background(), bytes.Replace(msg, []byte("4711"), []byte("4712"), 1)); vd.Code != "bad-signature" {
		t.Fatalf("tampered: %s/%s", vd.Result, vd.Code)
	}
}
