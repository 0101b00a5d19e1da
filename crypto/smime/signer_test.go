package smime

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func TestNewSignerValidation(t *testing.T) {
	p := getPKI(t)
	tmpl := func(mod func(*x509.Certificate)) *x509.Certificate {
		c := leafTemplate("v@corp.example")
		if mod != nil {
			mod(c)
		}
		return c
	}
	ec := ecKey(t, elliptic.P256())
	ec384 := ecKey(t, elliptic.P384())
	ec521 := ecKey(t, elliptic.P521())
	rsa1024 := rsaKey(t, 1024)
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	good := issue(t, tmpl(nil), p.inter, ec.Public(), p.interKey)

	tests := []struct {
		name    string
		key     crypto.Signer
		cert    *x509.Certificate
		chain   []*x509.Certificate
		opts    []SignerOption
		wantErr string
	}{
		{name: "ok P-256", key: ec, cert: good, chain: p.chain()},
		{name: "ok P-384", key: ec384, cert: issue(t, tmpl(nil), p.inter, ec384.Public(), p.interKey), chain: p.chain()},
		{name: "ok RSA-3072", key: p.rsaKey, cert: p.rsaCert, chain: p.chain()},
		{name: "ok without chain", key: ec, cert: good},
		{name: "ok no EKU", key: ec, cert: issue(t, tmpl(func(c *x509.Certificate) { c.ExtKeyUsage = nil }), p.inter, ec.Public(), p.interKey)},
		{name: "ok any EKU", key: ec, cert: issue(t, tmpl(func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageAny} }), p.inter, ec.Public(), p.interKey)},
		{name: "ok nonRepudiation", key: ec, cert: issue(t, tmpl(func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageContentCommitment }), p.inter, ec.Public(), p.interKey)},
		{name: "nil key", cert: good, wantErr: "required"},
		{name: "key mismatch", key: p.ecKey, cert: good, wantErr: "does not match"},
		{name: "serverAuth only", key: ec, cert: issue(t, tmpl(func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} }), p.inter, ec.Public(), p.interKey), wantErr: "emailProtection"},
		{name: "keyEncipherment only", key: ec, cert: issue(t, tmpl(func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment }), p.inter, ec.Public(), p.interKey), wantErr: "key usage"},
		{name: "RSA-1024", key: rsa1024, cert: issue(t, tmpl(nil), p.inter, rsa1024.Public(), p.interKey), wantErr: "at least 2048"},
		{name: "P-521", key: ec521, cert: issue(t, tmpl(nil), p.inter, ec521.Public(), p.interKey), wantErr: "P-521"},
		{name: "Ed25519", key: edPriv, cert: issue(t, tmpl(nil), p.inter, edPriv.Public(), p.interKey), wantErr: "not supported"},
		{name: "expired", key: ec, cert: good, opts: []SignerOption{WithClock(func() time.Time { return time.Now().Add(72 * time.Hour) })}, wantErr: "not valid"},
		{name: "chain out of order", key: ec, cert: good, chain: []*x509.Certificate{p.root, p.inter}, wantErr: "did not issue"},
		{name: "wrong issuer", key: ec, cert: good, chain: []*x509.Certificate{p.rsaCert}, wantErr: "did not issue"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var key crypto.Signer
			if tc.key != nil {
				key = tc.key
			}
			_, err := NewSigner(key, tc.cert, tc.chain, tc.opts...)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			case err != nil && !strings.HasPrefix(err.Error(), "smime: "):
				t.Errorf("error %q does not start with the package name", err)
			}
		})
	}
	var _ *ecdsa.PrivateKey = ec
}

func TestIsSignedOrEncrypted(t *testing.T) {
	tests := []struct {
		ct   string
		want bool
	}{
		{`multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary=x`, true},
		{`Multipart/Signed; protocol="application/pgp-signature"; micalg=pgp-sha256; boundary="b"`, true},
		{`multipart/encrypted; protocol="application/pgp-encrypted"; boundary=x`, true},
		{`application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m`, true},
		{`application/x-pkcs7-mime; smime-type=signed-data`, true},
		{`application/pkcs7-signature; name=smime.p7s`, true},
		{`application/x-pkcs7-signature`, true},
		{`APPLICATION/PKCS7-MIME`, true},
		{` application/pkcs7-mime ; name="broken`, true},
		{`multipart/signed`, true},
		{`text/plain; charset=utf-8`, false},
		{`multipart/mixed; boundary="signed"`, false},
		{`multipart/alternative; boundary=x`, false},
		{`application/pdf; name="multipart/signed.pdf"`, false},
		{``, false},
		{`garbage;;;`, false},
	}
	for _, tc := range tests {
		if got := IsSignedOrEncrypted(tc.ct); got != tc.want {
			t.Errorf("IsSignedOrEncrypted(%q) = %v, want %v", tc.ct, got, tc.want)
		}
	}
}
