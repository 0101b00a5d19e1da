package certs

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// Identity is a signing identity: certificate, private key and the issuing
// chain. Identities are shared between callers: treat them as read-only.
type Identity struct {
	Email string
	Cert  *x509.Certificate
	Key   crypto.Signer
	// Chain is the issuing CA chain including the root, leaf excluded.
	Chain []*x509.Certificate
}

// flightResult is what one singleflight run hands to all its callers; token
// identifies the caller whose function ran, so only it reports issued=true.
type flightResult struct {
	id     *Identity
	issued bool
	token  *byte
}

// SigningIdentity returns the current valid identity for email (lower-cased),
// issuing one when there is none or the current one is revoked, expired or
// due for renewal. Concurrent calls for one address share a single issuance
// (in-process singleflight plus a lease row in the store across processes).
// issued is true only for the call whose request issued the certificate.
// Issuer and store failures satisfy IsTemporary.
func (m *Manager) SigningIdentity(ctx context.Context, email string) (id *Identity, issued bool, err error) {
	email, err = normalizeEmail(email)
	if err != nil {
		return nil, false, err
	}
	now := m.now()
	if id := m.recentCurrent(email, now); id != nil {
		return id, false, nil
	}
	rec, err := m.store.CurrentCert(ctx, email)
	switch {
	case err == nil && m.usable(rec, now):
		id, err := m.identity(rec)
		if err == nil {
			m.rememberCurrent(id, rec, now)
		}
		return id, false, err
	case err != nil && !errors.Is(err, ErrNotFound):
		return nil, false, temporary(err)
	}
	id, issued, err = m.obtain(ctx, email)
	if err != nil && rec != nil && IsTemporary(err) && m.stillValid(rec, now) {
		// Due for renewal but the issuer (an external CA) is unreachable:
		// the certificate is valid for a while yet, so its owner keeps
		// mailing; the renewer and the next mails try again.
		if old, oerr := m.identity(rec); oerr == nil {
			m.log.Warn("certs: renewal failed; signing with the current certificate until the issuer is back",
				"email", email, "serial", rec.Serial, "not_after", rec.NotAfter, "err", err)
			return old, false, nil
		}
	}
	return id, issued, err
}

// stillValid reports whether rec may still sign at now although it is due
// for renewal: not revoked and inside its validity.
func (m *Manager) stillValid(rec *CertRecord, now time.Time) bool {
	return !rec.Revoked() && !now.Before(rec.NotBefore) && now.Before(rec.NotAfter)
}

// obtain runs ensure for email in the shared flight and waits for it or ctx.
func (m *Manager) obtain(ctx context.Context, email string) (*Identity, bool, error) {
	token := new(byte)
	ch := m.flights.DoChan(email, func() (any, error) {
		// The flight outlives any one caller: detach from its cancellation.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opts.IssueTimeout)
		defer cancel()
		id, issued, err := m.ensure(fctx, email, false)
		return flightResult{id: id, issued: issued, token: token}, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, false, res.Err
		}
		r, ok := res.Val.(flightResult)
		if !ok || r.id == nil {
			return nil, false, fmt.Errorf("certs: signing identity for %s: no result", email)
		}
		return r.id, r.issued && r.token == token, nil
	case <-ctx.Done():
		return nil, false, temporaryf("certs: signing identity for %s: %w", email, ctx.Err())
	}
}

// Issue forces a new certificate for email (CLI `certs issue`). Older
// certificates stay valid until they expire but are no longer handed out.
func (m *Manager) Issue(ctx context.Context, email string) (*Identity, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if d := m.opts.InternalDomains; d != nil && !inDomains(email, d) {
		if len(d) == 0 {
			return nil, fmt.Errorf("certs: %s is not in internal_domains, which is empty: certificates are issued for internal users only", email)
		}
		return nil, fmt.Errorf("certs: %s is not in internal_domains (%s): certificates are issued for internal users only", email, strings.Join(d, ", "))
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.IssueTimeout)
	defer cancel()
	id, _, err := m.ensure(ctx, email, true)
	return id, err
}

// ensure takes the issuance lease for email, then returns the current
// identity if it is still usable (unless force) or issues a new one.
func (m *Manager) ensure(ctx context.Context, email string, force bool) (*Identity, bool, error) {
	holder := fmt.Sprintf("%s-%d", m.holder, m.leaseSeq.Add(1))
	m.releaseStale(ctx, email)
	for {
		now := m.now()
		ok, err := m.store.AcquireLease(ctx, email, holder, now, now.Add(m.opts.IssueTimeout+30*time.Second))
		if err != nil {
			return nil, false, temporary(err)
		}
		if ok {
			break
		}
		// Another process issues for this address: wait for its result.
		if !force {
			if id, err := m.currentUsable(ctx, email); id != nil || err != nil {
				return id, false, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, false, temporaryf("certs: waiting for issuance lease for %s: %w", email, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	defer func() {
		if err := m.releaseLease(ctx, email, holder); err != nil {
			m.log.Warn("certs: release issuance lease", "email", email, "err", err)
		}
	}()
	if !force {
		if id, err := m.currentUsable(ctx, email); id != nil || err != nil {
			return id, false, err
		}
	}
	id, err := m.issue(ctx, email)
	if err != nil {
		return nil, false, err
	}
	return id, true, nil
}

// currentUsable returns the current identity when it is usable, nil (and no
// error) when there is none or it needs replacing.
func (m *Manager) currentUsable(ctx context.Context, email string) (*Identity, error) {
	rec, err := m.store.CurrentCert(ctx, email)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, temporary(err)
	}
	if !m.usable(rec, m.now()) {
		return nil, nil
	}
	return m.identity(rec)
}

// usable reports whether rec may be handed out at now: not revoked, already
// valid, and not yet inside its renewal window.
func (m *Manager) usable(rec *CertRecord, now time.Time) bool {
	return !rec.Revoked() && !now.Before(rec.NotBefore) && now.Before(m.renewAt(rec))
}

// renewAt is when rec is due for replacement: RenewBefore ahead of NotAfter,
// but never earlier than half its lifetime, so that an issuer which shortens
// validity below RenewBefore does not cause an issuance on every call.
func (m *Manager) renewAt(rec *CertRecord) time.Time {
	window := min(m.opts.RenewBefore, rec.NotAfter.Sub(rec.NotBefore)/2)
	return rec.NotAfter.Add(-window)
}

// currentTTL is how long SigningIdentity trusts what the store last said
// about an address's current certificate. Asking the store for every
// message cost about a fortieth of Postfix's whole budget per message
// (docs/benchmarks.md), and with a networked store it would add a round
// trip. Issuing and revoking through this Manager take effect at once; a
// revocation by another process (the `certs revoke` command, another
// instance) within this time.
const currentTTL = 10 * time.Second

// current is a store answer SigningIdentity may reuse until currentTTL.
type current struct {
	id  *Identity
	rec *CertRecord
	at  time.Time
}

func (m *Manager) recentCurrent(email string, now time.Time) *Identity {
	m.idMu.Lock()
	c, ok := m.current[email]
	m.idMu.Unlock()
	if !ok || now.Before(c.at) || now.Sub(c.at) >= currentTTL || !m.usable(c.rec, now) {
		return nil
	}
	return c.id
}

func (m *Manager) rememberCurrent(id *Identity, rec *CertRecord, now time.Time) {
	m.idMu.Lock()
	m.current[rec.Email] = current{id: id, rec: rec, at: now}
	m.idMu.Unlock()
}

// forgetCurrent makes the next SigningIdentity for email ask the store.
func (m *Manager) forgetCurrent(email string) {
	m.idMu.Lock()
	delete(m.current, email)
	m.idMu.Unlock()
}

// identity turns a stored record into an Identity, reusing the cached one
// when the serial matches (saves parsing and unsealing per message).
func (m *Manager) identity(rec *CertRecord) (*Identity, error) {
	m.idMu.Lock()
	cached := m.cache[rec.Email]
	m.idMu.Unlock()
	if cached != nil && serialHex(cached.Cert) == rec.Serial {
		return cached, nil
	}
	cert, err := x509.ParseCertificate(rec.CertDER)
	if err != nil {
		return nil, fmt.Errorf("certs: parse certificate %s for %s: %w", rec.Serial, rec.Email, err)
	}
	chain, err := x509.ParseCertificates(rec.ChainDER)
	if err != nil {
		return nil, fmt.Errorf("certs: parse chain of %s for %s: %w", rec.Serial, rec.Email, err)
	}
	key, err := m.sealer.openKey(rec.KeySealed, certAAD(rec.Email, rec.Serial))
	if err != nil {
		return nil, fmt.Errorf("certs: key of %s for %s: %w", rec.Serial, rec.Email, err)
	}
	id := &Identity{Email: rec.Email, Cert: cert, Key: key, Chain: m.currentChain(chain)}
	m.idMu.Lock()
	m.cache[rec.Email] = id
	m.idMu.Unlock()
	return id, nil
}

// normalizeEmail lower-cases (ASCII letters only) and checks a bare
// address (no display name). Only ASCII addresses are accepted: a
// certificate's rfc822Name is an IA5String, and Unicode case folding would
// make a look-alike such as "\u212Aate@corp.example" (KELVIN SIGN) kate's.
func normalizeEmail(s string) (string, error) {
	e := lowerASCII(strings.TrimSpace(s))
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", fmt.Errorf("certs: invalid e-mail address %q", s)
	}
	for i := 0; i < len(e); i++ {
		if e[i] >= 0x80 {
			return "", fmt.Errorf("certs: invalid e-mail address %q: certificates name ASCII addresses only", s)
		}
	}
	return e, nil
}
