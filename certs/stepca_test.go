package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mailseal/mailseal/certs/stepcatest"
)

// startStepCA writes and starts a real step-ca for the test.
func startStepCA(t *testing.T, o stepcatest.Options) *stepcatest.CA {
	t.Helper()
	ca, err := stepcatest.New(t.TempDir(), o)
	if err != nil {
		t.Fatalf("step-ca: %v", err)
	}
	if err := ca.Start(time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ca.Stop()
		if t.Failed() {
			t.Logf("step-ca log:\n%s", ca.Log())
		}
	})
	return ca
}

func newStepIssuer(t *testing.T, ca *stepcatest.CA) *StepCA {
	t.Helper()
	key, err := LoadStepCAKeyFile(ca.KeyFile, ca.PasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := NewStepCA(StepCAConfig{URL: ca.URL, Root: ca.Root, Provisioner: ca.Provisioner, Key: key, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// TestStepCAIssuer issues, renews and survives an outage through a real
// step-ca whose JWK provisioner's template makes S/MIME certificates.
func TestStepCAIssuer(t *testing.T) {
	ctx := context.Background()
	ca := startStepCA(t, stepcatest.Options{})
	clock := &fakeClock{t: time.Now()}
	opts := testOptions(t, clock)
	opts.Issuer = newStepIssuer(t, ca)
	opts.KeyType = KeyRSA2048
	opts.Validity = 2 * time.Hour
	opts.RenewBefore = time.Hour
	opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	m := openTest(t, opts)

	alice, issued, err := m.SigningIdentity(ctx, "alice@corp.example")
	if err != nil || !issued {
		t.Fatalf("first identity: issued %v, %v", issued, err)
	}
	c := alice.Cert
	if c.Issuer.CommonName != "Test step-ca Intermediate" || !slices.Equal(c.EmailAddresses, []string{"alice@corp.example"}) ||
		!slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageEmailProtection) || c.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
		t.Fatalf("certificate: issuer %q, emails %v, EKU %v, KU %b", c.Issuer.CommonName, c.EmailAddresses, c.ExtKeyUsage, c.KeyUsage)
	}
	if d := c.NotAfter.Sub(clock.Now().Add(opts.Validity)); d < -2*time.Minute || d > 2*time.Minute {
		t.Errorf("NotAfter %s, want about now + ca.validity", c.NotAfter)
	}
	if len(alice.Chain) != 2 || !alice.Chain[1].Equal(ca.Root) || !m.CACertificate().Equal(ca.Root) {
		t.Fatalf("chain of %d, want intermediate and root", len(alice.Chain))
	}
	// openssl agrees: S/MIME purposes under step's root.
	dir := t.TempDir()
	leaf, inter := filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "inter.pem")
	os.WriteFile(leaf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600)
	os.WriteFile(inter, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: alice.Chain[0].Raw}), 0o600)
	for _, purpose := range []string{"smimesign", "smimeencrypt"} {
		if out, err := exec.Command(opensslPath, "verify", "-purpose", purpose, "-CAfile", ca.RootFile, "-untrusted", inter, leaf).CombinedOutput(); err != nil {
			t.Errorf("openssl verify -purpose %s: %v\n%s", purpose, err, out)
		}
	}

	// The CA goes away: alice keeps her certificate, bob gets a temporary error.
	ca.Stop()
	if id, _, err := m.SigningIdentity(ctx, "alice@corp.example"); err != nil || !id.Cert.Equal(c) {
		t.Fatalf("alice while the CA is down: %v", err)
	}
	if _, _, err := m.SigningIdentity(ctx, "bob@corp.example"); err == nil || !IsTemporary(err) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("bob while the CA is down: %v, want a temporary 'unreachable' error", err)
	}
	// Alice's certificate falls due during the outage: she still signs
	// with it, and the renewer reports the failure.
	clock.Advance(70 * time.Minute)
	if id, _, err := m.SigningIdentity(ctx, "alice@corp.example"); err != nil || !id.Cert.Equal(c) {
		t.Fatalf("alice due for renewal while the CA is down: %v", err)
	}
	if n, err := m.RenewDue(ctx); n != 0 || err == nil {
		t.Fatalf("renewal while the CA is down: %d renewed, err %v", n, err)
	}

	// Back: bob is issued, alice renewed through step-ca.
	if err := ca.Start(time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, issued, err := m.SigningIdentity(ctx, "bob@corp.example"); err != nil || !issued {
		t.Fatalf("bob after the CA is back: issued %v, %v", issued, err)
	}
	if n, err := m.RenewDue(ctx); n != 1 || err != nil {
		t.Fatalf("renewal through step-ca: %d renewed, err %v", n, err)
	}
	renewed, _, err := m.SigningIdentity(ctx, "alice@corp.example")
	if err != nil || renewed.Cert.Equal(c) || renewed.Cert.Issuer.CommonName != "Test step-ca Intermediate" {
		t.Fatalf("alice after renewal: %v (same certificate: %v)", err, err == nil && renewed.Cert.Equal(c))
	}

	// Revocation reaches step-ca (its database records it).
	if err := m.Revoke(ctx, "bob@corp.example", 4); err != nil {
		t.Fatalf("revoke through step-ca: %v", err)
	}
}

// TestStepCARefusals: a provisioner key step-ca does not know and a root
// that is not step-ca's are refused; neither yields a certificate.
func TestStepCARefusals(t *testing.T) {
	ctx := context.Background()
	ca := startStepCA(t, stepcatest.Options{})
	good := newStepIssuer(t, ca)
	csrKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{EmailAddresses: []string{"x@corp.example"}}, csrKey)
	csr, _ := x509.ParseCertificateRequest(csrDER)
	req := &IssueRequest{Email: "x@corp.example", PublicKey: csrKey.Public(), CSR: csr, NotAfter: time.Now().Add(time.Hour)}
	if _, err := good.Issue(ctx, req); err != nil {
		t.Fatalf("good issuer: %v", err)
	}

	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forged := &jose.JSONWebKey{Key: other, KeyID: good.cfg.Key.KeyID, Algorithm: "ES256"}
	bad, err := NewStepCA(StepCAConfig{URL: ca.URL, Root: ca.Root, Provisioner: ca.Provisioner, Key: forged})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Issue(ctx, req); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("forged provisioner key: %v, want a 401 refusal", err)
	}

	otherCA, err := stepcatest.New(t.TempDir(), stepcatest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := NewStepCA(StepCAConfig{URL: ca.URL, Root: otherCA.Root, Provisioner: ca.Provisioner, Key: good.cfg.Key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pinned.Issue(ctx, req); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("wrong pinned root: %v, want a TLS verification failure", err)
	}
}

func TestLoadStepCAKey(t *testing.T) {
	ca, err := stepcatest.New(t.TempDir(), stepcatest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := os.ReadFile(ca.PlainKeyFile)
	enc, _ := os.ReadFile(ca.KeyFile)
	pw, _ := os.ReadFile(ca.PasswordFile)
	pw = []byte(strings.TrimSpace(string(pw)))
	var pubJWK jose.JSONWebKey
	pubJWK.UnmarshalJSON(plain)
	pub, _ := pubJWK.Public().MarshalJSON()
	for _, tc := range []struct {
		name     string
		data, pw []byte
		want     string // error substring; "" = ok
	}{
		{"plain", plain, nil, ""},
		{"encrypted", enc, pw, ""},
		{"encrypted, no password", enc, nil, "a password is needed"},
		{"encrypted, wrong password", enc, []byte("wrong"), "wrong password"},
		{"public only", pub, nil, "public key"},
		{"garbage", []byte("not a key"), []byte("pw"), "neither a JWK nor"},
		{"empty JSON", []byte("{}"), nil, "step-ca provisioner key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := LoadStepCAKey(tc.data, tc.pw)
			if tc.want == "" {
				if err != nil || k.KeyID != pubJWK.KeyID || k.IsPublic() {
					t.Fatalf("got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzLoadStepCAKey(f *testing.F) {
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}`), []byte(""))
	f.Add([]byte(`eyJhbGciOiJQQkVTMi1IUzI1NitBMTI4S1ciLCJlbmMiOiJBMjU2R0NNIiwicDJjIjoxMDAwMCwicDJzIjoiQUFBQSJ9.AA.AA.AA.AA`), []byte("pw"))
	f.Add([]byte(`{"protected":"e30","encrypted_key":"AA","iv":"AA","ciphertext":"AA","tag":"AA"}`), []byte("pw"))
	f.Fuzz(func(t *testing.T, data, pw []byte) {
		if len(data) > 1<<16 {
			return
		}
		LoadStepCAKey(data, pw)
	})
}

func FuzzStepAnswer(f *testing.F) {
	f.Add([]byte(`{"crt":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n","ca":"","certChain":[]}`))
	f.Add([]byte(`{"certChain":["x","y"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var resp stepSignResponse
		if json.Unmarshal(data, &resp) != nil {
			return
		}
		stepAnswerCerts(&resp)
	})
}
