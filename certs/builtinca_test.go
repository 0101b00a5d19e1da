package certs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"slices"
	"testing"
	"time"
)

func TestBuiltinCARoot(t *testing.T) {
	clock := newFakeClock()
	m := openTest(t, testOptions(t, clock))
	ca := m.CACertificate()
	if ca == nil {
		t.Fatal("no CA certificate")
	}
	if !ca.IsCA || !ca.BasicConstraintsValid || ca.MaxPathLen != 0 || !ca.MaxPathLenZero {
		t.Errorf("basic constraints: IsCA=%v valid=%v maxPathLen=%d", ca.IsCA, ca.BasicConstraintsValid, ca.MaxPathLen)
	}
	if ca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("KeyUsage = %v", ca.KeyUsage)
	}
	if len(ca.SubjectKeyId) != 20 {
		t.Errorf("SubjectKeyId = %x", ca.SubjectKeyId)
	}
	if ca.Subject.CommonName != DefaultCAName {
		t.Errorf("CN = %q", ca.Subject.CommonName)
	}
	if err := ca.CheckSignatureFrom(ca); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if pub, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P384() {
		t.Errorf("CA key %T, want ECDSA P-384", ca.PublicKey)
	}
	if got := ca.NotAfter.Sub(clock.Now()); got != DefaultCAValidity {
		t.Errorf("CA validity %s", got)
	}
	if !ca.NotBefore.Equal(clock.Now().Add(-5 * time.Minute)) {
		t.Errorf("CA NotBefore %s", ca.NotBefore)
	}
}

func TestIssuedCertificateFields(t *testing.T) {
	tests := []struct {
		keyType KeyType
		bits    int
		ku      x509.KeyUsage
		crlURL  string
	}{
		{KeyRSA3072, 3072, x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, "http://127.0.0.1:8892/ca.crl"},
		{KeyRSA2048, 2048, x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ""},
		{KeyECDSAP256, 256, x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement, "http://crl.example/ca.crl"},
	}
	for _, tt := range tests {
		t.Run(string(tt.keyType), func(t *testing.T) {
			clock := newFakeClock()
			opts := testOptions(t, clock)
			opts.KeyType = tt.keyType
			opts.CRLURL = tt.crlURL
			opts.Validity = 90 * 24 * time.Hour
			opts.RenewBefore = 10 * 24 * time.Hour
			m := openTest(t, opts)
			id, issued, err := m.SigningIdentity(context.Background(), "  Alice.Smith@Corp.Example ")
			if err != nil || !issued {
				t.Fatalf("SigningIdentity = issued %v, %v", issued, err)
			}
			c := id.Cert
			if id.Email != "alice.smith@corp.example" || c.Subject.CommonName != id.Email {
				t.Errorf("email %q, CN %q", id.Email, c.Subject.CommonName)
			}
			if !slices.Equal(c.EmailAddresses, []string{id.Email}) {
				t.Errorf("SAN emails %v", c.EmailAddresses)
			}
			if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}) {
				t.Errorf("EKU %v", c.ExtKeyUsage)
			}
			if c.KeyUsage != tt.ku {
				t.Errorf("KeyUsage %b, want %b", c.KeyUsage, tt.ku)
			}
			if c.IsCA || !c.BasicConstraintsValid {
				t.Errorf("basic constraints IsCA=%v", c.IsCA)
			}
			wantDP := []string(nil)
			if tt.crlURL != "" {
				wantDP = []string{tt.crlURL}
			}
			if !slices.Equal(c.CRLDistributionPoints, wantDP) {
				t.Errorf("CRL DP %v, want %v", c.CRLDistributionPoints, wantDP)
			}
			switch pub := c.PublicKey.(type) {
			case *rsa.PublicKey:
				if pub.N.BitLen() != tt.bits {
					t.Errorf("RSA %d bits", pub.N.BitLen())
				}
			case *ecdsa.PublicKey:
				if pub.Curve != elliptic.P256() || tt.bits != 256 {
					t.Errorf("ECDSA curve %s", pub.Curve.Params().Name)
				}
			default:
				t.Errorf("public key %T", pub)
			}
			if !publicKeysEqual(id.Key.Public(), c.PublicKey) {
				t.Error("identity key does not match certificate")
			}
			now := clock.Now()
			if !c.NotBefore.Equal(now.Add(-5*time.Minute)) || !c.NotAfter.Equal(now.Add(opts.Validity)) {
				t.Errorf("validity %s .. %s (now %s)", c.NotBefore, c.NotAfter, now)
			}
			if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 || c.SerialNumber.BitLen() < 64 {
				t.Errorf("serial %x", c.SerialNumber)
			}
			ca := m.CACertificate()
			if !bytes.Equal(c.AuthorityKeyId, ca.SubjectKeyId) || len(c.SubjectKeyId) == 0 {
				t.Errorf("AKI %x, CA SKI %x, SKI %x", c.AuthorityKeyId, ca.SubjectKeyId, c.SubjectKeyId)
			}
			if len(id.Chain) != 1 || !id.Chain[0].Equal(ca) {
				t.Errorf("chain has %d certs", len(id.Chain))
			}
			roots := x509.NewCertPool()
			roots.AddCert(ca)
			if _, err := c.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}); err != nil {
				t.Errorf("verify: %v", err)
			}
			info, err := m.Show(context.Background(), "ALICE.SMITH@corp.example")
			if err != nil || info.Serial != c.SerialNumber.Text(16) || info.KeyType != string(tt.keyType) || info.Revoked {
				t.Errorf("Show = %+v, %v", info, err)
			}
		})
	}
}

func TestBuiltinCARejects(t *testing.T) {
	clock := newFakeClock()
	m := openTest(t, testOptions(t, clock))
	ca := m.issuer.(*BuiltinCA)
	key, _ := KeyECDSAP256.generate(rand.Reader)
	other, _ := KeyECDSAP256.generate(rand.Reader)
	now := clock.Now()
	tests := []struct {
		name string
		req  *IssueRequest
	}{
		{"nil", nil},
		{"no email", &IssueRequest{PublicKey: key.Public(), NotBefore: now, NotAfter: now.Add(time.Hour)}},
		{"no key", &IssueRequest{Email: "a@b.example", NotBefore: now, NotAfter: now.Add(time.Hour)}},
		{"empty validity", &IssueRequest{Email: "a@b.example", PublicKey: key.Public(), NotBefore: now, NotAfter: now}},
		{"bad key type", &IssueRequest{Email: "a@b.example", PublicKey: "nope", NotBefore: now, NotAfter: now.Add(time.Hour)}},
	}
	for _, tt := range tests {
		if _, err := ca.Issue(context.Background(), tt.req); err == nil {
			t.Errorf("%s: issued", tt.name)
		}
	}
	if _, err := NewBuiltinCA(ca.cert, other, "", nil); err == nil {
		t.Error("NewBuiltinCA accepted a key that does not match")
	}
	// Validity is cut at the CA's NotAfter.
	resp, err := ca.Issue(context.Background(), &IssueRequest{Email: "a@b.example", PublicKey: key.Public(),
		NotBefore: now, NotAfter: now.Add(20 * 365 * 24 * time.Hour)})
	if err != nil || !resp.Certificate.NotAfter.Equal(ca.cert.NotAfter) {
		t.Errorf("long request: %v", err)
	}
}
