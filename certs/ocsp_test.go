package certs

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

func ocspAsk(t *testing.T, m *Manager, cert *x509.Certificate, h crypto.Hash) *ocsp.Response {
	t.Helper()
	req, err := ocsp.CreateRequest(cert, m.CACertificate(), &ocsp.RequestOptions{Hash: h})
	if err != nil {
		t.Fatal(err)
	}
	der, err := m.OCSPResponse(context.Background(), req)
	if err != nil {
		t.Fatalf("OCSPResponse: %v", err)
	}
	resp, err := ocsp.ParseResponseForCert(der, cert, m.CACertificate())
	if err != nil {
		t.Fatalf("parse response: %v", err)
	}
	if resp.SerialNumber.Cmp(cert.SerialNumber) != 0 || resp.IssuerHash != h {
		t.Errorf("response about %x with %v", resp.SerialNumber, resp.IssuerHash)
	}
	return resp
}

func TestOCSPResponder(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	opts := testOptions(t, clock)
	opts.OCSPURL = "http://ocsp.corp.example/ocsp"
	m := openTest(t, opts)
	alice, _, err := m.SigningIdentity(ctx, "alice@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	bob, _, err := m.SigningIdentity(ctx, "bob@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	if got := alice.Cert.OCSPServer; len(got) != 1 || got[0] != opts.OCSPURL {
		t.Errorf("AIA OCSP %v, want %s", got, opts.OCSPURL)
	}
	r := ocspAsk(t, m, alice.Cert, crypto.SHA1)
	if r.Status != ocsp.Good || !r.ThisUpdate.Equal(clock.Now()) || !r.NextUpdate.Equal(clock.Now().Add(DefaultOCSPValidity)) {
		t.Errorf("alice before revocation: status %d, %s..%s", r.Status, r.ThisUpdate, r.NextUpdate)
	}

	// Another Manager on the same store (as `mailseal certs revoke` is
	// another process next to the daemon) revokes; this one answers it at once.
	other := openTest(t, opts)
	clock.Advance(time.Minute)
	revokedAt := clock.Now()
	if err := other.Revoke(ctx, "alice@corp.example", 1); err != nil {
		t.Fatal(err)
	}
	r = ocspAsk(t, m, alice.Cert, crypto.SHA1)
	if r.Status != ocsp.Revoked || !r.RevokedAt.Equal(revokedAt) || r.RevocationReason != ocsp.KeyCompromise {
		t.Errorf("alice after revocation: status %d at %s reason %d", r.Status, r.RevokedAt, r.RevocationReason)
	}
	if r := ocspAsk(t, m, bob.Cert, crypto.SHA256); r.Status != ocsp.Good {
		t.Errorf("bob (SHA-256 CertID): status %d", r.Status)
	}

	// A serial this CA never issued: unknown, still signed and about it.
	ghost := *bob.Cert
	ghost.SerialNumber = big.NewInt(424242)
	if r := ocspAsk(t, m, &ghost, crypto.SHA1); r.Status != ocsp.Unknown {
		t.Errorf("unknown serial: status %d", r.Status)
	}

	// Another CA's certificate: unauthorized. Garbage: malformedRequest.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: bob.Cert.SerialNumber, Subject: pkix.Name{CommonName: "Other CA"}, NotBefore: clock.Now(), NotAfter: clock.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	otherCA, _ := x509.ParseCertificate(der)
	req, _ := ocsp.CreateRequest(bob.Cert, otherCA, nil)
	if resp, err := m.OCSPResponse(ctx, req); err != nil || !bytes.Equal(resp, ocsp.UnauthorizedErrorResponse) {
		t.Errorf("other CA: %x, %v", resp, err)
	}
	for _, garbage := range [][]byte{nil, []byte("GET / HTTP/1.0"), req[:len(req)-3]} {
		if resp, err := m.OCSPResponse(ctx, garbage); err != nil || !bytes.Equal(resp, ocsp.MalformedRequestErrorResponse) {
			t.Errorf("garbage %q: %x, %v", garbage, resp, err)
		}
	}
}

// The CRL a Manager serves lists a revocation made through another Manager
// on the same store right away, although its own CRL was cached.
func TestCRLSeesRevocationByAnotherProcess(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	opts := testOptions(t, clock)
	m := openTest(t, opts)
	alice, _, err := m.SigningIdentity(ctx, "alice@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	before := parseCRL(t, m)
	if len(before.RevokedCertificateEntries) != 0 {
		t.Fatal("fresh CRL lists entries")
	}
	other := openTest(t, opts)
	if err := other.Revoke(ctx, "alice@corp.example", 4); err != nil {
		t.Fatal(err)
	}
	after := parseCRL(t, m)
	if len(after.RevokedCertificateEntries) != 1 || after.RevokedCertificateEntries[0].SerialNumber.Cmp(alice.Cert.SerialNumber) != 0 ||
		after.RevokedCertificateEntries[0].ReasonCode != 4 || after.Number.Cmp(before.Number) <= 0 {
		t.Errorf("CRL after revocation elsewhere: %+v", after.RevokedCertificateEntries)
	}
	// Unchanged revocations: the signed CRL is reused.
	again, _ := m.CRL(ctx)
	if !bytes.Equal(again, after.Raw) {
		t.Error("CRL signed anew although nothing changed")
	}
}

// OCSP requests come from anyone who reaches admin_listen.
func FuzzOCSPRequest(f *testing.F) {
	clock := newFakeClock()
	dir := f.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		f.Fatal(err)
	}
	m, err := Open(context.Background(), Options{StateDir: dir, KeyType: KeyECDSAP256, Now: clock.Now})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	id, _, err := m.SigningIdentity(context.Background(), "alice@corp.example")
	if err != nil {
		f.Fatal(err)
	}
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA512} {
		req, err := ocsp.CreateRequest(id.Cert, m.CACertificate(), &ocsp.RequestOptions{Hash: h})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(req)
	}
	f.Add([]byte{0x30, 0x80, 0x30, 0x80, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, req []byte) {
		resp, _ := m.OCSPResponse(context.Background(), req)
		if len(resp) == 0 {
			t.Fatal("empty response")
		}
		if _, err := ocsp.ParseResponse(resp, m.CACertificate()); err != nil {
			var re ocsp.ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("our own response does not parse: %v", err)
			}
		}
	})
}
