package smime

import (
	"bytes"
	"fmt"
	"io"
)

// SignEntityReader is SignEntity for an entity read from r, exactly size bytes
// long. The entity is read straight into the multipart/signed body, so a large
// entity that the caller spooled to a file is held in memory once, where
// SignEntity (which copies its argument into the body) holds it twice.
func (s *Signer) SignEntityReader(r io.Reader, size int64) (signed *Signed, err error) {
	defer func() {
		if rec := recover(); rec != nil {
			signed, err = nil, fmt.Errorf("%w: %v", ErrInternal, rec)
		}
	}()
	now := s.now()
	if err := s.checkValidity(now); err != nil {
		return nil, err
	}
	if size < 0 || (s.maxSize > 0 && size > s.maxSize) {
		return nil, fmt.Errorf("%w: entity of %d bytes (limit %d)", ErrTooLarge, size, s.maxSize)
	}
	boundary, err := s.randomBoundary()
	if err != nil {
		return nil, err
	}
	var w bytes.Buffer
	// The signature part's room is more than bytes.Buffer's read margin, so
	// reading the entity never grows the buffer.
	w.Grow(len(preamble) + len(boundary) + 2 + int(size) + s.signaturePartSize(boundary))
	writePreamble(&w, boundary)
	start := w.Len()
	n, err := io.Copy(&w, io.LimitReader(r, size))
	if err != nil {
		return nil, fmt.Errorf("smime: read entity: %w", err)
	}
	if n != size {
		return nil, fmt.Errorf("%w: entity has %d bytes, not %d", ErrMalformed, n, size)
	}
	var more [1]byte
	if m, _ := io.ReadFull(r, more[:]); m > 0 {
		return nil, fmt.Errorf("%w: entity longer than %d bytes", ErrMalformed, size)
	}
	content := w.Bytes()[start:]
	if err := checkCanonical(content); err != nil {
		return nil, err
	}
	if bytes.Contains(content, []byte(boundary)) {
		// Practically never (a random 144-bit boundary): SignEntity picks
		// one that is absent, at the cost of a copy.
		return s.SignEntity(content)
	}
	return s.finish(&w, boundary, content, now)
}
