package milter

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/crypto/pgpmime"
	"github.com/mailseal/mailseal/crypto/smime"
	"github.com/mailseal/mailseal/policy"
	"github.com/mailseal/mailseal/treat"
)

// Directory finds partners' certificates and OpenPGP keys: the key
// directory of the certs package.
type Directory interface {
	Availability(ctx context.Context, addr string) (smime, pgp bool, err error)
	SMIMECertificate(ctx context.Context, addr string) (*x509.Certificate, *certs.PartnerCert, error)
	PGPKey(ctx context.Context, addr string) (*openpgp.Entity, *certs.PartnerPGPKey, error)
}

// PGPIdentities hands out internal senders' own OpenPGP keys, generating
// one on first use.
type PGPIdentities interface {
	PGPIdentity(ctx context.Context, email string) (*certs.PGPIdentity, bool, error)
}

// keySources is what encryption needs besides the signing identities.
type keySources struct {
	dir Directory
	pgp PGPIdentities
}

// SetKeys plugs in the partner key directory and the senders' OpenPGP
// keys. Without them no recipient has a key: opportunistic encryption
// never happens and required encryption falls back as the policy says.
func (p *Processor) SetKeys(dir Directory, pgp PGPIdentities) {
	p.keys.Store(&keySources{dir: dir, pgp: pgp})
}

func (p *Processor) keySources() *keySources {
	if k := p.keys.Load(); k != nil {
		return k
	}
	return &keySources{}
}

// keyAvailability asks the directory which recipients have keys, except
// those known already (found at RCPT time of the same message). An error
// is returned as it is: the caller tempfails rather than decide without.
func (p *Processor) keyAvailability(ctx context.Context, rcpts []string, known map[string]policy.KeyAvailability) (map[string]policy.KeyAvailability, error) {
	dir := p.keySources().dir
	if dir == nil {
		return nil, nil
	}
	keys := make(map[string]policy.KeyAvailability, len(rcpts))
	for _, r := range rcpts {
		if k, ok := known[policy.KeyOf(r)]; ok {
			keys[policy.KeyOf(r)] = k
			continue
		}
		addr := strings.Trim(strings.TrimSpace(r), "<>")
		s, g, err := dir.Availability(ctx, addr)
		if err != nil {
			return nil, fmt.Errorf("key directory lookup for %s: %w", addr, err)
		}
		keys[policy.KeyOf(r)] = policy.KeyAvailability{SMIME: s, PGP: g}
	}
	return keys, nil
}

// protected is the group's content with protected headers, built once per
// message (every encrypted group shares it).
func (p *Processor) protected(m *original) (*treat.Protected, error) {
	if m.prot != nil {
		return m.prot, nil
	}
	var outer []treat.Field
	for _, h := range m.kept {
		if isContentHeader(h.Name) {
			continue
		}
		v := h.Value
		if m.subject != nil && strings.EqualFold(h.Name, "Subject") {
			v = m.subject.Value // the confidential tag is not part of the subject
		}
		outer = append(outer, treat.Field{Name: h.Name, Value: v})
	}
	body, err := m.tx.Body()
	if err != nil {
		return nil, fmt.Errorf("read spool: %w", err)
	}
	prot, err := treat.Protect(outer, m.contentFields(), body, p.settings.Load().Engine.EncryptedSubject())
	if err != nil {
		return nil, err
	}
	m.prot = prot
	return prot, nil
}

// encrypt replaces the content by the group's encrypted entity.
func (p *Processor) encrypt(ctx context.Context, m *original, g policy.Group, c *content) (Reply, error) {
	tx := m.tx
	if r, err := m.spoolProblem("encrypted"); err != nil {
		return r, err
	}
	ks := p.keySources()
	if ks.dir == nil {
		return Reply{}, errors.New("encryption decided without a key directory")
	}
	if m.signer == "" {
		// Outbound mail always has an authorised internal sender; without
		// one there is no own copy to add and nothing to sign with.
		return Reply{}, errors.New("encrypting without an internal sender")
	}
	prot, err := p.protected(m)
	if err != nil {
		return replyFor(err, "encrypted"), err
	}
	hidden, outerSubject, entity := prot.SubjectHidden, prot.OuterSubject, prot.Entity
	if m.encryptLeft--; m.encryptLeft <= 0 {
		m.prot = nil // the last encrypted group: let the entity go once signed
	}
	prot = nil
	collectBig(tx.BodySize)
	var e *treat.Entity
	var trace string
	switch g.Treatment {
	case policy.TreatEncryptSMIME:
		e, trace, err = p.encryptSMIME(ctx, m, g, entity)
	case policy.TreatEncryptPGP:
		e, trace, err = p.encryptPGP(ctx, m, g, entity)
	default:
		err = fmt.Errorf("encrypt: treatment %s", g.Treatment)
	}
	if err != nil {
		return replyFor(err, "encrypted"), err
	}
	c.deletes = m.replacedHeaders(hidden)
	c.adds = append(c.adds, Header{"MIME-Version", "1.0"})
	for _, f := range e.Fields {
		v := f.Value
		if strings.EqualFold(f.Name, "Content-Type") {
			v = foldParams(v)
		}
		c.adds = append(c.adds, Header{f.Name, v})
	}
	c.adds = append(c.adds, Header{TraceHeader, m.authservID + "; " + trace})
	if hidden {
		c.changes = setChange(c.changes, HeaderChange{Name: "Subject", Index: 1, Value: outerSubject})
	}
	c.body = e.Body
	c.action = "encrypted-" + g.Treatment.String()
	return Reply{}, nil
}

func (p *Processor) encryptSMIME(ctx context.Context, m *original, g policy.Group, entity []byte) (*treat.Entity, string, error) {
	ks := p.keySources()
	kt := smime.PKCS1v15
	if g.SMIME.KeyTransport == policy.KeyTransportOAEP {
		kt = smime.OAEPSHA256
	}
	var rcpts []smime.Recipient
	var caps [][]smime.Capability
	for _, r := range g.Recipients {
		addr := strings.Trim(strings.TrimSpace(r), "<>")
		cert, rec, err := ks.dir.SMIMECertificate(ctx, addr)
		if err != nil {
			// Known a moment ago at Evaluate: removed or expired since, or
			// the store failed. Retry later rather than send it otherwise.
			return nil, "", fmt.Errorf("certificate of %s: %w", addr, errTemporary(err))
		}
		rcpts = append(rcpts, smime.Recipient{Cert: cert, KeyTransport: kt})
		// A harvested certificate comes with what the partner announced in
		// its signature; an imported one announces nothing.
		var announced []smime.Capability
		if rec != nil && len(rec.Capabilities) > 0 {
			announced, _ = smime.ParseSMIMECapabilities(rec.Capabilities) // unreadable: as if none
		}
		caps = append(caps, announced)
	}
	cipher, err := smime.ChooseCipher(string(g.SMIME.Cipher), caps)
	if err != nil {
		return nil, "", err
	}
	// The sender's own certificate, so a bounce or the sent copy stays
	// readable; it signs too unless the policy says not to.
	id, s, err := p.senderSigner(ctx, m)
	if err != nil {
		return nil, "", err
	}
	rcpts = append(rcpts, smime.Recipient{Cert: id.Cert, KeyTransport: kt})
	var signer *smime.Signer
	trace := fmt.Sprintf("encrypted=smime; cipher=%s", cipher)
	if g.Sign {
		signer = s
		trace += fmt.Sprintf("; signed; signer=%s; serial=%s", m.signer, id.Cert.SerialNumber.Text(16))
	}
	e, err := treat.EncryptSMIME(entity, signer, rcpts, smime.EncryptOptions{Cipher: cipher})
	return e, trace, err
}

func (p *Processor) encryptPGP(ctx context.Context, m *original, g policy.Group, entity []byte) (*treat.Entity, string, error) {
	ks := p.keySources()
	if ks.pgp == nil {
		return nil, "", errors.New("PGP/MIME decided without senders' OpenPGP keys")
	}
	now := time.Now()
	var rcpts []*pgpmime.PublicKey
	for _, r := range g.Recipients {
		addr := strings.Trim(strings.TrimSpace(r), "<>")
		_, rec, err := ks.dir.PGPKey(ctx, addr)
		if err != nil {
			return nil, "", fmt.Errorf("OpenPGP key of %s: %w", addr, errTemporary(err))
		}
		k, err := pgpmime.ParsePublicKey(rec.KeyData, now)
		if err != nil {
			return nil, "", fmt.Errorf("OpenPGP key of %s: %w", addr, errTemporary(err))
		}
		rcpts = append(rcpts, k)
	}
	signer, err := p.pgpSigner(ctx, m.signer, now)
	if err != nil {
		return nil, "", err
	}
	// RFC 3156's combined method always signs: the sender's key signs
	// even where the policy would not sign S/MIME.
	rcpts = append(rcpts, signer.Public())
	e, err := treat.EncryptPGP(entity, signer, rcpts)
	trace := fmt.Sprintf("encrypted=pgp; signed; signer=%s; key=%s", m.signer, signer.Info().Fingerprint)
	return e, trace, err
}

// pgpSigner returns the sender's OpenPGP key, parsed once per key.
func (p *Processor) pgpSigner(ctx context.Context, email string, now time.Time) (*pgpmime.PrivateKey, error) {
	id, _, err := p.keySources().pgp.PGPIdentity(ctx, email)
	if err != nil {
		return nil, fmt.Errorf("OpenPGP key for %s: %w", email, err)
	}
	if v, ok := p.pgpKeys.Load(id.Fingerprint); ok {
		return v.(*pgpmime.PrivateKey), nil
	}
	k, err := pgpmime.ParsePrivateKey(id.PrivateArmored, now)
	if err != nil {
		return nil, fmt.Errorf("OpenPGP key for %s: %w", email, err)
	}
	p.pgpKeys.Store(id.Fingerprint, k)
	return k, nil
}

// bigMessage is the size from which the garbage of the steps before
// (the body as read, its canonical form) is collected before the next big
// allocation: with Go's default GC the heap may otherwise grow to twice
// what is alive, and the memory a large mail needs would double.
const bigMessage = 8 << 20

func collectBig(size int64) {
	if size >= bigMessage {
		debug.FreeOSMemory()
	}
}

// releaseBig returns the memory of a large message's garbage to the
// system: its big buffers need fresh contiguous spans, so pages the runtime
// kept from the message before would otherwise add to the next one's.
func releaseBig(size int64) {
	if size >= bigMessage {
		debug.FreeOSMemory()
	}
}

// temporaryErr marks a failure that a retry may not see again.
type temporaryErr struct{ err error }

func (e temporaryErr) Error() string { return e.err.Error() }
func (e temporaryErr) Unwrap() error { return e.err }

func errTemporary(err error) error { return temporaryErr{err} }

// replyFor maps a treatment error to the SMTP answer: the message itself is
// the problem (malformed, too big) → 5xx, the sender can fix it; anything
// else → 451, the client retries; never accepted as it is.
func replyFor(err error, what string) Reply {
	var tmp temporaryErr
	switch {
	case errors.As(err, &tmp):
		return TempFail("4.7.1", "Your message could not be "+what+" right now; please try again later")
	case errors.Is(err, treat.ErrTooLarge):
		return Reject(552, "5.3.4", "Message too big to be "+what+" by this gateway")
	case treat.IsPermanent(err):
		return Reject(554, "5.6.0", "Your message could not be "+what+" because its MIME structure is malformed")
	}
	return TempFail("4.7.1", "Your message could not be "+what+" right now; please try again later")
}

// setChange replaces the change of the same header instance, or adds it.
func setChange(cs []HeaderChange, c HeaderChange) []HeaderChange {
	for i := range cs {
		if strings.EqualFold(cs[i].Name, c.Name) && cs[i].Index == c.Index {
			cs[i] = c
			return cs
		}
	}
	return append(cs, c)
}

// pgpKeyCache is the Processor's cache of parsed senders' OpenPGP keys,
// keyed by fingerprint (a renewed key has a new one).
type pgpKeyCache = sync.Map
