package smime

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/mailseal/mailseal/crypto/mimecanon"
)

// Sign turns one MIME entity into its multipart/signed replacement.
// fields are the entity's content header fields (the Content-* fields of
// the top-level header; MIME-Version and any other field is ignored), body
// its body in any line ending convention, possibly 8-bit. The entity is
// made 7-bit clean (see package mimecanon), then signed as the first part
// of a multipart/signed with protocol application/pkcs7-signature and
// micalg sha-256; the second part is the detached CMS signature.
//
// Sign never panics; errors wrap ErrMalformed, ErrTooLarge or
// ErrCertificateNotValid where they apply.
func (s *Signer) Sign(fields []HeaderField, body io.Reader) (signed *Signed, err error) {
	defer func() {
		if r := recover(); r != nil {
			signed, err = nil, fmt.Errorf("%w: %v", ErrInternal, r)
		}
	}()
	now := s.now()
	if err := s.checkValidity(now); err != nil {
		return nil, err
	}
	raw, err := s.readBody(body)
	if err != nil {
		return nil, err
	}
	mf := make([]mimecanon.Field, len(fields))
	for i, f := range fields {
		mf[i] = mimecanon.Field{Name: f.Name, Value: f.Value}
	}
	boundary, err := s.randomBoundary()
	if err != nil {
		return nil, err
	}
	// The signed entity is canonicalised straight into the multipart body,
	// so the message is not copied once more to assemble it.
	var w bytes.Buffer
	w.Grow(len(preamble) + len(boundary) + 2 + mimecanon.Estimate(raw) + s.signaturePartSize(boundary))
	writePreamble(&w, boundary)
	start := w.Len()
	if err := mimecanon.AppendEntity(&w, mf, raw); err != nil {
		return nil, fmt.Errorf("smime: canonicalise: %w", err)
	}
	raw = nil // the canonical form is all we need from here
	content := w.Bytes()[start:]
	if bytes.Contains(content, []byte(boundary)) {
		// Practically never (a random 144-bit boundary), but then the
		// body must be built again around one that is absent.
		if boundary, err = s.boundary(content); err != nil {
			return nil, err
		}
		var again bytes.Buffer
		again.Grow(len(preamble) + len(boundary) + 2 + len(content) + s.signaturePartSize(boundary))
		writePreamble(&again, boundary)
		again.Write(content)
		w = again
		content = w.Bytes()[w.Len()-len(content):]
	}
	return s.finish(&w, boundary, content, now)
}

// finish signs content, which w holds after the preamble, and closes the
// multipart/signed body with the signature part.
func (s *Signer) finish(w *bytes.Buffer, boundary string, content []byte, now time.Time) (*Signed, error) {
	der, err := s.detachedSignature(content, now)
	if err != nil {
		return nil, err
	}
	writeSignaturePart(w, boundary, der)
	return &Signed{
		ContentType: `multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="` + boundary + `"`,
		Body:        w.Bytes(),
	}, nil
}

func (s *Signer) readBody(r io.Reader) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	// Readers that know their size (the milter's spool) get one buffer of
	// that size instead of io.ReadAll's doubling, which allocates about
	// twice the body.
	var buf bytes.Buffer
	if sz, ok := r.(interface{ Size() int64 }); ok {
		if n := sz.Size(); n >= 0 && (s.maxSize <= 0 || n <= s.maxSize) {
			buf.Grow(int(n) + bytes.MinRead)
		}
	}
	if s.maxSize > 0 {
		r = io.LimitReader(r, s.maxSize+1)
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, fmt.Errorf("smime: read body: %w", err)
	}
	if s.maxSize > 0 && int64(buf.Len()) > s.maxSize {
		return nil, fmt.Errorf("%w: body exceeds %d bytes", ErrTooLarge, s.maxSize)
	}
	return buf.Bytes(), nil
}

// boundary returns a random boundary that does not occur in content.
func (s *Signer) boundary(content []byte) (string, error) {
	for range 8 {
		b, err := s.randomBoundary()
		if err != nil {
			return "", err
		}
		if !bytes.Contains(content, []byte(b)) {
			return b, nil
		}
	}
	return "", fmt.Errorf("smime: no boundary absent from the content (broken randomness?)")
}

// randomBoundary returns a fresh boundary. It starts with "=_", which
// quoted-printable and base64 text cannot contain.
func (s *Signer) randomBoundary() (string, error) {
	var rnd [18]byte
	if _, err := io.ReadFull(s.rand, rnd[:]); err != nil {
		return "", fmt.Errorf("smime: boundary randomness: %w", err)
	}
	return "=_mailseal_" + hex.EncodeToString(rnd[:]), nil
}

const preamble = "This is an S/MIME signed message\r\n\r\n--"

// writePreamble starts the multipart/signed body up to the signed entity.
// The CRLF before each later delimiter belongs to the delimiter, so the
// entity that follows is exactly what is signed.
func writePreamble(w *bytes.Buffer, boundary string) {
	w.WriteString(preamble)
	w.WriteString(boundary)
	w.WriteString("\r\n")
}

const signaturePartHeader = "Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"Content-Disposition: attachment; filename=\"smime.p7s\"\r\n" +
	"Content-Description: S/MIME Cryptographic Signature\r\n\r\n"

// signaturePartSize bounds what writeSignaturePart adds, so the body buffer
// can be sized once: the certificates and up to 2 KiB of signature and
// attributes, base64 in lines of 76.
func (s *Signer) signaturePartSize(boundary string) int {
	der := len(s.cert.Raw) + 2048
	for _, c := range s.chain {
		der += len(c.Raw)
	}
	b64 := (der + 2) / 3 * 4
	return 2*len(boundary) + len(signaturePartHeader) + b64 + b64/76*2 + 32
}

// writeSignaturePart ends the body: the delimiter, the detached signature
// part and the close delimiter.
func writeSignaturePart(w *bytes.Buffer, boundary string, der []byte) {
	enc := base64.StdEncoding.EncodeToString(der)
	w.WriteString("\r\n--")
	w.WriteString(boundary)
	w.WriteString("\r\n" + signaturePartHeader)
	for len(enc) > 0 {
		n := min(76, len(enc))
		w.WriteString(enc[:n])
		w.WriteString("\r\n")
		enc = enc[n:]
	}
	w.WriteString("\r\n--")
	w.WriteString(boundary)
	w.WriteString("--\r\n")
}
