package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"software.sslmate.com/src/go-pkcs12"
)

// P12Form selects the encryption of an exported PKCS#12 file.
type P12Form int

const (
	// P12Modern is PBES2 (PBKDF2-HMAC-SHA-256, AES-256-CBC) for keys and
	// certificates and an HMAC-SHA-256 MAC: what OpenSSL 3 writes by
	// default; read by Thunderbird, current Outlook/Windows, macOS, OpenSSL
	// 1.1.1 and later.
	P12Modern P12Form = iota
	// P12Legacy is PBE-SHA1-3DES with an HMAC-SHA-1 MAC, for clients that
	// read nothing newer (Windows before Server 2019/10 1709, gpgsm 2.2,
	// old Android and Java). Its protection rests on the password alone.
	P12Legacy
)

// p12Iterations is the PBKDF2-HMAC-SHA-256 iteration count of the modern
// form: a person picks the password, so key stretching matters, but a file
// takes three derivations (key bag, certificate bag, MAC) and .NET/Windows
// refuse files whose iterations add up to more than 600,000. The legacy
// form keeps the 2048 iterations every old client reads. A variable for
// tests only.
var p12Iterations = 100_000

// ErrNoPassword is returned by ExportPKCS12 for an empty password: a
// PKCS#12 file without one would hand out the private key to anyone.
var ErrNoPassword = errors.New("certs: a PKCS#12 export needs a password")

// ExportPKCS12 returns a user's certificate with its private key and the
// issuing chain as a password-protected PKCS#12 file, so the person can read
// their own encrypted mail in a desktop client. serial "" means the current
// certificate (revoked or expired ones included: the key still decrypts old
// mail); otherwise the certificate with that serial (hex). The returned
// certificate is the one exported.
func (m *Manager) ExportPKCS12(ctx context.Context, email, serial, password string, form P12Form) ([]byte, *x509.Certificate, error) {
	if password == "" {
		return nil, nil, ErrNoPassword
	}
	email, err := normalizeEmail(email)
	if err != nil {
		return nil, nil, err
	}
	rec, err := m.exportRecord(ctx, email, serial)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(rec.CertDER)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: parse certificate %s for %s: %w", rec.Serial, email, err)
	}
	chain, err := x509.ParseCertificates(rec.ChainDER)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: parse chain of %s for %s: %w", rec.Serial, email, err)
	}
	key, err := m.sealer.openKey(rec.KeySealed, certAAD(rec.Email, rec.Serial))
	if err != nil {
		return nil, nil, fmt.Errorf("certs: key of %s for %s: %w", rec.Serial, email, err)
	}
	var enc *pkcs12.Encoder
	switch form {
	case P12Modern:
		enc = pkcs12.Modern2023.WithIterations(p12Iterations)
	case P12Legacy:
		enc = pkcs12.LegacyDES
	default:
		return nil, nil, fmt.Errorf("certs: unknown PKCS#12 form %d", form)
	}
	der, err := enc.WithRand(m.opts.Rand).Encode(key, cert, m.currentChain(chain), password)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: encode PKCS#12 for %s: %w", email, err)
	}
	return der, cert, nil
}

// exportRecord finds the record ExportPKCS12 exports.
func (m *Manager) exportRecord(ctx context.Context, email, serial string) (*CertRecord, error) {
	if serial == "" {
		return m.store.CurrentCert(ctx, email)
	}
	recs, err := m.store.CertsByEmail(ctx, email)
	if err != nil {
		return nil, err
	}
	// Serials are stored as lower-case hex without leading zeros.
	want := strings.TrimLeft(lowerASCII(strings.TrimPrefix(serial, "0x")), "0")
	for _, r := range recs {
		if r.Serial == want {
			return r, nil
		}
	}
	return nil, fmt.Errorf("certs: %s has no certificate with serial %s: %w", email, serial, ErrNotFound)
}
