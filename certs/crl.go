package certs

import (
	"context"
	"crypto/x509"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// crlCache keeps the last signed CRL. gen counts revocations; a CRL signed
// at an older generation is stale.
type crlCache struct {
	mu     sync.Mutex
	der    []byte
	signed time.Time
	atGen  uint64
	gen    atomic.Uint64
}

// CRL returns a DER CRL signed by the issuer (the built-in CA). It is cached
// and signed anew when older than Options.CRLRefresh or after Revoke on this
// Manager. (Revocations by another process sharing the store show up at the
// next refresh.) Expired revoked certificates are left out. ErrNoCRL when the
// issuer cannot sign CRLs.
func (m *Manager) CRL(ctx context.Context) ([]byte, error) {
	signer, ok := m.issuer.(CRLSigner)
	if !ok {
		return nil, ErrNoCRL
	}
	c := &m.crl
	c.mu.Lock()
	defer c.mu.Unlock()
	now := m.now()
	gen := c.gen.Load()
	if c.der != nil && c.atGen == gen && now.Sub(c.signed) < m.opts.CRLRefresh && !now.Before(c.signed) {
		return slices.Clone(c.der), nil
	}
	recs, err := m.store.RevokedCerts(ctx, now)
	if err != nil {
		return nil, err
	}
	entries := make([]x509.RevocationListEntry, 0, len(recs))
	for _, r := range recs {
		serial, ok := new(big.Int).SetString(r.Serial, 16)
		if !ok {
			return nil, fmt.Errorf("certs: CRL: bad serial %q in store", r.Serial)
		}
		entries = append(entries, x509.RevocationListEntry{
			SerialNumber:   serial,
			RevocationTime: r.RevokedAt.UTC(),
			ReasonCode:     r.RevocationReason,
		})
	}
	number, err := m.store.NextCounter(ctx, "crl_number")
	if err != nil {
		return nil, err
	}
	der, err := signer.CreateCRL(ctx, &CRLRequest{
		Number:     big.NewInt(number),
		ThisUpdate: now,
		NextUpdate: now.Add(max(24*time.Hour, 2*m.opts.CRLRefresh)),
		Entries:    entries,
	})
	if err != nil {
		return nil, err
	}
	c.der, c.signed, c.atGen = der, now, gen
	return slices.Clone(der), nil
}

// Revoke revokes every unexpired, unrevoked certificate of email with the
// RFC 5280 reason code (0 unspecified, 1 keyCompromise, 3 affiliationChanged,
// 4 superseded, 5 cessationOfOperation, ...). The next SigningIdentity call
// for email issues a fresh certificate. ErrNotFound when there is nothing to
// revoke.
func (m *Manager) Revoke(ctx context.Context, email string, reason int) error {
	email, err := normalizeEmail(email)
	if err != nil {
		return err
	}
	if reason < 0 || reason > 10 || reason == 7 || reason == 8 {
		return fmt.Errorf("certs: invalid revocation reason %d", reason)
	}
	recs, err := m.store.CertsByEmail(ctx, email)
	if err != nil {
		return err
	}
	now := m.now()
	revoked := 0
	for _, r := range recs {
		if r.Revoked() || !r.NotAfter.After(now) {
			continue
		}
		cert, err := x509.ParseCertificate(r.CertDER)
		if err != nil {
			return fmt.Errorf("certs: parse certificate %s for %s: %w", r.Serial, email, err)
		}
		if err := m.issuer.Revoke(ctx, &RevokeRequest{Certificate: cert, Serial: cert.SerialNumber, Reason: reason, RevokedAt: now}); err != nil {
			return temporaryf("certs: revoke %s for %s: %w", r.Serial, email, err)
		}
		if err := m.store.MarkRevoked(ctx, r.Serial, now, reason); err != nil {
			return err
		}
		m.crl.gen.Add(1)
		m.forgetCurrent(email)
		revoked++
		m.log.Info("certs: revoked certificate", "email", email, "serial", r.Serial, "reason", reason)
	}
	if revoked == 0 {
		return fmt.Errorf("certs: revoke %s: no valid certificate: %w", email, ErrNotFound)
	}
	return nil
}
