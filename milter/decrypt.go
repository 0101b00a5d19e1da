package milter

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/crypto/pgpmime"
	"github.com/mailseal/mailseal/treat"
)

// DecryptedHeader records on a delivered message that it arrived encrypted
// and was decrypted here: how, and for whom. NotDecryptedHeader says why an
// encrypted message (or part) was delivered as it came. Both are X-Mailseal-*
// fields, so copies arriving from outside are removed first (isOwnHeader).
const (
	DecryptedHeader    = "X-Mailseal-Decrypted"
	NotDecryptedHeader = "X-Mailseal-Not-Decrypted"
)

// DecryptionKeys hands out internal users' own private keys for decrypting
// inbound mail: every certificate and OpenPGP key they ever had (a renewed
// one must still open older mail), none issued on demand. certs.Manager
// implements it.
type DecryptionKeys interface {
	DecryptionKeys(ctx context.Context, email string) ([]certs.DecryptionKey, error)
	PGPDecryptionKeys(ctx context.Context, email string) ([]*certs.PGPIdentity, error)
}

// SetDecryptionKeys plugs in the internal users' keys. Without them inbound
// mail is never decrypted.
func (p *Processor) SetDecryptionKeys(k DecryptionKeys) {
	p.decKeys.Store(&decryptionKeys{k})
}

type decryptionKeys struct{ DecryptionKeys }

// maxNestedScan is the body size up to which a message that is not wholly
// encrypted is searched for encrypted parts (only to say they were left).
const maxNestedScan = 16 << 20

// decryption is an inbound message decrypted for all its recipients.
type decryption struct {
	fields  []treat.Field // the decrypted entity's Content-* / MIME-Version fields
	body    []byte        // its body (CRLF)
	method  string        // e.g. "S/MIME AES-256-GCM", "S/MIME AES-256-CBC", "PGP/MIME"
	cbc     bool          // unauthenticated mode: active HTML was neutralised (unless signed intact)
	message []byte        // whole rebuilt message (outer headers + decrypted entity)

	neutralised bool         // active HTML was turned into text
	subject     *treat.Field // the protected Subject to show instead of the outer one
	header      Header       // DecryptedHeader
	result      *treat.Decrypted
}

// decryptInbound decrypts an inbound message that is wholly encrypted to
// every one of its envelope recipients, all of them internal users whose
// keys the store holds. nil, Reply{}, nil when it is not (the message is
// delivered as it came); a Reply and an error when it must be tempfailed
// (the key store failed).
func (p *Processor) decryptInbound(ctx context.Context, tx *Transaction, kept []Header) (*decryption, Reply, error) {
	d, _, r, err := p.decrypt(ctx, tx, kept)
	return d, r, err
}

// decrypt is decryptInbound that also says why a message was not
// decrypted (note, for NotDecryptedHeader; empty when there is nothing
// encrypted to speak of).
//
// Rules, for the recipient's safety:
//   - Only a message whose whole body is one encrypted object is
//     decrypted; an encrypted part inside anything else is left as it is
//     (EFAIL direct exfiltration: the sender's parts around it would read
//     the plaintext out).
//   - Every envelope recipient must be internal, and each one's own key
//     must open the message, with the same content for all. Otherwise an
//     insider could have someone else's captured ciphertext decrypted by
//     mailing it to himself, or plaintext would travel on to the outside.
//   - A failure to decrypt (altered or damaged data, bad padding, bad GCM
//     tag, truncation, a key that does not fit, OpenPGP without MDC) is not
//     refused: the message is delivered unchanged, still encrypted, with
//     the reason. Refusing would tell the sender whether decryption worked
//     (an oracle), and nothing of the plaintext is ever delivered.
//   - Only a key store failure tempfails: the message can be decrypted
//     once the store is back.
func (p *Processor) decrypt(ctx context.Context, tx *Transaction, kept []Header) (dec *decryption, note string, reply Reply, err error) {
	defer func() {
		if r := recover(); r != nil {
			dec, note, reply, err = nil, "decryption failed (internal error)", Reply{}, nil
			p.log.Error("decrypt: recovered panic", "queue_id", tx.QueueID, "panic", r)
		}
	}()
	ks := p.decKeys.Load()
	if ks == nil || ks.DecryptionKeys == nil {
		return nil, "", Reply{}, nil
	}
	var content []treat.Field
	for _, h := range kept {
		if isContentHeader(h.Name) {
			content = append(content, treat.Field{Name: h.Name, Value: h.Value})
		}
	}
	ct := firstValue(kept, "Content-Type")
	kind := treat.ClassifyEncrypted(unfoldHeader(ct))
	if kind == treat.NotEncrypted {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct)), "multipart/") && tx.BodySize <= maxNestedScan && tx.SpoolErr == nil {
			if body, err := readBody(tx); err == nil && treat.NestedEncrypted(content, body) {
				return nil, "an encrypted part inside the message was left as it is: only a message that is encrypted as a whole is decrypted", Reply{}, nil
			}
		}
		return nil, "", Reply{}, nil
	}
	if tx.SpoolErr != nil {
		return nil, "the message was not kept whole, so it was not decrypted", Reply{}, nil
	}
	set := p.settings.Load()
	var rcpts []string
	for _, r := range tx.Rcpts {
		addr := strings.Trim(strings.TrimSpace(r), "<>")
		if !set.Policy.IsInternal(addr) {
			p.log.Info("message not decrypted: recipient outside the internal domains", "queue_id", tx.QueueID, "rcpt", addr)
			return nil, "a recipient is outside the internal domains: the plaintext must not travel on", Reply{}, nil
		}
		rcpts = append(rcpts, addr)
	}
	if len(rcpts) == 0 {
		return nil, "", Reply{}, nil
	}
	body, err := readBody(tx)
	if err != nil {
		return nil, "", TempFail("4.3.0", "Your message could not be read right now; please try again later"), fmt.Errorf("read spool: %w", err)
	}
	from := ""
	if a, err := lenientAddresses.Parse(unfoldHeader(firstValue(kept, "From"))); err == nil {
		from = a.Address
	}
	var first *treat.Decrypted
	var firstSum [sha256.Size]byte
	for _, addr := range rcpts {
		// Every recipient sees the note: with several, it names none of
		// them (Bcc); the log names the one that failed.
		who := addr
		if len(rcpts) > 1 {
			who = "one of the recipients"
		}
		d, why, err := p.decryptFor(ctx, ks, kind, content, body, addr, who, from)
		if err != nil {
			return nil, "", TempFail("4.7.1", "Your message could not be decrypted for its recipients right now; please try again later"), err
		}
		if d == nil && why == "" {
			return nil, "", Reply{}, nil // signed, not encrypted
		}
		if d == nil {
			p.log.Info("message not decrypted", "queue_id", tx.QueueID, "rcpt", addr, "why", why)
			if len(rcpts) > 1 {
				why += "; it is decrypted only when every recipient's own key opens it"
			}
			return nil, why, Reply{}, nil
		}
		// Compared by digest: a large message is not held once per
		// recipient.
		sum := sha256.Sum256(d.Entity.Bytes())
		if first == nil {
			first, firstSum = d, sum
			continue
		}
		if sum != firstSum {
			return nil, "the recipients' encrypted copies differ, so none was decrypted", Reply{}, nil
		}
	}
	return p.decryptionOf(first, rcpts, kept), "", Reply{}, nil
}

// decryptFor opens the message with addr's own keys. d is nil with a reason
// when they do not open it; err is only for a failing key store.
// who names addr in the reason.
func (p *Processor) decryptFor(ctx context.Context, ks *decryptionKeys, kind treat.Encryption, content []treat.Field, body []byte, addr, who, from string) (*treat.Decrypted, string, error) {
	var d *treat.Decrypted
	var derr error
	for i := 0; i < len(addr); i++ {
		if addr[i] >= 0x80 {
			// Keys are issued for ASCII addresses only; asking the store
			// would be an error that no retry fixes.
			return nil, fmt.Sprintf("no key is held for %s", who), nil
		}
	}
	switch kind {
	case treat.SMIMEEncrypted:
		held, err := ks.DecryptionKeys.DecryptionKeys(ctx, addr)
		if err != nil {
			return nil, "", fmt.Errorf("decryption keys of %s: %w", addr, err)
		}
		if len(held) == 0 {
			return nil, fmt.Sprintf("no S/MIME key is held for %s", who), nil
		}
		keys := make([]treat.SMIMEKey, len(held))
		for i, k := range held {
			keys[i] = treat.SMIMEKey{Cert: k.Cert, Key: k.Key}
		}
		d, derr = treat.DecryptSMIME(content, body, keys)
	case treat.PGPEncrypted:
		held, err := ks.DecryptionKeys.PGPDecryptionKeys(ctx, addr)
		if err != nil {
			return nil, "", fmt.Errorf("OpenPGP keys of %s: %w", addr, err)
		}
		var keys []*pgpmime.PrivateKey
		for _, id := range held {
			if k := p.pgpDecryptionKey(id); k != nil {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			return nil, fmt.Sprintf("no OpenPGP key is held for %s", who), nil
		}
		d, derr = treat.DecryptPGP(unfoldHeader(firstField(content, "Content-Type")), body, keys, p.senderPGPKeys(ctx, from))
	}
	switch {
	case derr == nil:
		return d, "", nil
	case errors.Is(derr, treat.ErrNotEncrypted):
		return nil, "", nil
	case errors.Is(derr, treat.ErrNotForKeys):
		return nil, fmt.Sprintf("not encrypted to a key held for %s", who), nil
	case errors.Is(derr, treat.ErrUnprotected):
		return nil, "refused: OpenPGP data without integrity protection (no MDC) is never decrypted", nil
	case errors.Is(derr, treat.ErrDecryptFailed):
		return nil, fmt.Sprintf("decryption for %s failed: the message was altered or damaged on the way", who), nil
	case errors.Is(derr, treat.ErrTooLarge):
		return nil, "too large to decrypt", nil
	}
	return nil, "the encrypted data is malformed or uses an unsupported algorithm", nil
}

// senderPGPKeys is the From address's OpenPGP key from the partner key
// directory, to check a signature inside PGP/MIME encrypted mail (the
// combined method leaves no signature behind once decrypted). None known
// (or a lookup error): the signature is reported as by an unknown signer.
func (p *Processor) senderPGPKeys(ctx context.Context, from string) []*pgpmime.PublicKey {
	dir := p.keySources().dir
	if dir == nil || from == "" {
		return nil
	}
	_, rec, err := dir.PGPKey(ctx, from)
	if err != nil || rec == nil {
		return nil
	}
	k, err := pgpmime.ParsePublicKey(rec.KeyData, time.Now())
	if err != nil {
		return nil
	}
	return []*pgpmime.PublicKey{k}
}

// pgpDecryptionKey parses a stored OpenPGP key once per fingerprint. An
// old key may have expired: it is parsed as of its creation, since
// decrypting old mail needs no valid key, only the secret.
func (p *Processor) pgpDecryptionKey(id *certs.PGPIdentity) *pgpmime.PrivateKey {
	cacheKey := "decrypt:" + id.Fingerprint
	if v, ok := p.pgpKeys.Load(cacheKey); ok {
		return v.(*pgpmime.PrivateKey)
	}
	k, err := pgpmime.ParsePrivateKey(id.PrivateArmored, id.Created.Add(1))
	if err != nil {
		p.log.Warn("decrypt: OpenPGP key unusable", "email", id.Email, "fingerprint", id.Fingerprint, "err", err)
		return nil
	}
	p.pgpKeys.Store(cacheKey, k)
	return k
}

// decryptionOf builds the decryption: the entity, the header that records
// it and the whole rebuilt message the verifier reads next.
func (p *Processor) decryptionOf(d *treat.Decrypted, rcpts []string, kept []Header) *decryption {
	dec := &decryption{
		fields:      d.Entity.Fields,
		body:        d.Entity.Body,
		method:      d.Method,
		cbc:         !d.Authenticated,
		neutralised: d.Neutralised,
		result:      d,
	}
	// Every recipient sees this header: with several, naming them would
	// reveal Bcc recipients to the others.
	who := rcpts[0]
	if len(rcpts) > 1 {
		who = fmt.Sprintf("%d recipients", len(rcpts))
	}
	v := fmt.Sprintf("%s for %s; key=%s", d.Method, who, d.KeyTransport)
	if d.Cert != nil && len(rcpts) == 1 {
		v += "; serial=" + d.Cert.SerialNumber.Text(16)
	}
	if d.PGPKey != "" && len(rcpts) == 1 {
		v += "; fingerprint=" + d.PGPKey
	}
	if d.PGPSignature != pgpmime.Unsigned {
		// The signature inside OpenPGP data is gone once decrypted: say
		// here what it was (good only against the sender's known key).
		v += "; pgp-signature=" + strings.ReplaceAll(d.PGPSignature.String(), " ", "-") + "; pgp-signer=" + d.PGPSignerKeyID
	}
	switch {
	case d.Authenticated:
		v += "; integrity=authenticated"
	case d.SignedIntact:
		v += "; integrity=none (CBC), content covered by an intact signature"
	case d.Neutralised:
		v += "; integrity=none (CBC); active HTML shown as plain text"
	default:
		v += "; integrity=none (CBC)"
	}
	dec.header = Header{DecryptedHeader, v}
	if len(d.Restored) > 0 {
		s := d.Restored[0]
		s.Value = headerSafe(s.Value)
		dec.subject = &s
	}

	var b bytes.Buffer
	b.Grow(len(dec.body) + 4096)
	subjectDone := false
	for _, h := range kept {
		if isContentHeader(h.Name) {
			continue
		}
		v := h.Value
		if dec.subject != nil && strings.EqualFold(h.Name, "Subject") {
			if subjectDone {
				continue
			}
			v, subjectDone = dec.subject.Value, true
		}
		writeHeader(&b, h.Name, v)
	}
	if dec.subject != nil && !subjectDone {
		writeHeader(&b, "Subject", dec.subject.Value)
	}
	for _, f := range dec.fields {
		writeHeader(&b, f.Name, f.Value)
	}
	b.WriteString("\r\n")
	b.Write(dec.body)
	dec.message = b.Bytes()
	return dec
}

func findSubject(hs []Header) (Header, bool) {
	for _, h := range hs {
		if strings.EqualFold(h.Name, "Subject") {
			return h, true
		}
	}
	return Header{}, false
}

// headerSafe makes a header value fit for Postfix: LF folding, and 8-bit
// text (a client that wrote raw UTF-8 into the protected header) as an
// RFC 2047 encoded word.
func headerSafe(v string) string {
	v = strings.ReplaceAll(v, "\r\n", "\n")
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			return mime.QEncoding.Encode("utf-8", strings.ReplaceAll(strings.ReplaceAll(v, "\n ", " "), "\n\t", " "))
		}
	}
	return v
}

func unfoldHeader(v string) string {
	return strings.NewReplacer("\r\n", "", "\n", "").Replace(v)
}

func firstField(fs []treat.Field, name string) string {
	for _, f := range fs {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// readBody reads the whole spooled body.
func readBody(tx *Transaction) ([]byte, error) {
	r, err := tx.Body()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if tx.BodySize > 0 {
		buf.Grow(int(tx.BodySize) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(r); err != nil && err != io.EOF {
		return nil, err
	}
	return buf.Bytes(), nil
}
