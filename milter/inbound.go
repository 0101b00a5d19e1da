package milter

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"mime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/crypto/pgpmime"
	"github.com/mailseal/mailseal/crypto/smime"
	"github.com/mailseal/mailseal/policy"
	"github.com/mailseal/mailseal/report"
	"github.com/mailseal/mailseal/treat"
	"github.com/mailseal/mailseal/trust"
)

// Verifier checks the S/MIME signature of a whole inbound message: the
// trust package's Verifier.
type Verifier interface {
	VerifyMessage(ctx context.Context, msg []byte) *trust.Verdict
}

// Harvester is the key directory's optional power to keep the certificates
// of partners whose signatures verified (certs.Directory has it).
type Harvester interface {
	Harvest(ctx context.Context, cert *x509.Certificate, caps []byte) (certs.HarvestResult, error)
}

// InboundSettings say how inbound signatures are checked and reported.
type InboundSettings struct {
	// Verifier checks S/MIME signatures; nil: inbound mail is not verified
	// (and mail from require_signature senders is tempfailed).
	Verifier Verifier
	// Revocation is the trust.revocation mode, for the report's wording.
	Revocation trust.Mode
	// Report is the report language ("de", "en"); "" attaches none.
	Report string
	// Tags are put before the Subject: Pass when the signature verified,
	// Fail when it did not, Unverified for require_signature: tag senders
	// whose mail does not pass. "" adds none.
	Tags SubjectTags
}

// SubjectTags are the verdict tags (trust.subject_tags.*).
type SubjectTags struct{ Pass, Fail, Unverified string }

// inboundEdits are the verdict's changes to an inbound message.
type inboundEdits struct {
	adds    []Header
	subject *HeaderChange // nil: unchanged; Index 0: add a Subject header
	deletes []HeaderRef   // the Content-* fields, when decryption or the report replaces the content
	content []Header      // the new content's Content-* and MIME-Version fields
	body    []byte        // nil: unchanged
	// decrypted: the content is the decrypted message (milter/decrypt.go).
	decrypted bool
}

// applyTo puts the verdict's edits into a group's content.
func (e *inboundEdits) applyTo(c *content) {
	if e == nil {
		return
	}
	c.adds = append(c.adds, e.content...)
	c.adds = append(c.adds, e.adds...)
	if e.subject != nil {
		if e.subject.Index == 0 {
			c.adds = append(c.adds, Header{"Subject", e.subject.Value})
		} else {
			c.changes = setChange(c.changes, *e.subject)
		}
	}
	c.deletes = append(c.deletes, e.deletes...)
	if e.body != nil {
		c.body = e.body
	}
}

// inbound is the inbound pipeline after the policy's evaluation: verify
// the signature (S/MIME, else PGP/MIME), enforce require_signature, write
// the verdict headers, tag the subject, attach the report and harvest the
// signer's certificate. It either records the edits in m.inbound, or
// returns the refusal's Result and stop = true.
//
// Safety: an error of our own (reading the spool, a panic) is a temperror
// verdict, never a pass. A require_signature: reject sender's mail that
// cannot be checked now is tempfailed (451 4.7.5); any other mail is
// delivered with smime=temperror, which no filter takes for a signature.
func (p *Processor) inbound(ctx context.Context, m *original, set *Settings, ev policy.Evaluation, res Result) (out Result, stop bool) {
	in := set.Inbound
	required := ev.RequireSignature
	if !anyInternal(set, m.tx.Rcpts) {
		// Relayed on to the outside (a trusted client whose mail is not
		// signed for): the verdict is for our own readers only.
		return res, false
	}
	// Decryption comes first: the signature inside is what the verdict is
	// about (milter/decrypt.go has the rules for when a message is opened).
	e := &inboundEdits{}
	m.inbound = e
	dec, note, reply, derr := p.decrypt(ctx, m.tx, m.kept)
	if derr != nil {
		return p.fail(m.tx, res, reply, derr), true
	}
	if note != "" {
		e.adds = append(e.adds, Header{NotDecryptedHeader, note})
		p.log.Info("message not decrypted", "queue_id", m.tx.QueueID, "why", note)
	}
	kept := m.kept
	if dec != nil {
		e.useDecryption(m, dec)
		kept = withSubject(m.kept, dec.subject)
	}
	if in.Verifier == nil {
		if required == "reject" {
			return p.fail(m.tx, res, TempFail("4.7.5", "The signature of your message cannot be checked right now; please try again later"),
				fmt.Errorf("require_signature: no signature verifier configured")), true
		}
		return res, false
	}
	now := time.Now()
	var msg *inboundContent
	var err error
	if dec != nil {
		msg = dec.content()
	} else {
		msg, err = m.inboundContent()
	}
	var v *trust.Verdict
	var pgp *report.PGP
	if err != nil {
		p.log.Warn("inbound verification: message unreadable", "queue_id", m.tx.QueueID, "err", err)
		v = internalVerdict(err.Error())
	} else {
		v, pgp = p.verifyInbound(ctx, m, in, msg)
	}
	if pgp == nil && dec != nil && v.Result != trust.Pass {
		// Signed and encrypted in one OpenPGP message: the signature was
		// checked while decrypting and is gone from the content.
		pgp = pgpOfDecryption(dec)
	}
	passed := v.Result == trust.Pass || (pgp != nil && pgp.Result == "pass")
	p.log.Info("inbound signature", "queue_id", m.tx.QueueID, "from", v.From, "smime", v.Result, "code", v.Code,
		"kind", v.Kind, "partial", v.Partial, "pgp", pgpResult(pgp), "require_signature", required)

	if required == "reject" && !passed {
		reply := requireSignatureReply(v, pgp)
		why := fmt.Errorf("require_signature: reject: smime=%s (%s) pgp=%s", v.Result, v.Code, pgpResult(pgp))
		if reply.Code < 500 {
			return p.fail(m.tx, res, reply, why), true
		}
		return p.refuse(m.tx, res, reply, why.Error()), true
	}

	e.adds = append(e.adds,
		Header{"Authentication-Results", authResults(set.AuthservID, v, pgp)},
		Header{SignatureHeader, signatureHeader(v, pgp, in.Revocation, now)},
	)
	signed := v.Kind != "" || pgp != nil
	var tag string
	switch {
	case required == "tag" && !passed:
		tag = in.Tags.Unverified
	case passed:
		tag = in.Tags.Pass
	case signed:
		tag = in.Tags.Fail
	}
	if ts := tagSubject(kept, tag, in.Tags); ts != nil {
		if dec != nil && dec.subject != nil {
			ts.Index = e.subject.Index // the restored Subject's place
		}
		e.subject = ts
	}

	if in.Report != "" && signed {
		text := report.Render(report.Input{Lang: in.Report, Gateway: set.AuthservID, CheckedAt: now, From: v.From,
			Revocation: in.Revocation, SMIME: v, PGP: pgp})
		var ent *treat.Entity
		err := errors.New("message unreadable")
		if msg != nil {
			ent, err = treat.AttachReport(msg.fields, msg.whole[msg.bodyStart:], text, report.FileName(in.Report))
		}
		if err != nil {
			// The verdict headers still go out; only the attachment is lost.
			p.log.Warn("signature report not attached", "queue_id", m.tx.QueueID, "err", err)
		} else {
			e.deletes = m.replacedHeaders(false)
			e.content = e.content[:0]
			for _, f := range ent.Fields {
				e.content = append(e.content, Header{f.Name, f.Value})
			}
			e.body = ent.Body
		}
	}
	if v.Result == trust.Pass {
		p.harvest(ctx, m, set, v)
	}
	return res, false
}

// useDecryption makes the decrypted message the content to deliver: its
// Content-* fields and body replace the received ones, the protected
// Subject replaces the outer placeholder, and DecryptedHeader records it.
func (e *inboundEdits) useDecryption(m *original, dec *decryption) {
	e.decrypted = true
	e.deletes = m.replacedHeaders(false)
	for _, f := range dec.fields {
		v := strings.ReplaceAll(f.Value, "\r\n", "\n")
		if strings.EqualFold(f.Name, "Content-Type") && !strings.Contains(v, "\n") {
			v = foldParams(v)
		}
		e.content = append(e.content, Header{f.Name, v})
	}
	e.body = dec.body
	e.adds = append(e.adds, dec.header)
	if dec.subject != nil {
		index := 0
		if _, ok := findSubject(m.tx.Headers); ok {
			index = 1
		}
		e.subject = &HeaderChange{Name: "Subject", Index: index, Value: dec.subject.Value}
	}
}

// withSubject is kept with its Subject replaced by the restored one (the
// one the subject tag goes before).
func withSubject(kept []Header, subject *treat.Field) []Header {
	if subject == nil {
		return kept
	}
	out := make([]Header, 0, len(kept)+1)
	done := false
	for _, h := range kept {
		if strings.EqualFold(h.Name, "Subject") {
			if done {
				continue
			}
			h.Value, done = subject.Value, true
		}
		out = append(out, h)
	}
	if !done {
		out = append(out, Header{"Subject", subject.Value})
	}
	return out
}

// content is the decrypted message as the verifiers read it.
func (d *decryption) content() *inboundContent {
	start := bytes.Index(d.message, []byte("\r\n\r\n"))
	if start < 0 {
		start = len(d.message)
	} else {
		start += 4
	}
	return &inboundContent{whole: d.message, bodyStart: start, fields: d.fields}
}

// pgpOfDecryption reports the OpenPGP signature found while decrypting a
// signed-and-encrypted message; nil when it carried none.
func pgpOfDecryption(dec *decryption) *report.PGP {
	r := dec.result
	if r == nil || r.PGPSignature == pgpmime.Unsigned {
		return nil
	}
	out := &report.PGP{Fingerprint: r.PGPSignerFingerprint}
	switch r.PGPSignature {
	case pgpmime.SignatureGood:
		out.Result = "pass"
	case pgpmime.UnknownSigner:
		out.Result, out.Code, out.Reason = "neutral", "pgp-unknown-key",
			"The message was signed inside its encryption with an OpenPGP key this gateway does not know for the sender."
	default:
		out.Result, out.Code, out.Reason = "fail", "pgp-bad-signature",
			"The OpenPGP signature inside the encryption does not verify: the content was changed after it was signed, or the key is expired, revoked or too weak."
	}
	return out
}

func anyInternal(set *Settings, rcpts []string) bool {
	for _, r := range rcpts {
		if set.Policy.IsInternal(strings.Trim(strings.TrimSpace(r), "<>")) {
			return true
		}
	}
	return false
}

// verifyInbound runs the S/MIME verifier on the whole message and, for a
// PGP/MIME signed one, the OpenPGP check. A failure of our own is a
// temperror verdict.
func (p *Processor) verifyInbound(ctx context.Context, m *original, in InboundSettings, msg *inboundContent) (v *trust.Verdict, pgp *report.PGP) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("inbound verification panicked", "queue_id", m.tx.QueueID, "panic", r, "stack", string(debug.Stack()))
			v, pgp = internalVerdict(fmt.Sprint(r)), nil
		}
	}()
	v = in.Verifier.VerifyMessage(ctx, msg.whole)
	if v == nil {
		return internalVerdict("no verdict"), nil
	}
	if v.Code == "not-smime" {
		pgp = p.verifyPGP(ctx, m, v.From, msg.fields, msg.whole[msg.bodyStart:])
	}
	return v, pgp
}

func internalVerdict(detail string) *trust.Verdict {
	return &trust.Verdict{Result: trust.TempError, Code: "internal",
		Reason: "The signature could not be checked because of an internal error; it will be tried again (" + detail + ")."}
}

// inboundContent is what the verdict is about: the whole message as the
// verifiers read it, where its body starts, and its Content-* fields (the
// entity the report wraps). It is the message as received; when inbound
// decryption is joined in, it is the decrypted message instead.
type inboundContent struct {
	whole     []byte        // header, blank line, body; CRLF
	bodyStart int           // offset of the body in whole
	fields    []treat.Field // the Content-* and MIME-Version fields
}

// inboundContent reads the message as received: the kept headers (forged
// verdicts removed), a blank line and the body from the spool.
func (m *original) inboundContent() (*inboundContent, error) {
	head := m.wholeHeader()
	body, err := m.tx.Body()
	if err != nil {
		return nil, fmt.Errorf("read spool: %w", err)
	}
	b := bytes.NewBuffer(make([]byte, 0, len(head)+int(m.tx.BodySize)+512))
	b.Write(head)
	if _, err := io.Copy(b, body); err != nil {
		return nil, fmt.Errorf("read spool: %w", err)
	}
	return &inboundContent{whole: b.Bytes(), bodyStart: len(head), fields: m.contentFields()}, nil
}

// harvest keeps the certificates of the signers that passed, with what
// they announced, so the next mail to them is encrypted. A failure is
// logged: it never changes what happens to this message.
func (p *Processor) harvest(ctx context.Context, m *original, set *Settings, v *trust.Verdict) {
	h, ok := p.keySources().dir.(Harvester)
	if !ok {
		return
	}
	for _, s := range v.Signers {
		if s.Result != trust.Pass || s.Cert == nil {
			continue
		}
		// Our own users' certificates (their mail back through a list or
		// a forward) are not partners' keys.
		if s.Email != "" && set.Policy.IsInternal(s.Email) {
			continue
		}
		res, err := h.Harvest(ctx, s.Cert, capabilitiesDER(s.Capabilities))
		if err != nil {
			p.log.Warn("harvest failed", "queue_id", m.tx.QueueID, "signer", s.Email, "err", err)
			continue
		}
		p.log.Info("harvest", "queue_id", m.tx.QueueID, "signer", s.Email, "outcome", res.Outcome,
			"fingerprint", res.Fingerprint, "reason", res.Reason)
	}
}

// capabilitiesDER encodes capabilities as the SMIMECapabilities SEQUENCE
// the directory stores; nil when there are none.
func capabilitiesDER(caps []smime.Capability) []byte {
	if len(caps) == 0 {
		return nil
	}
	type capability struct {
		ID     asn1.ObjectIdentifier
		Params asn1.RawValue `asn1:"optional"`
	}
	list := make([]capability, len(caps))
	for i, c := range caps {
		list[i].ID = c.ID
		if len(c.Params) > 0 {
			list[i].Params = asn1.RawValue{FullBytes: c.Params}
		}
	}
	der, err := asn1.Marshal(list)
	if err != nil {
		return nil
	}
	return der
}

// requireSignatureReply is the refusal for a require_signature: reject
// sender whose mail did not pass. Enhanced codes (RFC 3463): 5.7.1 when
// there is no (whole) signature, the policy refusing delivery; 5.7.7 when
// the signature does not match the content (integrity failure); 5.7.5 when
// the certificate behind it is not acceptable (expired, revoked,
// untrusted, not the sender's); 5.7.6 for algorithms too weak to accept;
// 4.7.5 when it could not be checked now. RFC 7372's 5.7.20-5.7.26 name
// DKIM and SPF results and do not fit S/MIME.
func requireSignatureReply(v *trust.Verdict, pgp *report.PGP) Reply {
	const must = "Mail from this sender must carry a valid signature (S/MIME or PGP/MIME): "
	if pgp != nil {
		switch pgp.Code {
		case "pgp-internal":
			return TempFail("4.7.5", "The signature of your message could not be checked right now; please try again later")
		case "pgp-unknown-key":
			return Reject(550, "5.7.5", must+"it is signed with an OpenPGP key this gateway does not know for the sender")
		case "pgp-key-expired", "pgp-key-revoked":
			return Reject(550, "5.7.5", must+"the OpenPGP key it is signed with has expired or was revoked")
		case "pgp-weak":
			return Reject(550, "5.7.6", must+"its OpenPGP signature uses a digest or key too weak to accept")
		case "pgp-malformed":
			return Reject(550, "5.7.7", must+"its OpenPGP signature is damaged")
		}
		return Reject(550, "5.7.7", must+"its OpenPGP signature does not match the message")
	}
	text := must + smtpText(v.Reason)
	switch v.Result {
	case trust.TempError:
		return TempFail("4.7.5", "The signature of your message could not be checked right now; please try again later: "+smtpText(v.Reason))
	case trust.None:
		if v.Code == "encrypted" {
			return Reject(550, "5.7.1", must+"it is encrypted to a key this gateway does not hold, so its signature cannot be checked")
		}
		return Reject(550, "5.7.1", must+"the message is not signed")
	case trust.Neutral:
		return Reject(550, "5.7.1", text)
	case trust.PermError:
		return Reject(550, "5.7.7", text)
	}
	switch v.Code {
	case "bad-signature", "content-mismatch", "malformed", "no-signer":
		return Reject(550, "5.7.7", text)
	case "weak-digest", "weak-key", "unsupported-algorithm":
		return Reject(550, "5.7.6", text)
	}
	return Reject(550, "5.7.5", text)
}

// smtpText makes a sentence safe for an SMTP reply: printable ASCII, one
// line, bounded.
func smtpText(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r >= 0x7f {
			r = ' ' // as every reply mailseal writes (docs/postfix.md)
		}
		b.WriteRune(r)
		if b.Len() >= 300 {
			b.WriteString("...")
			break
		}
	}
	return strings.TrimSuffix(strings.TrimSpace(b.String()), ".")
}

func pgpResult(p *report.PGP) string {
	if p == nil {
		return "none"
	}
	return p.Result
}

// cleanFolding reports whether v has line breaks only as folding (a
// newline followed by white space), as Postfix shows header values.
func cleanFolding(v string) bool {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\r':
			return false
		case '\n':
			if i+1 >= len(v) || (v[i+1] != ' ' && v[i+1] != '\t') {
				return false
			}
		}
	}
	return true
}

// tagSubject puts tag before the Subject. Any configured tag the sender
// already put at its start is removed first, so no outsider can make mail
// look verified. It returns nil when nothing changes.
func tagSubject(kept []Header, tag string, tags SubjectTags) *HeaderChange {
	raw, index := "", 0
	for _, h := range kept {
		if strings.EqualFold(h.Name, "Subject") {
			raw, index = h.Value, 1
			break
		}
	}
	dec := new(mime.WordDecoder)
	decoded, err := dec.DecodeHeader(strings.ReplaceAll(raw, "\n", ""))
	if err != nil {
		decoded = raw
	}
	rest, stripped := decoded, false
	for again := true; again; {
		again = false
		trimmed := strings.TrimLeft(rest, " \t")
		for _, t := range []string{tags.Pass, tags.Fail, tags.Unverified} {
			if t != "" && len(trimmed) >= len(t) && strings.EqualFold(trimmed[:len(t)], t) {
				rest, stripped, again = trimmed[len(t):], true, true
			}
		}
	}
	if tag == "" && !stripped {
		return nil
	}
	value := raw
	if stripped || !cleanFolding(raw) {
		value = encodeSubject(strings.TrimLeft(rest, " \t"))
	}
	if tag != "" {
		value = strings.TrimSpace(encodeSubject(tag) + " " + value)
	}
	return &HeaderChange{Name: "Subject", Index: index, Value: value}
}
