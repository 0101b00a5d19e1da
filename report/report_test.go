package report

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/revocation"
	"github.com/mailseal/mailseal/trust"
)

var now = time.Date(2026, 11, 30, 9, 15, 0, 0, time.UTC)

// key signs every test certificate (one key keeps the chain simple).
var key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

func cert(t *testing.T, cn string, issuer *x509.Certificate, ca bool, mails ...string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0xABCD), Subject: pkix.Name{CommonName: cn, Organization: []string{"Partner AG"}},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: time.Date(2027, 12, 31, 0, 0, 0, 0, time.UTC),
		EmailAddresses: mails, BasicConstraintsValid: true, IsCA: ca}
	parent := tmpl
	if issuer != nil {
		parent = issuer
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRender(t *testing.T) {
	root := cert(t, "Partner Root CA", nil, true)
	leaf := cert(t, "Alice Partner", root, false, "alice@partner.example")
	good := revocation.Status{State: revocation.Good, Source: "ocsp", URL: "http://ocsp.partner.example/", CheckedAt: now.Add(-time.Minute)}
	pass := &trust.Verdict{Result: trust.Pass, Kind: trust.KindMultipartSigned, From: "alice@partner.example",
		Signers: []trust.Signer{{Cert: leaf, Chain: []*x509.Certificate{leaf, root}, Email: "alice@partner.example",
			Digest: "SHA-256", Algorithm: "ECDSA", Revocation: good, Result: trust.Pass, SigningTime: now.Add(-time.Hour)}}}
	expired := &trust.Verdict{Result: trust.Fail, Code: "expired", Reason: "The signer's certificate (or one above it) has expired.",
		Signers: []trust.Signer{{Cert: leaf, Result: trust.Fail, Code: "expired", Reason: "expired"}}}
	revoked := &trust.Verdict{Result: trust.Fail, Code: "revoked", Signers: []trust.Signer{{Cert: leaf, Chain: []*x509.Certificate{leaf, root},
		Revocation: revocation.Status{State: revocation.Revoked, Source: "crl", URL: "http://crl.partner.example/ca.crl", RevokedAt: now.Add(-48 * time.Hour)}}}}
	unknown := &trust.Verdict{Result: trust.TempError, Code: "revocation-unknown", Signers: []trust.Signer{{Cert: leaf,
		Revocation: revocation.Status{Problem: "OCSP http://ocsp.partner.example/: connection refused"}}}}
	cases := []struct {
		name string
		in   Input
		want []string
	}{
		{"pass en", Input{Lang: English, Gateway: "mx.corp.example", CheckedAt: now, From: "alice@partner.example", SMIME: pass}, []string{
			"Signature verification report", "mx.corp.example (mailseal), 2026-11-30 09:15 UTC", "VALID signature (S/MIME, smime=pass)",
			"has not been", "Name:", "Alice Partner", "alice@partner.example", "serial ABCD", "until 2027-12-31 00:00 UTC",
			"Issued by:", "CN=Partner Root CA,O=Partner AG", "Vouched for by:", "ECDSA, SHA-256",
			"not revoked, checked by OCSP http://ocsp.partner.example/ (answer of 2026-11-30 09:14 UTC)", "not checked)"}},
		{"pass de", Input{Lang: German, Gateway: "mx.corp.example", CheckedAt: now, SMIME: pass}, []string{
			"Signaturprüfbericht\n===================\n", "GÜLTIGE Signatur", "Bestätigt durch:", "gültig von", "nicht gesperrt, geprüft per OCSP"}},
		{"expired en", Input{Lang: English, SMIME: expired}, []string{"INVALID signature (S/MIME, smime=fail)",
			"has expired, so the signature no longer proves", "Technical detail:", "no trusted authority found"}},
		{"expired de", Input{Lang: German, SMIME: expired}, []string{"UNGÜLTIGE Signatur", "ist abgelaufen", "Technische Angabe:"}},
		{"revoked", Input{Lang: English, SMIME: revoked}, []string{"REVOKED, according to CRL http://crl.partner.example/ca.crl since 2026-11-28 09:15 UTC", "lost or stolen"}},
		{"revocation unknown", Input{Lang: English, SMIME: unknown, Revocation: trust.RevocationRequire}, []string{"could not be checked right now", "could not be checked: OCSP http://ocsp.partner.example/: connection refused"}},
		{"revocation off", Input{Lang: German, SMIME: pass, Revocation: trust.RevocationOff}, []string{"nicht gesperrt"}},
		{"unsigned", Input{Lang: English, SMIME: &trust.Verdict{Result: trust.None, Code: "unsigned"}}, []string{"not signed", "carries no signature"}},
		{"pgp pass", Input{Lang: English, PGP: &PGP{Result: "pass", Fingerprint: "ABCDEF0123", Signer: "Bob <bob@partner.example>", Created: now}}, []string{
			"VALID signature (OpenPGP)", "Fingerprint:", "ABCDEF0123", "Bob <bob@partner.example>", "key directory"}},
		{"forged lines in a name", Input{Lang: English, PGP: &PGP{Result: "fail", Signer: "Eve\n  Revocation: fine\r\u202e"}}, []string{"Eve\uFFFD  Revocation: fine\uFFFD\uFFFD"}},
		{"pgp unknown key de", Input{Lang: German, PGP: &PGP{Result: "neutral", Code: "pgp-unknown-key", Reason: "no key"}}, []string{"nicht kennt"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Render(tc.in)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("report lacks %q:\n%s", w, got)
				}
			}
			for _, l := range strings.Split(got, "\n") {
				if n := len([]rune(l)); n > 120 {
					t.Errorf("line of %d characters: %q", n, l)
				}
			}
		})
	}
}

// Every code the verifier can give has a sentence in both languages.
func TestEveryCodeExplained(t *testing.T) {
	codes := []string{"pass", "expired", "not-yet-valid", "revoked", "untrusted", "wrong-eku", "key-usage", "weak-digest",
		"weak-key", "from-mismatch", "bad-signature", "content-mismatch", "no-signer", "malformed", "type-mismatch",
		"unsupported-algorithm", "revocation-unknown", "internal", "partial", "unsigned", "not-smime", "encrypted",
		"pgp-pass", "pgp-bad-signature", "pgp-unknown-key", "pgp-malformed", "pgp-key-expired", "pgp-key-revoked", "pgp-weak", "pgp-internal"}
	for _, lang := range []*texts{&en, &de} {
		for _, c := range codes {
			if _, ok := lang.meanings[c]; !ok {
				t.Errorf("%s: no sentence for %s", lang.title, c)
			}
		}
		for _, r := range []string{"pass", "fail", "neutral", "policy", "temperror", "permerror", "none"} {
			if _, ok := lang.headings[r]; !ok {
				t.Errorf("%s: no heading for %s", lang.title, r)
			}
		}
	}
	if FileName(German) != "Signaturpruefbericht.txt" || FileName(English) != "signature-report.txt" {
		t.Error("file names")
	}
}
