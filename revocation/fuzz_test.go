package revocation

import (
	"crypto"
	"crypto/x509"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// The OCSP response parser and checks take bytes from any responder a
// certificate names: they must never panic, whatever arrives.
func FuzzVerifyOCSP(f *testing.F) {
	p := newTestPKI(f, "Fuzz CA")
	leaf := p.leaf("a@partner.example", []string{"http://ocsp.invalid/"}, nil, nil)
	rcert, rkey := p.responder(true)
	now := time.Now()
	for _, tc := range []struct {
		status int
		signer crypto.Signer
		cert   bool
	}{{ocsp.Good, p.key, false}, {ocsp.Revoked, p.key, true}, {ocsp.Unknown, rkey, true}, {ocsp.Good, rkey, true}} {
		tmpl := ocsp.Response{Status: tc.status, SerialNumber: leaf.SerialNumber, ThisUpdate: now, NextUpdate: now.Add(time.Hour), RevokedAt: now.Add(-time.Hour), RevocationReason: 1}
		responder := p.ca
		if tc.signer == rkey {
			responder = rcert
		}
		if tc.cert {
			tmpl.Certificate = responder
		}
		der, err := ocsp.CreateResponse(p.ca, responder, tmpl, tc.signer)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Add(ocsp.MalformedRequestErrorResponse)
	f.Add(ocsp.UnauthorizedErrorResponse)
	f.Add([]byte{0x30, 0x80, 0x0a, 0x01, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		resp, err := verifyOCSP(der, leaf, p.ca, now, time.Minute, time.Hour)
		if err == nil && (resp == nil || resp.SerialNumber.Cmp(leaf.SerialNumber) != 0) {
			t.Fatalf("accepted an answer about %v", resp)
		}
	})
}

// CRLs come from any URL a certificate names.
func FuzzVerifyCRL(f *testing.F) {
	p := newTestPKI(f, "Fuzz CA")
	leaf := p.leaf("a@partner.example", nil, []string{"http://crl.invalid/"}, nil)
	now := time.Now()
	f.Add(p.crl(nil, now.Add(-time.Minute), now.Add(time.Hour), nil))
	f.Add(p.crl(map[*x509.Certificate]int{leaf: 1}, now.Add(-time.Minute), now.Add(time.Hour), nil))
	f.Add([]byte("-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n"))
	f.Fuzz(func(t *testing.T, der []byte) {
		info, err := verifyCRL(der, p.ca, now, time.Minute, time.Hour)
		if err == nil && info.revoked == nil {
			t.Fatal("accepted CRL without an entry map")
		}
	})
}

// caIssuers URLs serve DER, PEM or PKCS#7 from anywhere.
func FuzzParseIssuers(f *testing.F) {
	p := newTestPKI(f, "Fuzz CA")
	f.Add(p.ca.Raw)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n" + b64(p.ca.Raw) + "\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("-----BEGIN PKCS7-----\nMIIBAAYJKoZIhvcNAQcCoIIB\n-----END PKCS7-----\n"))
	// A certs-only PKCS#7 (SignedData without signers) around the CA.
	f.Add(certsOnly(p.ca.Raw))
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		certs, err := parseIssuers(b)
		if err == nil && len(certs) == 0 {
			t.Fatal("no error and no certificate")
		}
		if len(certs) > maxIssuerCerts {
			t.Fatalf("%d certificates", len(certs))
		}
	})
}

// certsOnly wraps DER certificates in a degenerate PKCS#7 SignedData.
func certsOnly(certs ...[]byte) []byte {
	var set []byte
	for _, c := range certs {
		set = append(set, c...)
	}
	tlv := func(tag byte, body []byte) []byte {
		n := len(body)
		var l []byte
		switch {
		case n < 0x80:
			l = []byte{byte(n)}
		case n < 0x100:
			l = []byte{0x81, byte(n)}
		default:
			l = []byte{0x82, byte(n >> 8), byte(n)}
		}
		return append(append([]byte{tag}, l...), body...)
	}
	oidData := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01}
	oidSigned := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02}
	sd := tlv(0x30, concat(
		[]byte{0x02, 0x01, 0x01}, // version
		[]byte{0x31, 0x00},       // digestAlgorithms
		tlv(0x30, oidData),       // contentInfo
		tlv(0xa0, set),           // certificates
		[]byte{0x31, 0x00},       // signerInfos
	))
	return tlv(0x30, concat(oidSigned, tlv(0xa0, sd)))
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestCertsOnlySeedParses(t *testing.T) {
	p := newTestPKI(t, "Fuzz CA")
	certs, err := parseIssuers(certsOnly(p.ca.Raw))
	if err != nil || len(certs) != 1 || !certs[0].Equal(p.ca) {
		t.Fatalf("%d, %v", len(certs), err)
	}
}
