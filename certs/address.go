package certs

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// NormalizeAddress returns the form under which the partner key directory
// stores and looks up an address: the local part folded to lower case (ASCII
// only: non-ASCII local parts are compared as they are) and the domain in its
// lower-case ASCII (punycode) form, so that user@bücher.example and
// user@xn--bcher-kva.example are the same recipient.
func NormalizeAddress(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 || !utf8.ValidString(addr) {
		return "", fmt.Errorf("certs: %q is not an email address", addr)
	}
	local, domain := addr[:at], strings.TrimSuffix(addr[at+1:], ".")
	ascii, err := idna.Lookup.ToASCII(domain)
	if err == nil && ascii == "" {
		err = errors.New("empty")
	}
	if err == nil {
		// The stored form must map to itself, or a lookup would miss it.
		if again, err2 := idna.Lookup.ToASCII(ascii); err2 != nil || !strings.EqualFold(again, ascii) {
			err = fmt.Errorf("%q does not map to itself", ascii)
		}
	}
	if err != nil {
		return "", fmt.Errorf("certs: %q: invalid domain: %v", addr, err)
	}
	return asciiLower(local) + "@" + strings.ToLower(ascii), nil
}

// asciiLower folds A–Z only; strings.ToLower would also fold non-ASCII
// letters, which RFC 5321 leaves to the receiving domain.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
