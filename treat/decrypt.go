package treat

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"strings"

	"github.com/mailseal/mailseal/crypto/pgpmime"
	"github.com/mailseal/mailseal/crypto/smime"
)

// Encryption is how a whole message is encrypted, judged by its top-level
// Content-Type alone.
type Encryption int

const (
	// NotEncrypted: the message body is not one encrypted object (it may
	// still hold encrypted parts; see NestedEncrypted).
	NotEncrypted Encryption = iota
	// SMIMEEncrypted: application/pkcs7-mime (or x-pkcs7-mime) with
	// smime-type enveloped-data, authEnveloped-data or none.
	SMIMEEncrypted
	// PGPEncrypted: multipart/encrypted with protocol
	// application/pgp-encrypted (RFC 3156).
	PGPEncrypted
)

// ClassifyEncrypted tells whether the message whose top-level Content-Type
// is contentType is wholly one encrypted object. Only such messages are
// ever decrypted: an encrypted part beside other parts would put the
// plaintext next to whatever the sender wrote around it (EFAIL "direct
// exfiltration"), so it is left alone.
func ClassifyEncrypted(contentType string) Encryption {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return NotEncrypted
	}
	switch mt {
	case "application/pkcs7-mime", "application/x-pkcs7-mime":
		switch strings.ToLower(params["smime-type"]) {
		case "enveloped-data", "authenveloped-data", "":
			return SMIMEEncrypted
		}
	case "multipart/encrypted":
		if strings.EqualFold(params["protocol"], "application/pgp-encrypted") {
			return PGPEncrypted
		}
	}
	return NotEncrypted
}

// SMIMEKey is one of a recipient's certificates with its private key (a
// crypto.Decrypter for RSA, *ecdsa.PrivateKey or *ecdh.PrivateKey for EC).
// A person may hold several over time: a renewed or expired certificate
// must still open mail encrypted to it.
type SMIMEKey struct {
	Cert *x509.Certificate
	Key  any
}

// Decrypted is a decrypted message: the entity that replaces the body,
// and what was used.
type Decrypted struct {
	// Entity is the decrypted entity: its Content-* and MIME-Version fields
	// and its body, CRLF. Outer fields are never part of it.
	Entity *Entity
	// Method names protocol and cipher for people, e.g.
	// "S/MIME AES-256-GCM", "S/MIME AES-256-CBC", "PGP/MIME".
	Method string
	// KeyTransport is how the content key reached us: "RSA", "ECDH" or
	// "OpenPGP".
	KeyTransport string
	// Authenticated is true when the ciphertext carried its own integrity
	// check (AES-GCM, OpenPGP MDC). CBC content is not authenticated.
	Authenticated bool
	// SignedIntact is true for CBC content whose whole entity is an S/MIME
	// signature that matches it (mathematically; trust is the verifier's
	// business): it cannot have been altered without the key.
	SignedIntact bool
	// Neutralised is true when unauthenticated content had its active HTML
	// turned into plain text (see Neutralise).
	Neutralised bool
	// Restored are header fields the outer message shows in place of its
	// own: the Subject protected inside the entity (RFC 9788).
	Restored []Field
	// Cert is the certificate whose RecipientInfo opened an S/MIME message.
	Cert *x509.Certificate
	// PGPKey is the fingerprint of the OpenPGP key that opened the message;
	// PGPSignerKeyID names the key of an inner OpenPGP signature, if any
	// (RFC 3156 combined method).
	PGPKey, PGPSignerKeyID string
	// PGPSignature is that signature checked against the verifiers given
	// to DecryptPGP (none given: a signature is UnknownSigner, never good);
	// PGPSignerFingerprint names the verifier that made it.
	PGPSignature         pgpmime.SignatureStatus
	PGPSignerFingerprint string
}

// ErrNotForKeys means none of the given keys opens the message: it is
// encrypted to someone else (or to a key we do not hold).
var ErrNotForKeys = errors.New("treat: message not encrypted to any of the keys")

// ErrDecryptFailed means a key matched but the content would not decrypt:
// altered or damaged ciphertext (CBC padding, GCM tag, OpenPGP MDC),
// truncated data or a wrong key. No plaintext is ever returned with it.
var ErrDecryptFailed = errors.New("treat: decryption failed")

// ErrUnprotected means OpenPGP data without integrity protection (no MDC),
// which is refused: it is the EFAIL "CBC/CFB gadget" channel.
var ErrUnprotected = errors.New("treat: encrypted data without integrity protection refused")

// ErrNotEncrypted means an application/pkcs7-mime body that holds signed
// data, not encrypted data (an opaque signed message whose smime-type
// parameter is missing): nothing to decrypt, nothing wrong.
var ErrNotEncrypted = errors.New("treat: S/MIME body is signed data, not encrypted")

// oidSignedData is the DER of id-signedData (1.2.840.113549.1.7.2).
var oidSignedData = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02}

// MaxEncrypted bounds the encrypted body DecryptSMIME accepts.
const MaxEncrypted = 256 << 20

// DecryptSMIME decrypts an application/pkcs7-mime message. fields are the
// message's Content-* fields (Content-Type and Content-Transfer-Encoding
// matter), body its body. Each key is tried whose certificate a
// RecipientInfo names. Errors: ErrNotForKeys, ErrDecryptFailed, ErrMalformed
// (not decodable, or not (auth-)enveloped data), wrapping smime's error.
// It never panics.
func DecryptSMIME(fields []Field, body []byte, keys []SMIMEKey) (d *Decrypted, err error) {
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, fmt.Errorf("%w: decrypt: %v", ErrMalformed, r)
		}
	}()
	if ClassifyEncrypted(fieldValue(fields, "Content-Type")) != SMIMEEncrypted {
		return nil, fmt.Errorf("%w: not an S/MIME encrypted message", ErrMalformed)
	}
	der, err := decodeTransfer(fieldValue(fields, "Content-Transfer-Encoding"), body)
	if err != nil {
		return nil, err
	}
	// ContentInfo ::= SEQUENCE { contentType OID, ... }: the OID follows
	// the SEQUENCE header (2 to 6 octets, BER indefinite length included).
	if head := der[:min(len(der), 8+len(oidSignedData))]; bytes.Contains(head, oidSignedData) {
		return nil, ErrNotEncrypted
	}
	var failed error
	for _, k := range keys {
		if k.Cert == nil || k.Key == nil {
			continue
		}
		dec, err := smime.Decrypt(der, k.Cert, k.Key)
		switch {
		case err == nil:
			return smimeResult(dec, k.Cert)
		case errors.Is(err, smime.ErrNotForUs), errors.Is(err, smime.ErrKeyType):
			continue
		case errors.Is(err, smime.ErrDecrypt):
			failed = err // another certificate of the same person may match
		case errors.Is(err, smime.ErrUnsupported), errors.Is(err, smime.ErrMalformed):
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		default:
			return nil, fmt.Errorf("%w: %w", ErrDecryptFailed, err)
		}
	}
	if failed != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecryptFailed, failed)
	}
	return nil, ErrNotForKeys
}

func smimeResult(dec *smime.Decrypted, cert *x509.Certificate) (*Decrypted, error) {
	raw := crlf(dec.Content)
	e, err := ParseEntity(raw)
	if err != nil {
		return nil, err
	}
	d := &Decrypted{
		Entity:        e,
		Method:        "S/MIME " + cipherName(dec.Cipher),
		KeyTransport:  "RSA",
		Authenticated: dec.Authenticated,
		Cert:          cert,
	}
	if cert.PublicKeyAlgorithm == x509.ECDSA {
		d.KeyTransport = "ECDH"
	}
	finish(d, raw)
	return d, nil
}

// DecryptPGP decrypts an RFC 3156 multipart/encrypted message with the
// first of keys that opens it, and checks a signature inside (the combined
// method, RFC 3156 6.2: it is gone once the content is decrypted) against
// verifiers (the sender's known keys; may be none). Data without integrity
// protection is refused (ErrUnprotected), like data not for any key
// (ErrNotForKeys) or altered (ErrDecryptFailed). It never panics.
func DecryptPGP(contentType string, body []byte, keys []*pgpmime.PrivateKey, verifiers []*pgpmime.PublicKey) (d *Decrypted, err error) {
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, fmt.Errorf("%w: decrypt: %v", ErrMalformed, r)
		}
	}()
	if ClassifyEncrypted(contentType) != PGPEncrypted {
		return nil, fmt.Errorf("%w: not a PGP/MIME encrypted message", ErrMalformed)
	}
	var failed error
	for _, k := range keys {
		if k == nil {
			continue
		}
		dec, err := pgpmime.Decrypt(contentType, body, k, verifiers, pgpmime.DecryptOptions{})
		switch {
		case err == nil:
			raw := crlf(dec.Entity)
			e, err := ParseEntity(raw)
			if err != nil {
				return nil, err
			}
			d := &Decrypted{Entity: e, Method: "PGP/MIME", KeyTransport: "OpenPGP",
				Authenticated: true, PGPKey: k.Info().Fingerprint}
			if d.PGPSignature = dec.Signature; dec.Signature != pgpmime.Unsigned {
				d.PGPSignerKeyID, d.PGPSignerFingerprint = dec.SignerKeyID, dec.SignerFingerprint
			}
			finish(d, raw)
			return d, nil
		case errors.Is(err, pgpmime.ErrNotIntegrityProtected):
			return nil, fmt.Errorf("%w: %w", ErrUnprotected, err)
		case errors.Is(err, pgpmime.ErrTooLarge):
			return nil, fmt.Errorf("%w: %w", ErrTooLarge, err)
		case errors.Is(err, pgpmime.ErrMalformed), errors.Is(err, pgpmime.ErrNotEncrypted):
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		case errors.Is(err, pgpmime.ErrDecrypt):
			// go-crypto says "incorrect key" when no session key packet is
			// for this key; anything else (a broken MDC, truncated data)
			// means the key fit and the data did not. Its errors have no
			// types that survive pgpmime's wrapping, hence the text.
			if !strings.Contains(err.Error(), "incorrect key") {
				failed = err
			}
			continue
		default:
			return nil, fmt.Errorf("%w: %w", ErrDecryptFailed, err)
		}
	}
	if failed != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecryptFailed, failed)
	}
	return nil, ErrNotForKeys
}

// finish applies the rules every decrypted entity gets: header protection
// is read, and unauthenticated content that is not covered by an intact
// signature has its active HTML neutralised.
func finish(d *Decrypted, raw []byte) {
	if !d.Authenticated {
		d.SignedIntact = signedIntact(d.Entity)
		if !d.SignedIntact {
			d.Entity, d.Neutralised = Neutralise(d.Entity)
		}
	}
	d.Restored = protectedSubject(raw)
}

// cipherName turns smime's "aes256-gcm" into "AES-256-GCM".
func cipherName(c string) string {
	if n, ok := strings.CutPrefix(c, "aes"); ok && len(n) > 4 {
		return "AES-" + strings.ToUpper(n)
	}
	return strings.ToUpper(c)
}

// decodeTransfer undoes the outer transfer encoding of an S/MIME body:
// base64 (the norm), or binary/7bit/8bit (DER as it is).
func decodeTransfer(cte string, body []byte) ([]byte, error) {
	if len(body) > MaxEncrypted*4/3+1<<20 {
		return nil, fmt.Errorf("%w: encrypted body of %d bytes", ErrTooLarge, len(body))
	}
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64", "":
		// Absent CTE: clients that send DER say binary; base64 is what
		// everyone sends, so try it first.
		clean := make([]byte, 0, len(body))
		for _, c := range body {
			switch c {
			case ' ', '\t', '\r', '\n':
			default:
				clean = append(clean, c)
			}
		}
		der := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
		n, err := base64.StdEncoding.Decode(der, clean)
		if err != nil {
			if cte == "" {
				return body, nil
			}
			return nil, fmt.Errorf("%w: base64: %v", ErrMalformed, err)
		}
		return der[:n], nil
	case "binary", "7bit", "8bit":
		return body, nil
	}
	return nil, fmt.Errorf("%w: Content-Transfer-Encoding %q for S/MIME", ErrMalformed, cte)
}

func fieldValue(fs []Field, name string) string {
	for _, f := range fs {
		if strings.EqualFold(strings.TrimSpace(f.Name), name) {
			return strings.TrimSpace(unfold(f.Value))
		}
	}
	return ""
}

func unfold(v string) string {
	v = strings.ReplaceAll(v, "\r\n", "\n")
	return strings.ReplaceAll(v, "\n", "")
}

// MaxEntityFields bounds the header fields ParseEntity reads.
const MaxEntityFields = 1000

// ParseEntity splits a MIME entity into its header fields and body, making
// line ends CRLF. A header line that is neither a field nor a continuation
// ends the header (as Postfix and most readers see it). Only Content-* and
// MIME-Version fields are kept in the result's Fields: other fields of a
// decrypted entity (protected headers) are read from Body's header by
// protectedSubject, never moved to the outer message wholesale.
func ParseEntity(raw []byte) (*Entity, error) {
	raw = crlf(raw)
	fields, body, err := splitHeader(raw)
	if err != nil {
		return nil, err
	}
	e := &Entity{Body: body}
	for _, f := range fields {
		if isContentField(f.Name) {
			e.Fields = append(e.Fields, f)
		}
	}
	if fieldValue(e.Fields, "Content-Type") == "" {
		// RFC 2045: the default, said out loud so the outer header (which
		// had the encrypted type) does not describe the new body.
		e.Fields = append([]Field{{"Content-Type", "text/plain; charset=us-ascii"}}, e.Fields...)
	}
	if fieldValue(e.Fields, "MIME-Version") == "" {
		e.Fields = append([]Field{{"MIME-Version", "1.0"}}, e.Fields...)
	}
	return e, nil
}

// splitHeader reads header fields up to the blank line; body is what
// follows it (or nil without a header section).
func splitHeader(raw []byte) ([]Field, []byte, error) {
	var fields []Field
	rest := raw
	for len(rest) > 0 {
		i := bytes.Index(rest, []byte("\r\n"))
		var line []byte
		if i < 0 {
			line, rest = rest, nil
		} else {
			line, rest = rest[:i], rest[i+2:]
		}
		if len(line) == 0 {
			return fields, rest, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(fields) == 0 {
				return nil, nil, fmt.Errorf("%w: entity starts with a continuation line", ErrMalformed)
			}
			fields[len(fields)-1].Value += "\r\n" + string(line)
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
			// Not a field: the header ends here and this line is body.
			return fields, append(line, append([]byte("\r\n"), rest...)...), nil
		}
		if len(fields) >= MaxEntityFields {
			return nil, nil, fmt.Errorf("%w: more than %d header fields", ErrMalformed, MaxEntityFields)
		}
		fields = append(fields, Field{Name: string(name), Value: strings.TrimLeft(string(value), " \t")})
	}
	return fields, nil, nil
}

func isContentField(name string) bool {
	n := strings.ToLower(strings.TrimSpace(name))
	return strings.HasPrefix(n, "content-") || n == "mime-version"
}

// crlf makes every line end CRLF (bare LF and bare CR alike).
func crlf(b []byte) []byte {
	if !bytes.ContainsAny(b, "\r\n") {
		return b
	}
	need := false
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '\n' && (i == 0 || b[i-1] != '\r'):
			need = true
		case b[i] == '\r' && (i+1 == len(b) || b[i+1] != '\n'):
			need = true
		}
		if need {
			break
		}
	}
	if !need {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/32)
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, b[i])
		}
	}
	return out
}

// NestedEncrypted reports whether a message that is not wholly encrypted
// holds an encrypted part somewhere inside (multipart or attached message,
// a few levels deep). Such parts are never decrypted; the caller only notes
// them. It never panics.
func NestedEncrypted(fields []Field, body []byte) (found bool) {
	defer func() {
		if recover() != nil {
			found = false
		}
	}()
	n := 0
	return nestedEncrypted(fields, crlf(body), 0, &n)
}

func nestedEncrypted(fields []Field, body []byte, depth int, n *int) bool {
	if depth > 8 {
		return false
	}
	if *n++; *n > maxNeutraliseParts {
		return false
	}
	ct := fieldValue(fields, "Content-Type")
	if depth > 0 && ClassifyEncrypted(ct) != NotEncrypted {
		return true
	}
	mt, params, ok := mediaType(ct)
	if !ok {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "multipart/") && params["boundary"] != "":
		parts, err := splitMultipart(body, params["boundary"])
		if err != nil {
			return false
		}
		for _, p := range parts {
			pf, pb, err := splitHeader(p)
			if err == nil && nestedEncrypted(pf, pb, depth+1, n) {
				return true
			}
		}
	case mt == "message/rfc822" || mt == "message/global":
		pf, pb, err := splitHeader(body)
		return err == nil && nestedEncrypted(pf, pb, depth+1, n)
	}
	return false
}
