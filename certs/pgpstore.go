package certs

import (
	"context"
	"time"
)

// PGPKeyStore persists internal users' own OpenPGP keys (PGP/MIME), beside
// their S/MIME certificates. Rows are never deleted: a replaced key stays
// for decrypting mail that was encrypted to it.
type PGPKeyStore interface {
	// InsertPGPKey adds a key; its fingerprint must be unique.
	InsertPGPKey(ctx context.Context, rec *PGPKeyRecord) error
	// CurrentPGPKey returns the most recently inserted key for email,
	// revoked or not.
	CurrentPGPKey(ctx context.Context, email string) (*PGPKeyRecord, error)
	// PGPKeysByEmail returns every key for email, newest first.
	PGPKeysByEmail(ctx context.Context, email string) ([]*PGPKeyRecord, error)
	// MarkPGPKeyRevoked records a revocation; it returns ErrNotFound when no
	// unrevoked key with that fingerprint exists.
	MarkPGPKeyRevoked(ctx context.Context, fingerprint string, at time.Time) error
}

// PGPKeyRecord is one internal user's OpenPGP key as stored.
type PGPKeyRecord struct {
	ID            int64
	Email         string
	Fingerprint   string // upper-case hex, no separators (as gpg prints it)
	KeyType       string // "rsa-3072", "ecdsa-p256", ...
	PublicArmored []byte // transferable public key, ASCII armored
	// PrivateSealed is the armored transferable secret key (no passphrase),
	// sealed with the master key like the S/MIME keys.
	PrivateSealed []byte
	CreatedAt     time.Time // key creation time in the key itself
	ExpiresAt     time.Time // from the self-signature's key lifetime
	RevokedAt     time.Time // zero when not revoked
}

// Revoked reports whether the record has been revoked.
func (r *PGPKeyRecord) Revoked() bool { return !r.RevokedAt.IsZero() }
