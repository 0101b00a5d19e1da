package mimecanon

import (
	"fmt"
	"strings"
)

// FormatField returns one header field as this package writes the fields
// of a canonical entity: "Name: value" with CRLF folding (no final CRLF),
// 7-bit clean (RFC 2047 encoded words, RFC 2047 display names in address
// fields, RFC 2231 parameters where needed) and no line over 998 octets.
// value may be folded in any line ending convention and may hold 8-bit
// text (SMTPUTF8 mail). Fields that are already clean keep their bytes.
//
// It exists for callers that copy top-level fields (Subject, From, …) into
// an entity, such as RFC 9788 header protection.
func FormatField(name, value string) (string, error) {
	name = strings.TrimSpace(name)
	if !validName(name) {
		return "", fmt.Errorf("%w: invalid header field name %q", ErrMalformed, name)
	}
	h, err := header{fieldFromValue(name, value)}.clean()
	if err != nil {
		return "", err
	}
	if len(h) != 1 {
		return "", fmt.Errorf("%w: header field %s cannot be made 7-bit clean", ErrMalformed, name)
	}
	return string(h[0].raw), nil
}
