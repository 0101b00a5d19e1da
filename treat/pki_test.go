package treat

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// testPKI is a root CA with user certificates, made for each test.
type testPKI struct {
	t      *testing.T
	caCert *x509.Certificate
	caKey  crypto.Signer
	serial int64
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "treat test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testPKI{t: t, caCert: cert, caKey: key, serial: 1}
}

// user issues an S/MIME certificate for email with a key of kind
// "rsa2048", "rsa3072", "p256" or "p384".
func (p *testPKI) user(email, kind string) (*x509.Certificate, crypto.Signer) {
	p.t.Helper()
	var key crypto.Signer
	var err error
	ku := x509.KeyUsageDigitalSignature
	switch kind {
	case "rsa2048":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
		ku |= x509.KeyUsageKeyEncipherment
	case "rsa3072":
		key, err = rsa.GenerateKey(rand.Reader, 3072)
		ku |= x509.KeyUsageKeyEncipherment
	case "p256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		ku |= x509.KeyUsageKeyAgreement
	case "p384":
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		ku |= x509.KeyUsageKeyAgreement
	default:
		p.t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: email},
		EmailAddresses: []string{email},
		NotBefore:      time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: ku, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, key.Public(), p.caKey)
	if err != nil {
		p.t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

// writePEM writes certificates (and optionally a key) to a file in dir.
func writePEM(t *testing.T, dir, name string, key crypto.Signer, certs ...*x509.Certificate) string {
	t.Helper()
	var b bytes.Buffer
	if key != nil {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// run runs a command and fails the test (never skips) when it fails:
// these are the independent clients our output must satisfy.
func run(t *testing.T, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, errb.String())
	}
	return out.Bytes()
}
