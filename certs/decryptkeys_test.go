package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"testing"
)

// TestDecryptionKeysKeepOldCertificates: after renewal and revocation the
// older certificates and OpenPGP keys are still handed out for decryption,
// newest first, and nothing is issued for an unknown address.
func TestDecryptionKeysKeepOldCertificates(t *testing.T) {
	ctx := context.Background()
	m := openTest(t, testOptions(t, newFakeClock()))
	first, _, err := m.SigningIdentity(ctx, "alice@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	second, err := m.Issue(ctx, "Alice@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := m.DecryptionKeys(ctx, "ALICE@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !keys[0].Cert.Equal(second.Cert) || !keys[1].Cert.Equal(first.Cert) {
		t.Fatalf("got %d keys", len(keys))
	}
	a, _ := x509.MarshalPKIXPublicKey(keys[1].Cert.PublicKey)
	b, _ := x509.MarshalPKIXPublicKey(keys[1].Key.Public())
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatal("old certificate without its own key")
	}
	none, err := m.DecryptionKeys(ctx, "nobody@corp.example")
	if err != nil || len(none) != 0 {
		t.Fatalf("unknown address: %d keys, %v", len(none), err)
	}
	if l, _ := m.List(ctx); len(l) != 1 {
		t.Fatalf("DecryptionKeys issued certificates: %d listed", len(l))
	}

	pgp1, _, err := m.PGPIdentity(ctx, "alice@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.RevokePGPKey(ctx, "alice@corp.example"); err != nil {
		t.Fatal(err)
	}
	pgp2, _, err := m.PGPIdentity(ctx, "alice@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	pk, err := m.PGPDecryptionKeys(ctx, "alice@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(pk) != 2 || pk[0].Fingerprint != pgp2.Fingerprint || pk[1].Fingerprint != pgp1.Fingerprint || pk[1].Entity == nil {
		t.Fatalf("OpenPGP keys: %d", len(pk))
	}
	if none, err := m.PGPDecryptionKeys(ctx, "nobody@corp.example"); err != nil || len(none) != 0 {
		t.Fatalf("unknown address: %d keys, %v", len(none), err)
	}
}
