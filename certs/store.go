package certs

import (
	"context"
	"time"
)

// Store persists the CA, user certificates with their sealed keys, issuance
// leases and counters. SQLiteStore is the default; a PostgreSQL store can
// implement the same interface. Methods return ErrNotFound (possibly wrapped)
// for missing rows. Times are stored with second precision.
type Store interface {
	// CA returns the CA record with the given name.
	CA(ctx context.Context, name string) (*CARecord, error)
	// PutCA inserts rec unless a CA with that name exists; it then returns the
	// record now in the store (which differs from rec when another process won).
	PutCA(ctx context.Context, rec *CARecord) (*CARecord, error)
	// ReplaceCA replaces the certificate and sealed key of the CA rec.Name,
	// but only while its certificate is still oldCertDER (else an error):
	// a re-issued CA certificate never overwrites another process's.
	ReplaceCA(ctx context.Context, oldCertDER []byte, rec *CARecord) error

	// InsertCert adds a certificate; its serial must be unique.
	InsertCert(ctx context.Context, rec *CertRecord) error
	// CurrentCert returns the most recently inserted certificate for email,
	// revoked or not.
	CurrentCert(ctx context.Context, email string) (*CertRecord, error)
	// CurrentCerts returns the most recently inserted certificate per address,
	// ordered by email.
	CurrentCerts(ctx context.Context) ([]*CertRecord, error)
	// CertsByEmail returns every certificate for email, newest first.
	CertsByEmail(ctx context.Context, email string) ([]*CertRecord, error)
	// MarkRevoked records a revocation; it returns ErrNotFound when no
	// unrevoked certificate with that serial exists.
	MarkRevoked(ctx context.Context, serial string, at time.Time, reason int) error
	// CertBySerial returns the certificate with that serial (lower-case hex,
	// no leading zeros, as in CertRecord.Serial), revoked or not.
	CertBySerial(ctx context.Context, serial string) (*CertRecord, error)
	// RevokedCerts returns revoked certificates whose NotAfter is after notAfter.
	RevokedCerts(ctx context.Context, notAfter time.Time) ([]*CertRecord, error)

	// AcquireLease takes the issuance lease for email for holder until the
	// given time. It succeeds when no lease exists or the existing one has
	// expired at now; it reports false when someone else holds it.
	AcquireLease(ctx context.Context, email, holder string, now, until time.Time) (bool, error)
	// ReleaseLease drops holder's lease for email (no error if not held).
	ReleaseLease(ctx context.Context, email, holder string) error

	// NextCounter increments and returns the named counter (first value 1).
	NextCounter(ctx context.Context, name string) (int64, error)

	// PutPartnerCert stores a partner certificate, or when its fingerprint
	// is known refreshes provenance, trust and addresses and clears a
	// removal. It sets rec.ID.
	PutPartnerCert(ctx context.Context, rec *PartnerCert) error
	// PartnerCerts returns the partner certificates not removed that name
	// email ("" = all), the latest NotBefore first.
	PartnerCerts(ctx context.Context, email string) ([]*PartnerCert, error)
	// HarvestPartnerCert stores a certificate seen in a verified signature
	// as rec says (provenance harvested). When the fingerprint is known it
	// only refreshes the capabilities (when rec has some) and SeenAt, never
	// provenance, trust or a removal; it reports what it did.
	HarvestPartnerCert(ctx context.Context, rec *PartnerCert) (HarvestOutcome, error)
	// RemovePartnerCert marks a partner certificate removed; ErrNotFound
	// when no such certificate is stored (and not removed).
	RemovePartnerCert(ctx context.Context, fingerprint string, at time.Time) error
	// PutPartnerPGPKey stores a partner OpenPGP key like PutPartnerCert.
	PutPartnerPGPKey(ctx context.Context, rec *PartnerPGPKey) error
	// PartnerPGPKeys returns the partner OpenPGP keys not removed that name email
	// ("" = all), the newest first.
	PartnerPGPKeys(ctx context.Context, email string) ([]*PartnerPGPKey, error)
	// RemovePartnerPGPKey marks a partner OpenPGP key removed, like RemovePartnerCert.
	RemovePartnerPGPKey(ctx context.Context, fingerprint string, at time.Time) error

	// PGPKeyStore keeps internal users' own OpenPGP keys.
	PGPKeyStore

	Close() error
}

// CARecord is a CA certificate with its sealed private key.
type CARecord struct {
	Name      string
	CertDER   []byte
	KeySealed []byte
	CreatedAt time.Time
}

// CertRecord is one user certificate as stored.
type CertRecord struct {
	ID               int64
	Email            string
	Serial           string // lower-case hex, no separators
	CertDER          []byte
	ChainDER         []byte // concatenated DER certificates, leaf excluded
	KeySealed        []byte
	KeyType          string
	NotBefore        time.Time
	NotAfter         time.Time
	RevokedAt        time.Time // zero when not revoked
	RevocationReason int
	CreatedAt        time.Time
}

// Revoked reports whether the record has been revoked.
func (r *CertRecord) Revoked() bool { return !r.RevokedAt.IsZero() }
