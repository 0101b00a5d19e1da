package certs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// PGPIdentity is an internal user's own OpenPGP key for PGP/MIME: signing
// with it, and encrypting to it (the sender's copy). Identities are shared
// between callers: treat them as read-only.
type PGPIdentity struct {
	Email       string
	Fingerprint string // upper-case hex, as gpg prints it
	KeyType     string // "rsa-3072", "ecdsa-p256", ...
	// PublicArmored is the transferable public key to hand to partners.
	PublicArmored []byte
	// PrivateArmored is the secret key, unprotected: keep it in memory only.
	PrivateArmored []byte
	// Entity holds the unlocked secret keys, ready to sign and decrypt.
	Entity  *openpgp.Entity
	Created time.Time
	Expires time.Time
}

// pgpLeasePrefix keeps the OpenPGP issuance lease apart from the S/MIME one
// of the same address, so that neither waits for the other.
const pgpLeasePrefix = "pgp:"

// pgpState is the Manager's OpenPGP counterpart of cache and current.
type pgpState struct {
	mu      sync.Mutex
	ids     map[string]*PGPIdentity // email → last identity handed out
	current map[string]pgpCurrent   // email → the store's recent answer (currentTTL)
}

type pgpCurrent struct {
	id  *PGPIdentity
	rec *PGPKeyRecord
	at  time.Time
}

type pgpFlightResult struct {
	id     *PGPIdentity
	issued bool
	token  *byte
}

// PGPIdentity returns the current usable OpenPGP key of email (lower-cased),
// generating one when there is none or the current one is revoked, expired
// or due for renewal (ca.renew_before, like certificates). Concurrent calls
// for one address share one generation (in-process singleflight plus a
// lease row in the store across processes). issued is true only for the
// call whose request generated the key. Store failures satisfy IsTemporary.
// The caller decides that email is internal; only an address is accepted.
func (m *Manager) PGPIdentity(ctx context.Context, email string) (id *PGPIdentity, issued bool, err error) {
	email, err = normalizeEmail(email)
	if err != nil {
		return nil, false, err
	}
	now := m.now()
	if id := m.recentPGP(email, now); id != nil {
		return id, false, nil
	}
	rec, err := m.store.CurrentPGPKey(ctx, email)
	switch {
	case err == nil && m.pgpUsable(rec, now):
		id, err := m.pgpIdentity(rec)
		if err == nil {
			m.rememberPGP(id, rec, now)
		}
		return id, false, err
	case err != nil && !errors.Is(err, ErrNotFound):
		return nil, false, temporary(err)
	}
	return m.obtainPGP(ctx, email)
}

// obtainPGP runs ensurePGP for email in the shared flight and waits for it or ctx.
func (m *Manager) obtainPGP(ctx context.Context, email string) (*PGPIdentity, bool, error) {
	token := new(byte)
	ch := m.flights.DoChan(pgpLeasePrefix+email, func() (any, error) {
		// The flight outlives any one caller: detach from its cancellation.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.IssueTimeout)
		defer cancel()
		id, issued, err := m.ensurePGP(fctx, email)
		return pgpFlightResult{id: id, issued: issued, token: token}, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, false, res.Err
		}
		r, ok := res.Val.(pgpFlightResult)
		if !ok || r.id == nil {
			return nil, false, fmt.Errorf("certs: OpenPGP key for %s: no result", email)
		}
		return r.id, r.issued && r.token == token, nil
	case <-ctx.Done():
		return nil, false, temporaryf("certs: OpenPGP key for %s: %w", email, ctx.Err())
	}
}

// ensurePGP takes the OpenPGP issuance lease for email, then returns the
// current key if it is still usable or generates a new one.
func (m *Manager) ensurePGP(ctx context.Context, email string) (*PGPIdentity, bool, error) {
	lease := pgpLeasePrefix + email
	holder := fmt.Sprintf("%s-%d", m.holder, m.leaseSeq.Add(1))
	m.releaseStale(ctx, lease)
	for {
		now := m.now()
		ok, err := m.store.AcquireLease(ctx, lease, holder, now, now.Add(m.opts.IssueTimeout+30*time.Second))
		if err != nil {
			return nil, false, temporary(err)
		}
		if ok {
			break
		}
		// Another process generates a key for this address: wait for it.
		if id, err := m.currentPGPUsable(ctx, email); id != nil || err != nil {
			return id, false, err
		}
		select {
		case <-ctx.Done():
			return nil, false, temporaryf("certs: waiting for OpenPGP issuance lease for %s: %w", email, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	defer func() {
		if err := m.releaseLease(ctx, lease, holder); err != nil {
			m.log.Warn("certs: release OpenPGP issuance lease", "email", email, "err", err)
		}
	}()
	if id, err := m.currentPGPUsable(ctx, email); id != nil || err != nil {
		return id, false, err
	}
	id, err := m.issuePGP(ctx, email)
	if err != nil {
		return nil, false, err
	}
	return id, true, nil
}

// currentPGPUsable returns the current key when it is usable, nil (and no
// error) when there is none or it needs replacing.
func (m *Manager) currentPGPUsable(ctx context.Context, email string) (*PGPIdentity, error) {
	rec, err := m.store.CurrentPGPKey(ctx, email)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, temporary(err)
	}
	if !m.pgpUsable(rec, m.now()) {
		return nil, nil
	}
	return m.pgpIdentity(rec)
}

// pgpUsable reports whether rec may be handed out at now: not revoked,
// already created, and not yet inside its renewal window (same rule as
// renewAt for certificates).
func (m *Manager) pgpUsable(rec *PGPKeyRecord, now time.Time) bool {
	window := min(m.opts.RenewBefore, rec.ExpiresAt.Sub(rec.CreatedAt)/2)
	return !rec.Revoked() && !now.Before(rec.CreatedAt) && now.Before(rec.ExpiresAt.Add(-window))
}

// issuePGP generates, seals and stores a new key for email. Callers hold
// the OpenPGP issuance lease for email.
func (m *Manager) issuePGP(ctx context.Context, email string) (*PGPIdentity, error) {
	// Backdated like certificates, so that an instance whose clock is a
	// little behind does not sign before the key's creation time.
	created := m.now().Add(-backdate).Truncate(time.Second)
	e, err := newPGPKey(m.opts.KeyType, email, created, m.opts.Validity+backdate, m.opts.Rand)
	if err != nil {
		return nil, err
	}
	id, err := pgpIdentityOf(email, string(m.opts.KeyType), e)
	if err != nil {
		return nil, err
	}
	sealed, err := m.sealer.sealBytes(id.PrivateArmored, pgpAAD(email, id.Fingerprint))
	if err != nil {
		return nil, err
	}
	rec := &PGPKeyRecord{
		Email:         email,
		Fingerprint:   id.Fingerprint,
		KeyType:       id.KeyType,
		PublicArmored: id.PublicArmored,
		PrivateSealed: sealed,
		CreatedAt:     id.Created,
		ExpiresAt:     id.Expires,
	}
	if err := m.store.InsertPGPKey(ctx, rec); err != nil {
		return nil, temporary(err)
	}
	m.log.Info("certs: generated OpenPGP key", "email", email, "fingerprint", id.Fingerprint, "key_type", id.KeyType, "expires", id.Expires)
	m.pgp.mu.Lock()
	m.pgp.init()
	m.pgp.ids[email] = id
	delete(m.pgp.current, email)
	m.pgp.mu.Unlock()
	return id, nil
}

// pgpIdentityOf fills a PGPIdentity from a key with its secret parts.
func pgpIdentityOf(email, keyType string, e *openpgp.Entity) (*PGPIdentity, error) {
	sig, _ := e.PrimarySelfSignature()
	if sig == nil || sig.KeyLifetimeSecs == nil || *sig.KeyLifetimeSecs == 0 {
		return nil, fmt.Errorf("certs: OpenPGP key for %s has no expiry", email)
	}
	pub, err := armorPGPKey(e, false)
	if err != nil {
		return nil, err
	}
	priv, err := armorPGPKey(e, true)
	if err != nil {
		return nil, err
	}
	created := e.PrimaryKey.CreationTime
	return &PGPIdentity{
		Email:          email,
		Fingerprint:    pgpFingerprint(e),
		KeyType:        keyType,
		PublicArmored:  pub,
		PrivateArmored: priv,
		Entity:         e,
		Created:        created,
		Expires:        created.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second),
	}, nil
}

// pgpIdentity turns a stored record into a PGPIdentity, reusing the cached
// one when the fingerprint matches (saves unsealing and parsing per message).
func (m *Manager) pgpIdentity(rec *PGPKeyRecord) (*PGPIdentity, error) {
	m.pgp.mu.Lock()
	cached := m.pgp.ids[rec.Email]
	m.pgp.mu.Unlock()
	if cached != nil && cached.Fingerprint == rec.Fingerprint {
		return cached, nil
	}
	priv, err := m.sealer.openBytes(rec.PrivateSealed, pgpAAD(rec.Email, rec.Fingerprint))
	if err != nil {
		return nil, fmt.Errorf("certs: OpenPGP key %s for %s: %w", rec.Fingerprint, rec.Email, err)
	}
	e, err := parsePGPPrivate(priv, rec.Fingerprint)
	if err != nil {
		clear(priv)
		return nil, fmt.Errorf("certs: OpenPGP key %s for %s: %w", rec.Fingerprint, rec.Email, err)
	}
	id := &PGPIdentity{
		Email:          rec.Email,
		Fingerprint:    rec.Fingerprint,
		KeyType:        rec.KeyType,
		PublicArmored:  rec.PublicArmored,
		PrivateArmored: priv,
		Entity:         e,
		Created:        rec.CreatedAt,
		Expires:        rec.ExpiresAt,
	}
	m.pgp.mu.Lock()
	m.pgp.init()
	m.pgp.ids[rec.Email] = id
	m.pgp.mu.Unlock()
	return id, nil
}

// RevokePGPKey marks every unrevoked OpenPGP key of email revoked, so that
// the next PGPIdentity generates a new one. Partners learn of it only
// through the new key: no revocation certificate is published.
func (m *Manager) RevokePGPKey(ctx context.Context, email string) error {
	email, err := normalizeEmail(email)
	if err != nil {
		return err
	}
	recs, err := m.store.PGPKeysByEmail(ctx, email)
	if err != nil {
		return err
	}
	now := m.now()
	revoked := 0
	for _, r := range recs {
		if r.Revoked() || !r.ExpiresAt.After(now) {
			continue
		}
		if err := m.store.MarkPGPKeyRevoked(ctx, r.Fingerprint, now); err != nil {
			return err
		}
		revoked++
		m.log.Info("certs: revoked OpenPGP key", "email", email, "fingerprint", r.Fingerprint)
	}
	m.forgetPGP(email)
	if revoked == 0 {
		return fmt.Errorf("certs: revoke OpenPGP key of %s: no valid key: %w", email, ErrNotFound)
	}
	return nil
}

func (s *pgpState) init() {
	if s.ids == nil {
		s.ids = make(map[string]*PGPIdentity)
		s.current = make(map[string]pgpCurrent)
	}
}

// recentPGP returns the identity of the store's answer for email when it
// is younger than currentTTL and still usable (see currentTTL).
func (m *Manager) recentPGP(email string, now time.Time) *PGPIdentity {
	m.pgp.mu.Lock()
	c, ok := m.pgp.current[email]
	m.pgp.mu.Unlock()
	if !ok || now.Before(c.at) || now.Sub(c.at) >= currentTTL || !m.pgpUsable(c.rec, now) {
		return nil
	}
	return c.id
}

func (m *Manager) rememberPGP(id *PGPIdentity, rec *PGPKeyRecord, now time.Time) {
	m.pgp.mu.Lock()
	m.pgp.init()
	m.pgp.current[rec.Email] = pgpCurrent{id: id, rec: rec, at: now}
	m.pgp.mu.Unlock()
}

func (m *Manager) forgetPGP(email string) {
	m.pgp.mu.Lock()
	delete(m.pgp.current, email)
	m.pgp.mu.Unlock()
}
