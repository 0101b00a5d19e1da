package certs

import (
	"bytes"
	"context"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// These tests feed files made by the real openssl and gpg to the directory.
// They fail (not skip) when the tools are missing: scripts/install-deps.sh
// installs them.

func runTool(t *testing.T, env []string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// partnerGPGHome returns a fresh GNUPGHOME environment; the gpg-agent a test
// starts there is stopped at the end.
func partnerGPGHome(t *testing.T) []string {
	t.Helper()
	env := []string{"GNUPGHOME=" + t.TempDir()}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
		cmd.Env = append(os.Environ(), env...)
		_ = cmd.Run()
	})
	return env
}

func TestImportOpenSSLCertificates(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	ossl := func(args ...string) []byte { return runTool(t, nil, opensslPath, args...) }

	ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p("ca.key"), "-out", p("ca.pem"),
		"-subj", "/CN=Partner CA", "-days", "30")
	leaf := func(name, key, san, ku string) {
		newkey := []string{"-newkey", key}
		if key == "ec" {
			newkey = append(newkey, "-pkeyopt", "ec_paramgen_curve:P-384")
		}
		ossl(append(append([]string{"req", "-new"}, newkey...), "-nodes", "-keyout", p(name+".key"), "-out", p(name+".csr"), "-subj", "/CN="+name)...)
		ext := "subjectAltName=" + san + "\nkeyUsage=critical," + ku + "\nextendedKeyUsage=emailProtection\nbasicConstraints=CA:FALSE\n"
		if err := os.WriteFile(p(name+".ext"), []byte(ext), 0o600); err != nil {
			t.Fatal(err)
		}
		ossl("x509", "-req", "-in", p(name+".csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"), "-days", "30",
			"-extfile", p(name+".ext"), "-out", p(name+".pem"))
	}
	leaf("erin", "rsa:3072", "email:Erin@Partner.example", "digitalSignature,keyEncipherment")
	leaf("idn", "ec", "email:user@xn--bcher-kva.example", "digitalSignature,keyAgreement")
	leaf("weak", "rsa:1024", "email:weak@partner.example", "digitalSignature,keyEncipherment")
	leaf("signonly", "rsa:2048", "email:sign@partner.example", "digitalSignature")
	ossl("x509", "-in", p("erin.pem"), "-outform", "DER", "-out", p("erin.der"))
	ossl("crl2pkcs7", "-nocrl", "-certfile", p("idn.pem"), "-certfile", p("ca.pem"), "-outform", "DER", "-out", p("bundle.p7c"))
	ossl("crl2pkcs7", "-nocrl", "-certfile", p("erin.pem"), "-out", p("erin.p7b"))

	fingerprint := func(name string) string {
		out := string(ossl("x509", "-in", p(name+".pem"), "-noout", "-fingerprint", "-sha256"))
		_, fp, _ := strings.Cut(strings.TrimSpace(out), "=")
		return strings.ToLower(strings.ReplaceAll(fp, ":", ""))
	}
	cases := []struct {
		file    string
		stored  []string // names whose fingerprints are stored
		skipped int
		reason  string
	}{
		{"erin.pem", []string{"erin"}, 0, ""},
		{"erin.der", []string{"erin"}, 0, ""},
		{"erin.p7b", []string{"erin"}, 0, ""},
		{"bundle.p7c", []string{"idn"}, 1, ""},
		{"ca.pem", nil, 1, "no recipient certificate"},
		{"weak.pem", nil, 0, "RSA key of 1024 bits"},
		{"signonly.pem", nil, 0, "keyEncipherment"},
		{"erin.key", nil, 0, "no CERTIFICATE"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			d, _ := testDirectory(t, newFakeClock())
			d = NewDirectory(d.store, nil) // openssl made the files at the real time
			data, err := os.ReadFile(p(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			res, err := d.ImportCertificates(ctx, tc.file, data, ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var got, want []string
			for _, k := range res.Stored {
				got = append(got, k.Fingerprint)
			}
			for _, n := range tc.stored {
				want = append(want, fingerprint(n))
			}
			if !slices.Equal(got, want) || len(res.Skipped) != tc.skipped {
				t.Errorf("stored %v skipped %v, want %v and %d skipped; rejected %v", got, res.Skipped, want, tc.skipped, res.Rejected)
			}
			if tc.reason == "" && len(res.Rejected) > 0 {
				t.Errorf("rejected %v", res.Rejected)
			}
			if tc.reason != "" && (len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0].Error(), tc.reason) || res.Rejected[0].File != tc.file) {
				t.Errorf("rejected %v, want one naming %s with %q", res.Rejected, tc.file, tc.reason)
			}
			if len(tc.stored) == 0 {
				return
			}
			addr := map[string]string{"erin": "erin@partner.example", "idn": "User@Bücher.example"}[tc.stored[0]]
			c, _, err := d.SMIMECertificate(ctx, addr)
			if err != nil {
				t.Fatalf("lookup %s: %v", addr, err)
			}
			// The certificate handed out is one openssl encrypts to.
			leafPath := filepath.Join(t.TempDir(), "leaf.pem")
			if err := os.WriteFile(leafPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600); err != nil {
				t.Fatal(err)
			}
			msg := filepath.Join(t.TempDir(), "msg.txt")
			if err := os.WriteFile(msg, []byte("hello\r\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			runTool(t, nil, opensslPath, "cms", "-encrypt", "-aes256", "-in", msg, "-out", msg+".p7m", leafPath)
		})
	}
}

func TestImportGPGKeys(t *testing.T) {
	ctx := context.Background()
	env := partnerGPGHome(t)
	gpg := func(args ...string) []byte {
		return runTool(t, env, "gpg", append([]string{"--batch", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
	}
	fpr := func(uid string) string {
		for _, line := range strings.Split(string(gpg("--with-colons", "--fingerprint", uid)), "\n") {
			if f := strings.Split(line, ":"); len(f) > 9 && f[0] == "fpr" {
				return f[9]
			}
		}
		t.Fatalf("no fingerprint for %s", uid)
		return ""
	}
	gpg("--quick-gen-key", "Frank <frank@partner.example>", "ed25519", "sign", "1y")
	gpg("--quick-add-key", fpr("frank@partner.example"), "cv25519", "encr", "1y")
	gpg("--quick-gen-key", "Grace <Grace@bücher.example>", "rsa3072", "sign,cert", "1y")
	gpg("--quick-add-key", fpr("Grace@bücher.example"), "rsa3072", "encr", "1y")
	gpg("--quick-gen-key", "Signer <signer@partner.example>", "ed25519", "sign", "1y")
	// A key made two days ago that was valid for one day.
	gpg("--faked-system-time", "20250101T000000", "--quick-gen-key", "Old <old@partner.example>", "default", "default", "1d")

	dir := t.TempDir()
	write := func(name string, data []byte) string {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
		return name
	}
	files := map[string][]byte{
		"frank.asc":  gpg("--export", "--armor", "frank@partner.example"),
		"frank.gpg":  gpg("--export", "frank@partner.example"),
		"both.asc":   gpg("--export", "--armor", "frank@partner.example", "Grace@bücher.example"),
		"signer.gpg": gpg("--export", "signer@partner.example"),
		"old.asc":    gpg("--export", "--armor", "old@partner.example"),
		"secret.asc": gpg("--export-secret-keys", "--armor", "frank@partner.example"),
	}
	cases := []struct {
		file   string
		stored []string
		reason string
	}{
		{"frank.asc", []string{"frank@partner.example"}, ""},
		{"frank.gpg", []string{"frank@partner.example"}, ""},
		{"both.asc", []string{"frank@partner.example", "Grace@bücher.example"}, ""},
		{"signer.gpg", nil, "no valid encryption key"},
		{"old.asc", nil, "expired on 2025-01-02"},
		{"secret.asc", nil, "secret key"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			d, _ := testDirectory(t, newFakeClock())
			d = NewDirectory(d.store, nil) // gpg made the keys at the real time
			res, err := d.ImportPGPKeys(ctx, write(tc.file, files[tc.file]), files[tc.file], ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var got, want []string
			for _, k := range res.Stored {
				got = append(got, k.Fingerprint)
			}
			for _, uid := range tc.stored {
				want = append(want, fpr(uid))
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("stored %v, want %v; rejected %v", got, want, res.Rejected)
			}
			if tc.reason == "" && len(res.Rejected) > 0 {
				t.Errorf("rejected %v", res.Rejected)
			}
			if tc.reason != "" && (len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0].Error(), tc.reason) || res.Rejected[0].File != tc.file) {
				t.Errorf("rejected %v, want one naming %s with %q", res.Rejected, tc.file, tc.reason)
			}
			for _, uid := range tc.stored {
				// The stored key is one a fresh gpg imports and encrypts to.
				_, rec, err := d.PGPKey(ctx, strings.ToUpper(uid))
				if err != nil {
					t.Fatalf("lookup %s: %v", uid, err)
				}
				other := partnerGPGHome(t)
				keyFile := filepath.Join(t.TempDir(), "key.gpg")
				if err := os.WriteFile(keyFile, rec.KeyData, 0o600); err != nil {
					t.Fatal(err)
				}
				runTool(t, other, "gpg", "--batch", "--import", keyFile)
				out := runTool(t, other, "gpg", "--batch", "--trust-model", "always", "--armor", "--encrypt", "-r", rec.Fingerprint, "--output", "-", keyFile)
				if !bytes.Contains(out, []byte("BEGIN PGP MESSAGE")) {
					t.Errorf("gpg did not encrypt to %s", uid)
				}
			}
		})
	}
}
