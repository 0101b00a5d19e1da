package certs

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
)

// DecryptionKey is one of an internal user's certificates with its private
// key, for decrypting mail encrypted to it.
type DecryptionKey struct {
	Cert *x509.Certificate
	Key  crypto.Signer // also a crypto.Decrypter for RSA; *ecdsa.PrivateKey for EC
}

// DecryptionKeys returns every certificate email was ever issued, newest
// first, with its private key: a renewed, expired or revoked certificate
// still opens mail that was encrypted to it before (revocation stops its
// use for new mail, not the reading of old mail). Nothing is issued: an
// address without certificates gets none and no error. Store failures
// satisfy IsTemporary; a key that cannot be unsealed is an error (a wrong
// master key must not look like "not for us").
func (m *Manager) DecryptionKeys(ctx context.Context, email string) ([]DecryptionKey, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return nil, err
	}
	recs, err := m.store.CertsByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, temporary(err)
	}
	out := make([]DecryptionKey, 0, len(recs))
	for _, rec := range recs {
		m.idMu.Lock()
		cached := m.cache[rec.Email]
		m.idMu.Unlock()
		if cached != nil && serialHex(cached.Cert) == rec.Serial {
			out = append(out, DecryptionKey{Cert: cached.Cert, Key: cached.Key})
			continue
		}
		// Older certificates are opened per use and not cached: the cache
		// holds the current identity, which signing asks for per message.
		cert, err := x509.ParseCertificate(rec.CertDER)
		if err != nil {
			return nil, fmt.Errorf("certs: parse certificate %s for %s: %w", rec.Serial, rec.Email, err)
		}
		key, err := m.sealer.openKey(rec.KeySealed, certAAD(rec.Email, rec.Serial))
		if err != nil {
			return nil, fmt.Errorf("certs: key of %s for %s: %w", rec.Serial, rec.Email, err)
		}
		out = append(out, DecryptionKey{Cert: cert, Key: key})
	}
	return out, nil
}

// PGPDecryptionKeys returns every OpenPGP key of email, newest first,
// unlocked, including replaced, expired and revoked ones (for mail
// encrypted to them before). Nothing is generated.
func (m *Manager) PGPDecryptionKeys(ctx context.Context, email string) ([]*PGPIdentity, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return nil, err
	}
	recs, err := m.store.PGPKeysByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, temporary(err)
	}
	out := make([]*PGPIdentity, 0, len(recs))
	for _, rec := range recs {
		m.pgp.mu.Lock()
		cached := m.pgp.ids[rec.Email]
		m.pgp.mu.Unlock()
		if cached != nil && cached.Fingerprint == rec.Fingerprint {
			out = append(out, cached)
			continue
		}
		priv, err := m.sealer.openBytes(rec.PrivateSealed, pgpAAD(rec.Email, rec.Fingerprint))
		if err != nil {
			return nil, fmt.Errorf("certs: OpenPGP key %s for %s: %w", rec.Fingerprint, rec.Email, err)
		}
		e, err := parsePGPPrivate(priv, rec.Fingerprint)
		if err != nil {
			return nil, fmt.Errorf("certs: OpenPGP key %s for %s: %w", rec.Fingerprint, rec.Email, err)
		}
		out = append(out, &PGPIdentity{
			Email: rec.Email, Fingerprint: rec.Fingerprint, KeyType: rec.KeyType,
			PublicArmored: rec.PublicArmored, PrivateArmored: priv, Entity: e,
			Created: rec.CreatedAt, Expires: rec.ExpiresAt,
		})
	}
	return out, nil
}
