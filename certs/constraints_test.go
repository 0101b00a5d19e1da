package certs

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var oidNameConstraints = asn1.ObjectIdentifier{2, 5, 29, 30}

func TestBuiltinCANameConstraints(t *testing.T) {
	ctx := context.Background()
	opts := testOptions(t, newFakeClock())
	opts.CASubject = pkix.Name{CommonName: "Corp Mail CA", Organization: []string{"Corp"}, Country: []string{"DE"}}
	opts.InternalDomains = []string{"corp.example", "Corp.Test."}
	m := openTest(t, opts)
	ca := m.CACertificate()
	if got := ca.Subject.String(); got != "CN=Corp Mail CA,O=Corp,C=DE" {
		t.Errorf("subject %q", got)
	}
	want := []string{"corp.example", ".corp.example", "corp.test", ".corp.test"}
	if !slices.Equal(ca.PermittedEmailAddresses, want) || len(ca.PermittedDNSDomains) != 0 {
		t.Errorf("permitted email %v (dns %v), want %v", ca.PermittedEmailAddresses, ca.PermittedDNSDomains, want)
	}
	for _, e := range ca.Extensions {
		if e.Id.Equal(oidNameConstraints) && e.Critical {
			t.Error("name constraints are critical: gpgsm would refuse the CA")
		}
	}
	if ws := m.CAWarnings(opts.InternalDomains); len(ws) != 0 {
		t.Errorf("warnings for covered domains: %q", ws)
	}

	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, email := range []string{"alice@corp.example", "bob@eu.corp.example", "carol@corp.test"} {
		id, _, err := m.SigningIdentity(ctx, email)
		if err != nil {
			t.Fatalf("%s: %v", email, err)
		}
		// Go enforces name constraints while verifying.
		if _, err := id.Cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: opts.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}); err != nil {
			t.Errorf("%s: Go does not verify it under the constrained CA: %v", email, err)
		}
	}
	// The CA refuses what its constraints do not permit, with a clear error,
	// whoever asks (a domain added to internal_domains after the CA was made).
	for _, email := range []string{"x@other.example", "x@evilcorp.example", "x@corp.example.evil"} {
		if _, _, err := m.SigningIdentity(ctx, email); err == nil || !strings.Contains(err.Error(), "outside the CA's name constraints") {
			t.Errorf("SigningIdentity(%s) = %v, want a name constraints error", email, err)
		}
	}
	// Issue (the CLI) refuses addresses outside internal_domains first.
	if _, err := m.Issue(ctx, "x@other.example"); err == nil || !strings.Contains(err.Error(), "x@other.example is not in internal_domains (corp.example, Corp.Test.)") {
		t.Errorf("Issue outside internal_domains: %v", err)
	}
	if _, err := m.Issue(ctx, "dave@sub.corp.test"); err != nil {
		t.Errorf("Issue inside internal_domains: %v", err)
	}
}

// A CA made for other domains (internal_domains changed later) is reported.
func TestCAWarningsForExistingCA(t *testing.T) {
	opts := testOptions(t, newFakeClock())
	opts.InternalDomains = []string{"corp.example"}
	m := openTest(t, opts)
	m.Close()
	opts.InternalDomains = []string{"corp.example", "new.example", "eu.corp.example"}
	m = openTest(t, opts)
	ws := m.CAWarnings(opts.InternalDomains)
	if len(ws) != 1 || !strings.Contains(ws[0], "internal domain new.example is outside the name constraints") {
		t.Errorf("warnings %q", ws)
	}
	if _, _, err := m.SigningIdentity(context.Background(), "a@new.example"); err == nil || !strings.Contains(err.Error(), "outside the CA's name constraints") {
		t.Errorf("issued for a domain the CA does not cover: %v", err)
	}

	// Without internal_domains at creation the CA is unconstrained: say so.
	opts = testOptions(t, newFakeClock())
	m = openTest(t, opts)
	if ws := m.CAWarnings([]string{"corp.example"}); len(ws) != 1 || !strings.Contains(ws[0], "has no name constraints") {
		t.Errorf("unconstrained CA: warnings %q", ws)
	}
	// An empty (not nil) internal_domains refuses every `certs issue`.
	opts.InternalDomains = []string{}
	m2, err := newManager(context.Background(), mustDefaults(t, opts), m.store)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m2.Issue(context.Background(), "a@corp.example"); err == nil || !strings.Contains(err.Error(), "which is empty") {
		t.Errorf("Issue with empty internal_domains: %v", err)
	}
}

func mustDefaults(t *testing.T, o Options) Options {
	t.Helper()
	o, err := o.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestHostPermitted(t *testing.T) {
	ca := &x509.Certificate{PermittedEmailAddresses: []string{"corp.example", ".corp.example", "ops@partner.example"}}
	for _, tc := range []struct {
		email string
		want  bool
	}{
		{"a@corp.example", true}, {"a@CORP.example", true}, {"a@eu.corp.example", true},
		{"a@evilcorp.example", false}, {"a@corp.example.evil", false}, {"a@partner.example", false},
		{"ops@partner.example", true}, {"a@corp.e\u212Aample", false}, {"no-at", false},
	} {
		if got := emailPermitted(ca, tc.email); got != tc.want {
			t.Errorf("emailPermitted(%q) = %v, want %v", tc.email, got, tc.want)
		}
	}
	if !domainCovered(ca, "corp.example") || !domainCovered(ca, "eu.corp.example") || domainCovered(ca, "partner.example") {
		t.Error("domainCovered")
	}
	onlyHost := &x509.Certificate{PermittedEmailAddresses: []string{"corp.example"}}
	if domainCovered(onlyHost, "corp.example") {
		t.Error("a constraint without subdomains covers the subdomains of an internal domain")
	}
}

// Addresses that differ from an internal one only by Unicode case folding
// (KELVIN SIGN U+212A folds to 'k') never get that address's certificate.
func TestKelvinSignIsNotK(t *testing.T) {
	m := openTest(t, testOptions(t, newFakeClock()))
	ctx := context.Background()
	for _, e := range []string{"\u212Aate@corp.example", "kate@corp.e\u212Aample", "\u212Aate@corp.example "} {
		if id, _, err := m.SigningIdentity(ctx, e); err == nil {
			t.Errorf("SigningIdentity(%q) issued for %v", e, id.Cert.EmailAddresses)
		}
		if id, err := m.Issue(ctx, e); err == nil {
			t.Errorf("Issue(%q) issued for %v", e, id.Cert.EmailAddresses)
		}
	}
	if _, err := m.Show(ctx, "kate@corp.example"); err == nil {
		t.Error("a certificate for kate@corp.example exists")
	}
}

// OpenSSL enforces the constraints (a certificate the CA key signed for
// another domain fails with a subtree violation), accepts the ones mailseal
// issues, and prints the same fingerprint.
func TestOpenSSLNameConstraints(t *testing.T) {
	if _, err := os.Stat(opensslPath); err != nil {
		t.Fatalf("openssl is required for this test: %v", err)
	}
	ctx := context.Background()
	opts := testOptions(t, newFakeClock())
	opts.Now = nil
	opts.InternalDomains = []string{"corp.example"}
	m := openTest(t, opts)
	id, _, err := m.SigningIdentity(ctx, "alice@eu.corp.example")
	if err != nil {
		t.Fatal(err)
	}
	// Bypass the CA's own check: sign a certificate for an outside address.
	ca := m.issuer.(*BuiltinCA)
	tmpl := *id.Cert
	tmpl.EmailAddresses = []string{"mallory@other.example"}
	tmpl.Subject = pkix.Name{CommonName: "mallory@other.example"}
	tmpl.SerialNumber = tmpl.SerialNumber.Add(tmpl.SerialNumber, tmpl.SerialNumber)
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	der, err := x509.CreateCertificate(opts.Rand, &tmpl, ca.cert, id.Cert.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caPath := write("ca.pem", m.CACertificate().Raw)
	out, err := exec.Command(opensslPath, "verify", "-purpose", "smimesign", "-CAfile", caPath, write("alice.pem", id.Cert.Raw)).CombinedOutput()
	if err != nil {
		t.Errorf("openssl refuses mailseal's certificate under the constrained CA: %v\n%s", err, out)
	}
	out, err = exec.Command(opensslPath, "verify", "-purpose", "smimesign", "-CAfile", caPath, write("mallory.pem", der)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "permitted subtree violation") {
		t.Errorf("openssl accepted a certificate outside the name constraints: %v\n%s", err, out)
	}
	out, err = exec.Command(opensslPath, "x509", "-in", caPath, "-noout", "-fingerprint", "-sha256").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl x509: %v\n%s", err, out)
	}
	_, fp, _ := strings.Cut(strings.TrimSpace(string(out)), "=")
	if got := FingerprintSHA256(m.CACertificate()); got != fp {
		t.Errorf("FingerprintSHA256 = %s, openssl says %s", got, fp)
	}
}
