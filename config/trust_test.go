package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pemCert writes a self-signed certificate (a CA when ca) to a file.
func pemCert(t *testing.T, ca bool) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Partner Root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true, IsCA: ca}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "anchor.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTrustKeys(t *testing.T) {
	ca, leaf := pemCert(t, true), pemCert(t, false)
	junk := filepath.Join(t.TempDir(), "junk.pem")
	os.WriteFile(junk, []byte("not a certificate\n"), 0o600)
	cases := []struct {
		name, yaml string
		want       string // "" = valid; else key and text of the problem
	}{
		{"defaults", "log:\n  level: info\n", ""},
		{"anchor file with a CA", "trust:\n  anchor_files: [" + ca + "]\n  revocation: require\n  report: de\n", ""},
		{"missing anchor file", "trust:\n  anchor_files: [/nonexistent/roots.pem]\n", "trust.anchor_files: /nonexistent/roots.pem: cannot be read"},
		{"anchor file without PEM", "trust:\n  anchor_files: [" + junk + "]\n", "trust.anchor_files: " + junk + ": holds no PEM CERTIFICATE block"},
		{"anchor file with a leaf only", "trust:\n  anchor_files: [" + leaf + "]\n", "no CA certificate"},
		{"bad revocation", "trust:\n  revocation: sometimes\n", "trust.revocation: \"sometimes\" is not one of require, prefer, off"},
		{"bad report", "trust:\n  report: fr\n", "trust.report: \"fr\" is not one of off, de, en"},
		{"tag with newline", "trust:\n  subject_tags:\n    pass: \"a\\nb\"\n", "trust.subject_tags.pass: must be one line"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := load(writeFile(t, tc.yaml), nil)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.name == "defaults" && (!cfg.Trust.SystemRoots || cfg.Trust.Revocation != "prefer" || cfg.Trust.Report != "off" || cfg.Trust.SubjectTags.Unverified != "[not verified]") {
					t.Errorf("defaults: %+v", cfg.Trust)
				}
				return
			}
			if err == nil || !IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
