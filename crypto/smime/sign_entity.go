package smime

import (
	"bytes"
	"fmt"
)

// SignEntity signs an entity that is already canonical — CRLF line ends,
// 7-bit, no line over 998 octets, no line starting "From " — such as the
// inner entity package protect builds with protected header fields, which
// Sign would drop (it keeps only Content-* fields). The entity's bytes are
// signed exactly as they are; anything not canonical is refused with
// ErrMalformed rather than repaired, because repairing would change what
// the caller built.
func (s *Signer) SignEntity(entity []byte) (signed *Signed, err error) {
	defer func() {
		if r := recover(); r != nil {
			signed, err = nil, fmt.Errorf("%w: %v", ErrInternal, r)
		}
	}()
	now := s.now()
	if err := s.checkValidity(now); err != nil {
		return nil, err
	}
	if s.maxSize > 0 && int64(len(entity)) > s.maxSize {
		return nil, fmt.Errorf("%w: entity exceeds %d bytes", ErrTooLarge, s.maxSize)
	}
	if err := checkCanonical(entity); err != nil {
		return nil, err
	}
	boundary, err := s.boundary(entity)
	if err != nil {
		return nil, err
	}
	var w bytes.Buffer
	w.Grow(len(preamble) + len(boundary) + 2 + len(entity) + s.signaturePartSize(boundary))
	writePreamble(&w, boundary)
	w.Write(entity)
	return s.finish(&w, boundary, entity, now)
}

// checkCanonical reports why entity is not safe to sign as it is.
func checkCanonical(entity []byte) error {
	if !bytes.Contains(entity, []byte("\r\n\r\n")) {
		return fmt.Errorf("%w: entity has no header/body separator", ErrMalformed)
	}
	line := 1
	for rest := entity; len(rest) > 0; line++ {
		i := bytes.IndexByte(rest, '\n')
		l := rest
		if i >= 0 {
			l, rest = rest[:i], rest[i+1:]
			if len(l) == 0 || l[len(l)-1] != '\r' {
				return fmt.Errorf("%w: line %d does not end in CRLF", ErrMalformed, line)
			}
			l = l[:len(l)-1]
		} else {
			rest = nil
		}
		if len(l) > 998 {
			return fmt.Errorf("%w: line %d is longer than 998 octets", ErrMalformed, line)
		}
		if bytes.HasPrefix(l, []byte("From ")) {
			return fmt.Errorf("%w: line %d starts with \"From \"", ErrMalformed, line)
		}
		for _, c := range l {
			if c >= 0x80 || c == 0 || c == '\r' {
				return fmt.Errorf("%w: line %d is not 7-bit text", ErrMalformed, line)
			}
		}
	}
	return nil
}
