package smime

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"
)

// testPKI is a root CA, an intermediate CA and signer certificates, all
// generated per test run.
type testPKI struct {
	root, inter       *x509.Certificate
	rootKey, interKey crypto.Signer
	rsaKey, ecKey     crypto.Signer
	rsaCert, ecCert   *x509.Certificate
}

var (
	pkiOnce sync.Once
	pki     *testPKI
)

var serial int64 = 100

func issue(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	serial++
	tmpl.SerialNumber = big.NewInt(serial)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return c
}

func caTemplate(cn string) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"mailseal test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
}

// leafTemplate is an S/MIME signing certificate template for addr.
func leafTemplate(addr string) *x509.Certificate {
	return &x509.Certificate{
		Subject:        pkix.Name{CommonName: addr},
		EmailAddresses: []string{addr},
		NotBefore:      time.Now().Add(-time.Hour),
		NotAfter:       time.Now().Add(24 * time.Hour),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
}

func ecKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rsaKey(t testing.TB, bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func getPKI(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() {
		p := &testPKI{}
		rk := ecKey(t, elliptic.P256())
		p.rootKey = rk
		p.root = issue(t, caTemplate("mailseal test root"), caTemplate("mailseal test root"), rk.Public(), rk)
		ik := ecKey(t, elliptic.P256())
		p.interKey = ik
		p.inter = issue(t, caTemplate("mailseal test intermediate"), p.root, ik.Public(), rk)
		rsk := rsaKey(t, 3072)
		p.rsaKey = rsk
		p.rsaCert = issue(t, leafTemplate("rsa@corp.example"), p.inter, rsk.Public(), ik)
		ek := ecKey(t, elliptic.P256())
		p.ecKey = ek
		p.ecCert = issue(t, leafTemplate("ec@corp.example"), p.inter, ek.Public(), ik)
		pki = p
	})
	if pki == nil {
		t.Fatal("test PKI generation failed")
	}
	return pki
}

func (p *testPKI) chain() []*x509.Certificate { return []*x509.Certificate{p.inter, p.root} }

func (p *testPKI) signer(t testing.TB, kind string, opts ...SignerOption) *Signer {
	t.Helper()
	key, cert := p.rsaKey, p.rsaCert
	if kind == "ecdsa" {
		key, cert = p.ecKey, p.ecCert
	}
	s, err := NewSigner(key, cert, p.chain(), opts...)
	if err != nil {
		t.Fatalf("NewSigner(%s): %v", kind, err)
	}
	return s
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
