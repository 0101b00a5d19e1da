package milter

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"strings"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/crypto/mimecanon"
	"github.com/mailseal/mailseal/crypto/smime"
	"github.com/mailseal/mailseal/policy"
	"github.com/mailseal/mailseal/treat"
)

// original is what every group's copy is made from.
type original struct {
	tx         *Transaction
	kept       []Header // headers without our forged verdicts
	authservID string
	signer     string
	subject    *HeaderChange    // subject with the confidential tag removed, if any
	digest     []byte           // SHA-256 of the body, once computed
	prot       *treat.Protected // the content with protected headers, once built
	inbound    *inboundEdits    // inbound: the signature verdict's edits
	// encryptLeft counts the encrypted groups still to render; the last one
	// drops prot, so a large entity is not kept alive longer than needed.
	encryptLeft int
}

// content is one group's version of the message, as edits to the original:
// applied in place for the first group, rendered whole for the others.
type content struct {
	changes []HeaderChange
	deletes []HeaderRef
	adds    []Header
	body    []byte // nil: original body
	action  string // signed | encrypted-smime | encrypted-pgp | pdf | none
	// password, for the PDF fallback, sends the PDF's password on: it runs
	// before the copy is handed over.
	password passwordChannel
}

// render builds the copy for one group. A treatment that fails is refused
// or tempfailed, never downgraded to plain.
func (p *Processor) render(ctx context.Context, m *original, g policy.Group) (*content, Reply, error) {
	c := &content{action: "none"}
	if m.subject != nil {
		c.changes = append(c.changes, *m.subject)
	}
	switch g.Treatment {
	case policy.TreatPlain:
		m.inbound.applyTo(c)
		return c, Reply{}, nil
	case policy.TreatSign:
		reply, err := p.sign(ctx, m, c)
		return c, reply, err
	case policy.TreatEncryptSMIME, policy.TreatEncryptPGP:
		reply, err := p.encrypt(ctx, m, g, c)
		return c, reply, err
	case policy.TreatPDF:
		reply, err := p.pdf(ctx, m, g, c)
		return c, reply, err
	}
	return nil, Reply{}, fmt.Errorf("unknown treatment %s", g.Treatment)
}

// sign replaces the content by a multipart/signed entity.
func (p *Processor) sign(ctx context.Context, m *original, c *content) (Reply, error) {
	tx := m.tx
	if r, err := m.spoolProblem("signed"); err != nil {
		return r, err
	}
	id, s, err := p.senderSigner(ctx, m)
	if err != nil {
		return Reply{}, err
	}
	body, err := tx.Body()
	if err != nil {
		return Reply{}, fmt.Errorf("read spool: %w", err)
	}
	signed, err := treat.Sign(s, m.contentFields(), body)
	switch {
	case errors.Is(err, mimecanon.ErrUnfoldable):
		return Reject(554, "5.6.0", "Your message could not be signed because a header line in one of its parts has a word longer than 998 characters, which mail servers cannot carry (often a very long file name or Content-ID); please shorten it"), err
	case errors.Is(err, smime.ErrMalformed):
		return Reject(554, "5.6.0", "Your message could not be signed because its MIME structure is malformed"), err
	case errors.Is(err, smime.ErrTooLarge):
		return Reject(552, "5.3.4", "Message too big to be signed by this gateway"), err
	case err != nil:
		return Reply{}, fmt.Errorf("sign for %s: %w", m.signer, err)
	}
	// Content headers move inside the signed entity; the outer message keeps
	// From/To/Subject/Date/Message-ID and gets the multipart/signed type.
	c.deletes = m.replacedHeaders(false)
	c.adds = append(c.adds,
		Header{"MIME-Version", "1.0"},
		Header{"Content-Type", foldParams(signed.ContentType())},
		Header{TraceHeader, fmt.Sprintf("%s; signed; signer=%s; serial=%s", m.authservID, m.signer, id.Cert.SerialNumber.Text(16))},
	)
	c.body = signed.Body
	c.action = "signed"
	return Reply{}, nil
}

// replacedHeaders are the header instances a new content replaces: the
// Content-* fields and MIME-Version, and where the subject is hidden also
// Outlook's Thread-Topic, which repeats the subject.
func (m *original) replacedHeaders(hideSubject bool) []HeaderRef {
	return HeaderRefs(m.tx.Headers, func(h Header) bool {
		if isOwnHeader(h, m.authservID) {
			return false
		}
		return isContentHeader(h.Name) || (hideSubject && strings.EqualFold(h.Name, "Thread-Topic"))
	})
}

// contentFields are the message's Content-* fields: what moves inside a
// signed or encrypted entity.
func (m *original) contentFields() []treat.Field {
	var fields []treat.Field
	for _, h := range m.kept {
		if isContentHeader(h.Name) {
			fields = append(fields, treat.Field{Name: h.Name, Value: h.Value})
		}
	}
	return fields
}

// spoolProblem refuses to treat a body the spool could not keep whole:
// too big (552) or a spool error (tempfail). what is "signed", "encrypted"…
func (m *original) spoolProblem(what string) (Reply, error) {
	tx := m.tx
	switch {
	case tx.SpoolErr == nil:
		return Reply{}, nil
	case tx.TooBig():
		return Reject(552, "5.3.4", "Message too big to be "+what+" by this gateway"), tx.SpoolErr
	}
	return Reply{}, fmt.Errorf("spool: %w", tx.SpoolErr)
}

// senderSigner returns the sender's identity (issuing a certificate on
// first use) and a signer for it.
func (p *Processor) senderSigner(ctx context.Context, m *original) (*certs.Identity, *smime.Signer, error) {
	id, _, err := p.ids.SigningIdentity(ctx, m.signer)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate for %s: %w", m.signer, err)
	}
	s, err := p.signerFor(id)
	if err != nil {
		return nil, nil, fmt.Errorf("signer for %s: %w", m.signer, err)
	}
	return id, s, nil
}

// signerFor returns a signer for the identity, reusing the one built for
// the same certificate: NewSigner verifies the chain, which need not be
// repeated for every message.
func (p *Processor) signerFor(id *certs.Identity) (*smime.Signer, error) {
	if v, ok := p.signers.Load(id.Email); ok {
		if s := v.(*smime.Signer); s.Certificate().Equal(id.Cert) {
			return s, nil
		}
	}
	s, err := smime.NewSigner(id.Key, id.Cert, id.Chain)
	if err != nil {
		return nil, err
	}
	p.signers.Store(id.Email, s)
	return s, nil
}

// encodeSubject RFC 2047-encodes a decoded subject when it is not ASCII.
func encodeSubject(s string) string {
	return mime.QEncoding.Encode("utf-8", s)
}
