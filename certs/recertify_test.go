package certs

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A domain added to internal_domains after the CA was made: RecertifyCA
// extends the constraints with the same key, so earlier certificates stay
// valid, the new domain gets certificates, and signed mail carries the new
// CA certificate.
func TestRecertifyCA(t *testing.T) {
	if _, err := os.Stat(opensslPath); err != nil {
		t.Fatalf("openssl is required for this test: %v", err)
	}
	ctx := context.Background()
	opts := testOptions(t, newFakeClock())
	opts.Now = nil // openssl verifies at the real time
	opts.InternalDomains = []string{"corp.example"}
	m := openTest(t, opts)
	oldCA := m.CACertificate()
	alice, _, err := m.SigningIdentity(ctx, "alice@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	m.Close()

	opts.InternalDomains = []string{"corp.example", "new.example"}
	m = openTest(t, opts)
	if _, _, err := m.SigningIdentity(ctx, "bob@new.example"); err == nil {
		t.Fatal("issued for a domain outside the CA's constraints")
	}
	newCA, err := m.RecertifyCA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(newCA.PermittedEmailAddresses, []string{"corp.example", ".corp.example", "new.example", ".new.example"}) ||
		newCA.Subject.String() != oldCA.Subject.String() || !newCA.NotAfter.Equal(oldCA.NotAfter) ||
		string(newCA.RawSubjectPublicKeyInfo) != string(oldCA.RawSubjectPublicKeyInfo) || newCA.SerialNumber.Cmp(oldCA.SerialNumber) == 0 {
		t.Fatalf("re-certified CA: %v, subject %s", newCA.PermittedEmailAddresses, newCA.Subject)
	}
	if ws := m.CAWarnings(opts.InternalDomains); len(ws) != 0 {
		t.Errorf("warnings after re-certifying: %q", ws)
	}
	bob, _, err := m.SigningIdentity(ctx, "bob@new.example")
	if err != nil {
		t.Fatalf("after re-certifying: %v", err)
	}
	m.Close()

	// The next start loads the new CA; alice's stored chain is replaced by it.
	m = openTest(t, opts)
	if !m.CACertificate().Equal(newCA) {
		t.Fatal("the store still holds the old CA certificate")
	}
	alice2, _, err := m.SigningIdentity(ctx, "alice@corp.example")
	if err != nil || alice2.Cert.SerialNumber.Cmp(alice.Cert.SerialNumber) != 0 {
		t.Fatalf("alice's certificate changed: %v", err)
	}
	if len(alice2.Chain) != 1 || !alice2.Chain[0].Equal(newCA) {
		t.Error("alice's chain is not the re-certified CA")
	}

	dir := t.TempDir()
	write := func(name string, c *x509.Certificate) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldPath, newPath := write("old.pem", oldCA), write("new.pem", newCA)
	verify := func(ca, leaf string) (string, error) {
		out, err := exec.Command(opensslPath, "verify", "-purpose", "smimesign", "-CAfile", ca, leaf).CombinedOutput()
		return string(out), err
	}
	alicePath, bobPath := write("alice.pem", alice.Cert), write("bob.pem", bob.Cert)
	for _, leaf := range []string{alicePath, bobPath} {
		if out, err := verify(newPath, leaf); err != nil {
			t.Errorf("openssl: %s under the re-certified CA: %v\n%s", filepath.Base(leaf), err, out)
		}
	}
	if out, err := verify(oldPath, alicePath); err != nil {
		t.Errorf("openssl: alice under the old CA: %v\n%s", err, out)
	}
	// Partners who keep the old CA keep its limits.
	if out, err := verify(oldPath, bobPath); err == nil || !strings.Contains(out, "permitted subtree violation") {
		t.Errorf("openssl accepted bob@new.example under the old CA: %v\n%s", err, out)
	}

	// Another process's change is never overwritten.
	if err := m.store.ReplaceCA(ctx, oldCA.Raw, &CARecord{Name: builtinCAName, CertDER: oldCA.Raw, KeySealed: []byte("x")}); err == nil {
		t.Error("ReplaceCA replaced a CA that had changed meanwhile")
	}
	opts.InternalDomains = []string{}
	m2, err := newManager(ctx, mustDefaults(t, opts), m.store)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m2.RecertifyCA(ctx); err == nil || !strings.Contains(err.Error(), "internal_domains is empty") {
		t.Errorf("RecertifyCA without domains: %v", err)
	}
}
