package smime

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"

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
	content, err := mimecanon.Entity(mf, raw)
	if err != nil {
		return nil, fmt.Errorf("smime: canonicalise: %w", err)
	}
	der, err := s.detachedSignature(content, now)
	if err != nil {
		return nil, err
	}
	boundary, err := s.boundary(content)
	if err != nil {
		return nil, err
	}
	return &Signed{
		ContentType: `multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="` + boundary + `"`,
		Body:        assemble(boundary, content, der),
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

// boundary returns a random boundary that does not occur in content. It
// starts with "=_", which quoted-printable and base64 text cannot contain.
func (s *Signer) boundary(content []byte) (string, error) {
	var rnd [18]byte
	for range 8 {
		if _, err := io.ReadFull(s.rand, rnd[:]); err != nil {
			return "", fmt.Errorf("smime: boundary randomness: %w", err)
		}
		b := "=_mailseal_" + hex.EncodeToString(rnd[:])
		if !bytes.Contains(content, []byte(b)) {
			return b, nil
		}
	}
	return "", fmt.Errorf("smime: no boundary absent from the content (broken randomness?)")
}

// assemble writes the multipart/signed body. The CRLF before each
// delimiter belongs to the delimiter, so content is exactly what was
// signed.
func assemble(boundary string, content, der []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(der)
	var w bytes.Buffer
	w.Grow(len(content) + len(enc) + len(enc)/76*2 + 512)
	w.WriteString("This is an S/MIME signed message\r\n\r\n--")
	w.WriteString(boundary)
	w.WriteString("\r\n")
	w.Write(content)
	w.WriteString("\r\n--")
	w.WriteString(boundary)
	w.WriteString("\r\n" +
		"Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=\"smime.p7s\"\r\n" +
		"Content-Description: S/MIME Cryptographic Signature\r\n\r\n")
	for len(enc) > 0 {
		n := min(76, len(enc))
		w.WriteString(enc[:n])
		w.WriteString("\r\n")
		enc = enc[n:]
	}
	w.WriteString("\r\n--")
	w.WriteString(boundary)
	w.WriteString("--\r\n")
	return w.Bytes()
}
