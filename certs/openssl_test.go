package certs

import (
	"context"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const opensslPath = "/usr/bin/openssl"

// TestOpenSSLVerifiesIssuedCertificate checks the chain and S/MIME purpose
// with the real openssl, and the CRL signature. Fails (not skips) without openssl.
func TestOpenSSLVerifiesIssuedCertificate(t *testing.T) {
	if _, err := os.Stat(opensslPath); err != nil {
		t.Fatalf("openssl is required for this test: %v", err)
	}
	for _, kt := range []KeyType{KeyRSA2048, KeyECDSAP256} {
		t.Run(string(kt), func(t *testing.T) {
			ctx := context.Background()
			opts := testOptions(t, newFakeClock())
			opts.Now = nil // openssl verifies at the real time
			opts.KeyType = kt
			m := openTest(t, opts)
			id, _, err := m.SigningIdentity(ctx, "verify@corp.example")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Issue(ctx, "revoked@corp.example"); err != nil {
				t.Fatal(err)
			}
			if err := m.Revoke(ctx, "revoked@corp.example", 1); err != nil {
				t.Fatal(err)
			}
			crl, err := m.CRL(ctx)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			write := func(name, typ string, der []byte) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			ca := write("ca.pem", "CERTIFICATE", m.CACertificate().Raw)
			leaf := write("leaf.pem", "CERTIFICATE", id.Cert.Raw)
			crlPath := write("ca.crl.pem", "X509 CRL", crl)

			out, err := exec.Command(opensslPath, "verify", "-purpose", "smimesign", "-CAfile", ca, leaf).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "OK") {
				t.Errorf("openssl verify: %v\n%s", err, out)
			}
			// OpenSSL's smimeencrypt purpose insists on keyEncipherment, which
			// ECDSA (key agreement) keys do not have: check it for RSA only.
			purpose := "smimesign"
			if kt != KeyECDSAP256 {
				purpose = "smimeencrypt"
			}
			out, err = exec.Command(opensslPath, "verify", "-purpose", purpose, "-crl_check", "-CAfile", ca, "-CRLfile", crlPath, leaf).CombinedOutput()
			if err != nil {
				t.Errorf("openssl verify %s with CRL: %v\n%s", purpose, err, out)
			}
			// The revoked certificate is refused with the CRL.
			revoked, err := m.store.CertsByEmail(ctx, "revoked@corp.example")
			if err != nil || len(revoked) != 1 {
				t.Fatalf("revoked cert: %v", err)
			}
			rleaf := write("revoked.pem", "CERTIFICATE", revoked[0].CertDER)
			out, err = exec.Command(opensslPath, "verify", "-purpose", "smimesign", "-crl_check", "-CAfile", ca, "-CRLfile", crlPath, rleaf).CombinedOutput()
			if err == nil || !strings.Contains(string(out), "revoked") {
				t.Errorf("openssl accepted the revoked certificate: %v\n%s", err, out)
			}
			out, err = exec.Command(opensslPath, "crl", "-in", crlPath, "-CAfile", ca, "-noout").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "verify OK") {
				t.Errorf("openssl crl: %v\n%s", err, out)
			}
		})
	}
}
