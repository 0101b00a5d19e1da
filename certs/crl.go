package certs

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"time"
)

// crlCache keeps the last signed CRL with a digest of the revocations it
// lists: a CRL whose list differs from the store's is stale.
type crlCache struct {
	mu     sync.Mutex
	der    []byte
	signed time.Time
	state  [sha256.Size]byte
}

// CRL returns a DER CRL signed by the issuer (the built-in CA). Every call
// reads the revoked certificates from the store (one indexed query), so a
// revocation shows up at once, also one made by another process sharing
// the store (`mailseal certs revoke` next to the running daemon). The
// signed CRL is reused while the store's revocations are unchanged and it
// is younger than Options.CRLRefresh. Expired revoked certificates are left
// out. ErrNoCRL when the issuer cannot sign CRLs.
func (m *Manager) CRL(ctx context.Context) ([]byte, error) {
	signer, ok := m.issuer.(CRLSigner)
	if !ok {
		return nil, ErrNoCRL
	}
	c := &m.crl
	c.mu.Lock()
	defer c.mu.Unlock()
	now := m.now()
	recs, err := m.store.RevokedCerts(ctx, now)
	if err != nil {
		return nil, err
	}
	state := revocationState(recs)
	if c.der != nil && c.state == state && now.Sub(c.signed) < m.opts.CRLRefresh && !now.Before(c.signed) {
		return slices.Clone(c.der), nil
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
	c.der, c.signed, c.state = der, now, state
	return slices.Clone(der), nil
}

// revocationState digests what a CRL lists (serial, time, reason of each
// revoked certificate, in store order).
func revocationState(recs []*CertRecord) [sha256.Size]byte {
	h := sha256.New()
	for _, r := range recs {
		fmt.Fprintf(h, "%s %d %d\n", r.Serial, r.RevokedAt.Unix(), r.RevocationReason)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
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
		m.forgetCurrent(email)
		revoked++
		m.log.Info("certs: revoked certificate", "email", email, "serial", r.Serial, "reason", reason)
	}
	if revoked == 0 {
		return fmt.Errorf("certs: revoke %s: no valid certificate: %w", email, ErrNotFound)
	}
	return nil
}
