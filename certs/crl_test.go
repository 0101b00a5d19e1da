package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

func TestRevokeAppearsInCRL(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	m := openTest(t, testOptions(t, clock))
	alice, _, err := m.SigningIdentity(ctx, "alice@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	bob, _, err := m.SigningIdentity(ctx, "bob@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	empty := parseCRL(t, m)
	if len(empty.RevokedCertificateEntries) != 0 {
		t.Fatalf("fresh CRL lists %d entries", len(empty.RevokedCertificateEntries))
	}
	again, _ := m.CRL(ctx)
	if !bytes.Equal(again, empty.Raw) {
		t.Error("CRL not cached")
	}

	clock.Advance(time.Minute)
	if err := m.Revoke(ctx, "Alice@Corp.Example", 1); err != nil {
		t.Fatal(err)
	}
	crl := parseCRL(t, m)
	if crl.Number.Cmp(empty.Number) <= 0 {
		t.Errorf("CRL number %s not above %s", crl.Number, empty.Number)
	}
	if len(crl.RevokedCertificateEntries) != 1 {
		t.Fatalf("CRL lists %d entries, want 1", len(crl.RevokedCertificateEntries))
	}
	e := crl.RevokedCertificateEntries[0]
	if e.SerialNumber.Cmp(alice.Cert.SerialNumber) != 0 || e.ReasonCode != 1 || !e.RevocationTime.Equal(clock.Now()) {
		t.Errorf("entry %x reason %d at %s", e.SerialNumber, e.ReasonCode, e.RevocationTime)
	}
	if e.SerialNumber.Cmp(bob.Cert.SerialNumber) == 0 {
		t.Error("bob listed")
	}
	if info, _ := m.Show(ctx, "alice@corp.example"); !info.Revoked {
		t.Error("Show does not report revocation")
	}

	// The next signing call replaces the revoked certificate.
	alice2, issued, err := m.SigningIdentity(ctx, "alice@corp.example")
	if err != nil || !issued || alice2.Cert.Equal(alice.Cert) {
		t.Fatalf("after revoke: issued %v, %v", issued, err)
	}
	if err := m.Revoke(ctx, "nobody@corp.example", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Revoke unknown = %v", err)
	}
	if err := m.Revoke(ctx, "bob@corp.example", 7); err == nil {
		t.Error("reason 7 accepted")
	}

	// A cached CRL is signed anew after CRLRefresh.
	cached, _ := m.CRL(ctx)
	clock.Advance(DefaultCRLRefresh + time.Second)
	fresh := parseCRL(t, m)
	if bytes.Equal(cached, fresh.Raw) || !fresh.ThisUpdate.Equal(clock.Now()) {
		t.Error("CRL not refreshed after CRLRefresh")
	}
	// Expired revoked certificates drop off.
	clock.Advance(DefaultValidity)
	if late := parseCRL(t, m); len(late.RevokedCertificateEntries) != 0 {
		t.Errorf("expired entry still listed")
	}
}

// parseCRL fetches, parses and checks the Manager's CRL against its CA.
func parseCRL(t *testing.T, m *Manager) *x509.RevocationList {
	t.Helper()
	der, err := m.CRL(context.Background())
	if err != nil {
		t.Fatalf("CRL: %v", err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("ParseRevocationList: %v", err)
	}
	if err := crl.CheckSignatureFrom(m.CACertificate()); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	if !crl.NextUpdate.After(crl.ThisUpdate) || !bytes.Equal(crl.AuthorityKeyId, m.CACertificate().SubjectKeyId) {
		t.Errorf("CRL NextUpdate %s ThisUpdate %s AKI %x", crl.NextUpdate, crl.ThisUpdate, crl.AuthorityKeyId)
	}
	return crl
}
