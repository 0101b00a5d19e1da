package certs

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"time"
)

// CertInfo describes a stored certificate for listings. Serial and
// SHA256Fingerprint are lower-case hex without separators.
type CertInfo struct {
	Email, Serial, Subject, Issuer, KeyType, SHA256Fingerprint string
	NotBefore, NotAfter                                        time.Time
	Revoked                                                    bool
	Cert                                                       *x509.Certificate
	// Chain is the issuing chain stored with the certificate (leaf
	// excluded, root included): one CA for the built-in CA, intermediates
	// and root for step-ca.
	Chain []*x509.Certificate
}

// List returns the current (most recently issued) certificate per address,
// ordered by address, revoked ones included.
func (m *Manager) List(ctx context.Context) ([]CertInfo, error) {
	recs, err := m.store.CurrentCerts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]CertInfo, 0, len(recs))
	for _, r := range recs {
		info, err := certInfo(r)
		if err != nil {
			return nil, err
		}
		out = append(out, *info)
	}
	return out, nil
}

// SoonestExpiry returns when the first current, unrevoked user certificate
// expires (zero time when there is none), for the expiry gauge.
func (m *Manager) SoonestExpiry(ctx context.Context) (time.Time, error) {
	recs, err := m.store.CurrentCerts(ctx)
	if err != nil {
		return time.Time{}, err
	}
	var soonest time.Time
	for _, r := range recs {
		if !r.Revoked() && (soonest.IsZero() || r.NotAfter.Before(soonest)) {
			soonest = r.NotAfter
		}
	}
	return soonest, nil
}

// Show returns the current certificate for email, ErrNotFound if none.
func (m *Manager) Show(ctx context.Context, email string) (*CertInfo, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return nil, err
	}
	r, err := m.store.CurrentCert(ctx, email)
	if err != nil {
		return nil, err
	}
	return certInfo(r)
}

func certInfo(r *CertRecord) (*CertInfo, error) {
	cert, err := x509.ParseCertificate(r.CertDER)
	if err != nil {
		return nil, fmt.Errorf("certs: parse certificate %s for %s: %w", r.Serial, r.Email, err)
	}
	chain, err := x509.ParseCertificates(r.ChainDER)
	if err != nil {
		return nil, fmt.Errorf("certs: parse chain of %s for %s: %w", r.Serial, r.Email, err)
	}
	sum := sha256.Sum256(cert.Raw)
	return &CertInfo{
		Email:             r.Email,
		Serial:            r.Serial,
		Subject:           cert.Subject.String(),
		Issuer:            cert.Issuer.String(),
		KeyType:           keyTypeName(cert.PublicKey),
		SHA256Fingerprint: hex.EncodeToString(sum[:]),
		NotBefore:         cert.NotBefore,
		NotAfter:          cert.NotAfter,
		Revoked:           r.Revoked(),
		Cert:              cert,
		Chain:             chain,
	}, nil
}
