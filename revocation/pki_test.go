package revocation

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// testPKI is a CA made by the test: its root, keys and certificates it issued.
type testPKI struct {
	t    testing.TB
	dir  string
	ca   *x509.Certificate
	key  crypto.Signer
	next atomic.Int64
}

func newTestPKI(t testing.TB, name string) *testPKI {
	t.Helper()
	p := &testPKI{t: t, dir: t.TempDir()}
	p.next.Store(0x1000)
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	p.ca, _ = x509.ParseCertificate(der)
	p.key = key
	return p
}

func newKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// leaf issues an S/MIME certificate naming the given OCSP, CRL and
// caIssuers URLs.
func (p *testPKI) leaf(email string, ocspURLs, crlURLs, aia []string) *x509.Certificate {
	p.t.Helper()
	return p.issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: email},
		EmailAddresses:        []string{email},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		OCSPServer:            ocspURLs,
		CRLDistributionPoints: crlURLs,
		IssuingCertificateURL: aia,
	}, newKey(p.t))
}

// responder issues a delegated OCSP responder certificate (with its key).
func (p *testPKI) responder(eku bool) (*x509.Certificate, crypto.Signer) {
	p.t.Helper()
	k := newKey(p.t)
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "OCSP responder"}, KeyUsage: x509.KeyUsageDigitalSignature}
	if eku {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}
	}
	return p.issue(tmpl, k), k
}

func (p *testPKI) issue(tmpl *x509.Certificate, key crypto.Signer) *x509.Certificate {
	p.t.Helper()
	tmpl.SerialNumber = big.NewInt(p.next.Add(1))
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(23 * time.Hour)
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, key.Public(), p.key)
	if err != nil {
		p.t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		p.t.Fatal(err)
	}
	return c
}

// crl signs a CRL listing revoked (serial → reason) valid from thisUpdate
// to nextUpdate.
func (p *testPKI) crl(revoked map[*x509.Certificate]int, thisUpdate, nextUpdate time.Time, signer crypto.Signer) []byte {
	p.t.Helper()
	var entries []x509.RevocationListEntry
	for c, reason := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: thisUpdate.Add(-time.Minute).UTC().Truncate(time.Second), ReasonCode: reason})
	}
	if signer == nil {
		signer = p.key
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(p.next.Add(1)),
		ThisUpdate:                thisUpdate,
		NextUpdate:                nextUpdate,
		RevokedCertificateEntries: entries,
	}, p.ca, signer)
	if err != nil {
		p.t.Fatal(err)
	}
	return der
}

// writePEM writes a certificate or key as PEM into the PKI's directory.
func (p *testPKI) writePEM(name string, v any) string {
	p.t.Helper()
	var blk *pem.Block
	switch v := v.(type) {
	case *x509.Certificate:
		blk = &pem.Block{Type: "CERTIFICATE", Bytes: v.Raw}
	case crypto.Signer:
		der, err := x509.MarshalPKCS8PrivateKey(v)
		if err != nil {
			p.t.Fatal(err)
		}
		blk = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		p.t.Fatal(err)
	}
	return path
}
