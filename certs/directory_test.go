package certs

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"github.com/mailseal/mailseal/pgsql/pgtest"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// partnerCert describes a test certificate for the directory.
type partnerCert struct {
	key          string // rsa-1024, rsa-2048, rsa-3072, p256, p384, p521, ed25519
	emails       []string
	subjectEmail string
	ku           x509.KeyUsage
	eku          []x509.ExtKeyUsage
	ca           bool
	notBefore    time.Time
	notAfter     time.Time
}

var (
	keyCacheMu sync.Mutex
	keyCache   = map[string]crypto.Signer{}
)

// testKey returns a key of the given kind, generated once per test binary
// (RSA generation is slow under -race).
func testKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	keyCacheMu.Lock()
	defer keyCacheMu.Unlock()
	if k, ok := keyCache[kind]; ok {
		return k
	}
	var (
		k   crypto.Signer
		err error
	)
	switch kind {
	case "rsa-1024":
		k, err = rsa.GenerateKey(rand.Reader, 1024)
	case "rsa-2048":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "rsa-3072":
		k, err = rsa.GenerateKey(rand.Reader, 3072)
	case "p256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "p521":
		k, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	keyCache[kind] = k
	return k
}

var serialSeq struct {
	sync.Mutex
	n int64
}

// makePartnerCert returns a self-signed certificate as described.
func makePartnerCert(t testing.TB, p partnerCert) *x509.Certificate {
	t.Helper()
	if p.key == "" {
		p.key = "p256"
	}
	now := newFakeClock().Now()
	if p.notBefore.IsZero() {
		p.notBefore = now.Add(-24 * time.Hour)
	}
	if p.notAfter.IsZero() {
		p.notAfter = now.Add(365 * 24 * time.Hour)
	}
	key := testKey(t, p.key)
	serialSeq.Lock()
	serialSeq.n++
	serial := big.NewInt(serialSeq.n)
	serialSeq.Unlock()
	subject := pkix.Name{CommonName: "Partner " + serial.String()}
	if p.subjectEmail != "" {
		subject.ExtraNames = []pkix.AttributeTypeAndValue{{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, Value: p.subjectEmail}}
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             p.notBefore,
		NotAfter:              p.notAfter,
		EmailAddresses:        p.emails,
		KeyUsage:              p.ku,
		ExtKeyUsage:           p.eku,
		BasicConstraintsValid: true,
		IsCA:                  p.ca,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustParse(t testing.TB, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pemCerts(list ...*x509.Certificate) []byte {
	var b strings.Builder
	for _, c := range list {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return []byte(b.String())
}

// testDirectory opens a fresh SQLite store and a Directory on clock.
func testDirectory(t *testing.T, clock *fakeClock) (*Directory, *SQLiteStore) {
	t.Helper()
	if testOnPostgres {
		s := openTestPostgres(t, pgtest.DSN(t), clock)
		return NewDirectory(s, clock.Now), s.SQLiteStore
	}
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "dir.db"), clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return NewDirectory(s, clock.Now), s
}

func TestImportCertificateChecks(t *testing.T) {
	now := newFakeClock().Now()
	enc := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	email := []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
	cases := []struct {
		name   string
		cert   partnerCert
		reason string // "" = stored
	}{
		{"rsa-2048", partnerCert{key: "rsa-2048", emails: []string{"a@partner.example"}, ku: enc, eku: email}, ""},
		{"rsa-3072", partnerCert{key: "rsa-3072", emails: []string{"a@partner.example"}, ku: enc, eku: email}, ""},
		{"p-256 key agreement", partnerCert{key: "p256", emails: []string{"a@partner.example"}, ku: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement, eku: email}, ""},
		{"p-384", partnerCert{key: "p384", emails: []string{"a@partner.example"}}, ""},
		{"no KU, any EKU", partnerCert{key: "rsa-2048", emails: []string{"a@partner.example"}, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}, ""},
		{"subject emailAddress only", partnerCert{key: "p256", subjectEmail: "a@partner.example"}, ""},
		{"rsa-1024 refused", partnerCert{key: "rsa-1024", emails: []string{"a@partner.example"}}, "RSA key of 1024 bits"},
		{"p-521 refused", partnerCert{key: "p521", emails: []string{"a@partner.example"}}, "P-256 or P-384 is required"},
		{"ed25519 refused", partnerCert{key: "ed25519", emails: []string{"a@partner.example"}}, "RSA or EC"},
		{"expired", partnerCert{key: "p256", emails: []string{"a@partner.example"}, notBefore: now.Add(-48 * time.Hour), notAfter: now.Add(-time.Hour)}, "expired on"},
		{"not yet valid", partnerCert{key: "p256", emails: []string{"a@partner.example"}, notBefore: now.Add(time.Hour)}, "not valid before"},
		{"wrong EKU", partnerCert{key: "rsa-2048", emails: []string{"a@partner.example"}, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, "emailProtection"},
		{"RSA signing only", partnerCert{key: "rsa-2048", emails: []string{"a@partner.example"}, ku: x509.KeyUsageDigitalSignature}, "keyEncipherment"},
		{"EC without key agreement", partnerCert{key: "p256", emails: []string{"a@partner.example"}, ku: x509.KeyUsageDigitalSignature}, "keyAgreement"},
		{"no email", partnerCert{key: "p256"}, "no email address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := testDirectory(t, newFakeClock())
			c := makePartnerCert(t, tc.cert)
			res, err := d.ImportCertificates(context.Background(), "partner.pem", pemCerts(c), ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.reason == "" {
				if len(res.Rejected) != 0 || len(res.Stored) != 1 {
					t.Fatalf("want stored, got %+v rejected %v", res.Stored, res.Rejected)
				}
				if res.Stored[0].Fingerprint != certFingerprint(c) || res.Stored[0].Emails[0] != "a@partner.example" {
					t.Errorf("stored %+v", res.Stored[0])
				}
				got, _, err := d.SMIMECertificate(context.Background(), "A@Partner.Example")
				if err != nil || !got.Equal(c) {
					t.Errorf("lookup: %v", err)
				}
				return
			}
			if len(res.Stored) != 0 || len(res.Rejected) != 1 {
				t.Fatalf("want one rejection, got stored %+v rejected %v", res.Stored, res.Rejected)
			}
			msg := res.Rejected[0].Error()
			if !strings.Contains(msg, "partner.pem") || !strings.Contains(msg, tc.reason) {
				t.Errorf("rejection %q does not name the file and %q", msg, tc.reason)
			}
			if _, _, err := d.SMIMECertificate(context.Background(), "a@partner.example"); !errors.Is(err, ErrNotFound) {
				t.Errorf("lookup after rejection: %v, want ErrNotFound", err)
			}
		})
	}
}

func TestImportCertificateFormats(t *testing.T) {
	leaf1 := makePartnerCert(t, partnerCert{key: "p256", emails: []string{"one@partner.example"}})
	leaf2 := makePartnerCert(t, partnerCert{key: "rsa-2048", emails: []string{"two@partner.example"}})
	ca := makePartnerCert(t, partnerCert{key: "p384", ca: true, ku: x509.KeyUsageCertSign})
	cases := []struct {
		name    string
		data    []byte
		stored  int
		skipped int
		reason  string
	}{
		{"DER", leaf1.Raw, 1, 0, ""},
		{"PEM with two certificates and a CA", pemCerts(leaf1, ca, leaf2), 2, 1, ""},
		{"PEM CA only", pemCerts(ca), 0, 1, "no recipient certificate"},
		{"same certificate twice", pemCerts(leaf1, leaf1), 1, 0, ""},
		{"garbage", []byte("hello"), 0, 0, "neither PEM nor a DER certificate"},
		{"PEM without certificates", []byte("-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n"), 0, 0, "no CERTIFICATE"},
		{"broken PEM certificate", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0, 0, "PEM block 1"},
		{"empty", nil, 0, 0, "neither PEM"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := testDirectory(t, newFakeClock())
			res, err := d.ImportCertificates(context.Background(), "in.file", tc.data, ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Stored) != tc.stored || len(res.Skipped) != tc.skipped {
				t.Errorf("stored %d skipped %d (%v), want %d, %d", len(res.Stored), len(res.Skipped), res.Skipped, tc.stored, tc.skipped)
			}
			if tc.reason == "" && len(res.Rejected) != 0 {
				t.Errorf("rejected: %v", res.Rejected)
			}
			if tc.reason != "" && (len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0].Error(), tc.reason) || res.Rejected[0].File != "in.file") {
				t.Errorf("rejected %v, want one naming in.file with %q", res.Rejected, tc.reason)
			}
		})
	}
}

func TestSMIMELookup(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	now := clock.Now()
	d, _ := testDirectory(t, clock)
	older := makePartnerCert(t, partnerCert{key: "rsa-2048", emails: []string{"Bob@Partner.example"}, notBefore: now.Add(-72 * time.Hour)})
	newer := makePartnerCert(t, partnerCert{key: "p256", emails: []string{"bob@partner.example"}, notBefore: now.Add(-time.Hour), notAfter: now.Add(48 * time.Hour)})
	idn := makePartnerCert(t, partnerCert{key: "p384", emails: []string{"user@xn--bcher-kva.example"}})
	for _, c := range []*x509.Certificate{newer, older, idn} {
		if res, err := d.ImportCertificates(ctx, "f", c.Raw, ImportOptions{Trust: TrustVerified}); err != nil || len(res.Stored) != 1 {
			t.Fatalf("import: %v %+v", err, res)
		}
	}
	trust := map[string]TrustLevel{}
	lookup := func(addr string) *x509.Certificate {
		t.Helper()
		c, rec, err := d.SMIMECertificate(ctx, addr)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			t.Fatalf("lookup %s: %v", addr, err)
		}
		if rec.Provenance != ProvenanceImported || !c.Equal(mustParse(t, rec.CertDER)) {
			t.Errorf("record of %s: provenance %q", addr, rec.Provenance)
		}
		trust[addr] = rec.Trust
		return c
	}
	if c := lookup("BOB@partner.EXAMPLE"); c == nil || !c.Equal(newer) {
		t.Errorf("newest first: got %v", c)
	}
	if trust["BOB@partner.EXAMPLE"] != TrustVerified {
		t.Errorf("trust %q, want verified", trust["BOB@partner.EXAMPLE"])
	}
	if c := lookup("user@bücher.example"); c == nil || !c.Equal(idn) {
		t.Errorf("IDN: got %v", c)
	}
	if c := lookup("user@XN--BCHER-KVA.example"); c == nil || !c.Equal(idn) {
		t.Errorf("punycode: got %v", c)
	}
	if c := lookup("other@partner.example"); c != nil {
		t.Errorf("other address got a certificate")
	}
	// The newer one expires: the older is used.
	clock.Advance(72 * time.Hour)
	if c := lookup("bob@partner.example"); c == nil || !c.Equal(older) {
		t.Errorf("after expiry of the newer: got %v", c)
	}
	if s, p, err := d.Availability(ctx, "bob@partner.example"); err != nil || !s || p {
		t.Errorf("Availability = %v, %v, %v; want S/MIME only", s, p, err)
	}
	if s, p, err := d.Availability(ctx, "bob@bad_domain!.example"); err != nil || s || p {
		t.Errorf("Availability of an invalid address = %v, %v, %v; want no keys, no error", s, p, err)
	}
	// Removing by address takes both away; re-import brings one back.
	fps, err := d.RemoveCertificates(ctx, "bob@PARTNER.example")
	if err != nil || len(fps) != 2 {
		t.Fatalf("remove: %v %v", fps, err)
	}
	if c := lookup("bob@partner.example"); c != nil {
		t.Errorf("removed certificate still offered")
	}
	if _, err := d.RemoveCertificates(ctx, "bob@partner.example"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second remove: %v", err)
	}
	if _, err := d.ImportCertificates(ctx, "f", older.Raw, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if c := lookup("bob@partner.example"); c == nil || !c.Equal(older) {
		t.Errorf("re-import: got %v", c)
	}
	if trust["bob@partner.example"] != TrustUnverified {
		t.Errorf("re-import with default trust: %q", trust["bob@partner.example"])
	}
	// Removal by fingerprint, colons and case ignored.
	fp := strings.ToUpper(certFingerprint(idn))
	if got, err := d.RemoveCertificates(ctx, fp[:2]+":"+fp[2:]); err != nil || len(got) != 1 {
		t.Errorf("remove by fingerprint: %v %v", got, err)
	}
	if c := lookup("user@bücher.example"); c != nil {
		t.Errorf("removed IDN certificate still offered")
	}
	list, err := d.ExternalCertificates(ctx, "")
	if err != nil || len(list) != 1 || list[0].Fingerprint != certFingerprint(older) {
		t.Errorf("list: %v %v", list, err)
	}
}

func TestNormalizeAddress(t *testing.T) {
	cases := []struct{ in, want string }{
		{"User@Bücher.Example", "user@xn--bcher-kva.example"},
		{"user@xn--bcher-kva.example.", "user@xn--bcher-kva.example"},
		{"Ünï@X.example", "Ünï@x.example"},
		{"a@b@c.example", "a@b@c.example"},
	}
	for _, tc := range cases {
		if got, err := NormalizeAddress(tc.in); err != nil || got != tc.want {
			t.Errorf("NormalizeAddress(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "nobody", "@x.example", "x@", "x@bad_domain!.example"} {
		if got, err := NormalizeAddress(bad); err == nil {
			t.Errorf("NormalizeAddress(%q) = %q, want error", bad, got)
		}
	}
}

func FuzzParseCertificateFile(f *testing.F) {
	leaf := makePartnerCert(f, partnerCert{key: "p256", emails: []string{"a@partner.example"}})
	f.Add(leaf.Raw)
	f.Add(pemCerts(leaf))
	f.Add([]byte("-----BEGIN PKCS7-----\nMIIB\n-----END PKCS7-----\n"))
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := ParseCertificateFile(data)
		if err == nil && len(list) == 0 {
			t.Fatal("no error and no certificate")
		}
		for _, c := range list {
			_ = checkRecipientCert(c, time.Unix(1900000000, 0))
			_ = certAddresses(c)
		}
	})
}

func FuzzNormalizeAddress(f *testing.F) {
	for _, s := range []string{"a@b.example", "User@Bücher.Example", "@", "a@xn--", "a@-x-.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeAddress(s)
		if err != nil {
			return
		}
		// Normal forms are fixed points: the store relies on it.
		if again, err := NormalizeAddress(n); err != nil || again != n {
			t.Fatalf("NormalizeAddress(%q) = %q, again %q, %v", s, n, again, err)
		}
	})
}

// brokenStore fails every partner lookup, like a database that went away.
type brokenStore struct{ *SQLiteStore }

func (brokenStore) PartnerCerts(context.Context, string) ([]*PartnerCert, error) {
	return nil, errors.New("certs: partner certificates: disk I/O error")
}

func TestAvailabilityStoreErrorIsTemporary(t *testing.T) {
	_, s := testDirectory(t, newFakeClock())
	d := NewDirectory(brokenStore{s}, newFakeClock().Now)
	smime, pgp, err := d.Availability(context.Background(), "bob@partner.example")
	if err == nil || !IsTemporary(err) || smime || pgp {
		t.Errorf("Availability = %v, %v, %v; want a temporary error", smime, pgp, err)
	}
}
