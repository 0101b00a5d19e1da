package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Provenance says where a partner key came from.
type Provenance string

// Provenances of partner keys. ProvenanceImported is written by the import
// commands, ProvenanceHarvested by Harvest (verified signatures of inbound
// mail); LDAP and WKD will add the others.
const (
	ProvenanceImported  Provenance = "imported"
	ProvenanceHarvested Provenance = "harvested"
	ProvenanceLDAP      Provenance = "ldap"
	ProvenanceWKD       Provenance = "wkd"
)

// TrustLevel says how far an administrator vouches for a partner key.
type TrustLevel string

// Trust levels. A key is imported "unverified" unless the administrator says
// they checked its fingerprint with the partner.
const (
	TrustUnverified TrustLevel = "unverified"
	TrustVerified   TrustLevel = "verified"
)

// ParseTrustLevel accepts "unverified" or "verified".
func ParseTrustLevel(s string) (TrustLevel, error) {
	switch t := TrustLevel(strings.ToLower(strings.TrimSpace(s))); t {
	case TrustUnverified, TrustVerified:
		return t, nil
	}
	return "", fmt.Errorf("certs: trust level %q: want %s or %s", s, TrustUnverified, TrustVerified)
}

// PartnerCert is a partner's S/MIME certificate in the directory.
type PartnerCert struct {
	ID          int64
	Fingerprint string   // SHA-256 of the DER, lower-case hex
	CertDER     []byte   // the certificate
	Emails      []string // NormalizeAddress forms, sorted
	Subject     string
	NotBefore   time.Time
	NotAfter    time.Time
	Provenance  Provenance
	Trust       TrustLevel
	AddedAt     time.Time
	// Capabilities is the DER SMIMECapabilities the partner announced in a
	// verified signature (harvesting), nil when none is known.
	Capabilities []byte
	// SeenAt is when a verified signature last showed the certificate;
	// zero when it never did.
	SeenAt time.Time
}

// PartnerPGPKey is a partner's OpenPGP public key in the directory.
type PartnerPGPKey struct {
	ID          int64
	Fingerprint string   // primary key fingerprint, upper-case hex
	KeyData     []byte   // transferable public key, binary
	Emails      []string // NormalizeAddress forms of the user IDs, sorted
	CreatedAt   time.Time
	ExpiresAt   time.Time // zero when the key does not expire
	Provenance  Provenance
	Trust       TrustLevel
	AddedAt     time.Time
}

// Directory holds partners' certificates and public keys and picks the one
// to encrypt to. Lookups re-check every candidate at the time of the call,
// so an expired key is never handed out even though it stays listed.
type Directory struct {
	store Store
	now   func() time.Time
}

// NewDirectory returns a Directory over store; now is the clock (nil:
// time.Now).
func NewDirectory(store Store, now func() time.Time) *Directory {
	if now == nil {
		now = time.Now
	}
	return &Directory{store: store, now: now}
}

// Directory returns the partner key directory kept in the Manager's store.
func (m *Manager) Directory() *Directory { return NewDirectory(m.store, m.opts.Now) }

// SMIMECertificate returns the certificate to encrypt to addr: usable now
// (see checkRecipientCert), naming addr, the latest NotBefore first. It
// returns an error wrapping ErrNotFound when there is none.
func (d *Directory) SMIMECertificate(ctx context.Context, addr string) (*x509.Certificate, *PartnerCert, error) {
	norm, err := NormalizeAddress(addr)
	if err != nil {
		// No key can name an address that does not normalise.
		return nil, nil, fmt.Errorf("certs: no S/MIME certificate for %q: %w", addr, ErrNotFound)
	}
	recs, err := d.store.PartnerCerts(ctx, norm)
	if err != nil {
		return nil, nil, temporary(err)
	}
	now := d.now()
	for _, r := range recs {
		cert, err := x509.ParseCertificate(r.CertDER)
		if err != nil || checkRecipientCert(cert, now) != nil || !containsAddress(certAddresses(cert), norm) {
			continue
		}
		return cert, r, nil
	}
	return nil, nil, fmt.Errorf("certs: no usable S/MIME certificate for %s: %w", addr, ErrNotFound)
}

// PGPKey returns the OpenPGP key to encrypt to addr: a valid encryption key
// now, a user ID naming addr, the newest key first. It returns an error
// wrapping ErrNotFound when there is none.
func (d *Directory) PGPKey(ctx context.Context, addr string) (*openpgp.Entity, *PartnerPGPKey, error) {
	norm, err := NormalizeAddress(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: no OpenPGP key for %q: %w", addr, ErrNotFound)
	}
	recs, err := d.store.PartnerPGPKeys(ctx, norm)
	if err != nil {
		return nil, nil, temporary(err)
	}
	now := d.now()
	for _, r := range recs {
		list, err := ParsePGPKeys(r.KeyData)
		if err != nil || len(list) != 1 {
			continue
		}
		e := list[0]
		if rec, err := pgpRecord(e, now); err != nil || !containsAddress(rec.Emails, norm) {
			continue
		}
		return e, r, nil
	}
	return nil, nil, fmt.Errorf("certs: no usable OpenPGP key for %s: %w", addr, ErrNotFound)
}

// Availability tells which kinds of key the directory has for addr now; it
// is what the policy engine calls KeyAvailability. An address that cannot be
// normalised has no key. A store failure is returned (temporary), so that
// the caller answers 4xx rather than guessing.
func (d *Directory) Availability(ctx context.Context, addr string) (smime, pgp bool, err error) {
	if _, _, err := d.SMIMECertificate(ctx, addr); err == nil {
		smime = true
	} else if !errors.Is(err, ErrNotFound) {
		return false, false, err
	}
	if _, _, err := d.PGPKey(ctx, addr); err == nil {
		pgp = true
	} else if !errors.Is(err, ErrNotFound) {
		return false, false, err
	}
	return smime, pgp, nil
}

// ExternalCertificates lists the partner certificates (not removed), by
// address "" meaning all, newest first.
func (d *Directory) ExternalCertificates(ctx context.Context, addr string) ([]*PartnerCert, error) {
	if addr != "" {
		var err error
		if addr, err = NormalizeAddress(addr); err != nil {
			return nil, err
		}
	}
	return d.store.PartnerCerts(ctx, addr)
}

// PGPKeys lists the partner OpenPGP keys (not removed), by address, ""
// meaning all, newest first.
func (d *Directory) PGPKeys(ctx context.Context, addr string) ([]*PartnerPGPKey, error) {
	if addr != "" {
		var err error
		if addr, err = NormalizeAddress(addr); err != nil {
			return nil, err
		}
	}
	return d.store.PartnerPGPKeys(ctx, addr)
}

// RemoveCertificates removes partner certificates by SHA-256 fingerprint
// (hex, colons and case ignored) or by address (every certificate naming
// it). It returns the fingerprints removed, or an error wrapping ErrNotFound.
// Removal is kept as a mark, so that lookups stop offering the certificate
// at once; importing it again brings it back.
func (d *Directory) RemoveCertificates(ctx context.Context, what string) ([]string, error) {
	return removeKeys(ctx, d, what, func(addr string) ([]string, error) {
		recs, err := d.store.PartnerCerts(ctx, addr)
		fps := make([]string, len(recs))
		for i, r := range recs {
			fps[i] = r.Fingerprint
		}
		return fps, err
	}, strings.ToLower, d.store.RemovePartnerCert)
}

// RemovePGPKeys removes partner OpenPGP keys by fingerprint or address, like
// RemoveCertificates.
func (d *Directory) RemovePGPKeys(ctx context.Context, what string) ([]string, error) {
	return removeKeys(ctx, d, what, func(addr string) ([]string, error) {
		recs, err := d.store.PartnerPGPKeys(ctx, addr)
		fps := make([]string, len(recs))
		for i, r := range recs {
			fps[i] = r.Fingerprint
		}
		return fps, err
	}, strings.ToUpper, d.store.RemovePartnerPGPKey)
}

func removeKeys(ctx context.Context, d *Directory, what string, byAddr func(string) ([]string, error),
	foldFP func(string) string, remove func(context.Context, string, time.Time) error) ([]string, error) {
	var fps []string
	if strings.Contains(what, "@") {
		addr, err := NormalizeAddress(what)
		if err != nil {
			return nil, err
		}
		if fps, err = byAddr(addr); err != nil {
			return nil, err
		}
		if len(fps) == 0 {
			return nil, fmt.Errorf("certs: nothing stored for %s: %w", what, ErrNotFound)
		}
	} else {
		fps = []string{foldFP(strings.NewReplacer(":", "", " ", "").Replace(what))}
	}
	now := d.now()
	for _, fp := range fps {
		if err := remove(ctx, fp, now); err != nil {
			return nil, err
		}
	}
	return fps, nil
}

func containsAddress(list []string, addr string) bool {
	for _, a := range list {
		if a == addr {
			return true
		}
	}
	return false
}
