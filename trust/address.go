package trust

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// lowerASCII folds A-Z only. strings.ToLower folds Unicode too (KELVIN SIGN
// becomes 'k'), so a look-alike address would match a certificate's.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// normalizeAddress is the form addresses are compared in, as elsewhere in
// mailseal: the local part with ASCII letters lower-cased (other bytes as
// they are) and the domain as lower-case punycode, so user@bücher.example
// and USER@xn--bcher-kva.example are the same address.
func normalizeAddress(addr string) (string, bool) {
	addr = strings.TrimSpace(addr)
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 || !utf8.ValidString(addr) {
		return "", false
	}
	local, domain := addr[:at], strings.TrimSuffix(addr[at+1:], ".")
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil || ascii == "" {
		return "", false
	}
	return lowerASCII(local) + "@" + strings.ToLower(ascii), true
}

var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	// A display name in an unknown charset must not hide the address:
	// only the addr-spec counts.
	CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
}}

// fromAddress returns the normalised address of the message's one From:
// field with one mailbox. Display names and encoded words are never
// looked at: only the parsed addr-spec is.
func fromAddress(top entity) (string, error) {
	froms := top.all("From")
	if len(froms) != 1 {
		return "", fmt.Errorf("the message has %d From: fields, not one", len(froms))
	}
	list, err := addressParser.ParseList(froms[0])
	if err != nil {
		return "", fmt.Errorf("the From: field %q cannot be read: %v", froms[0], err)
	}
	if len(list) != 1 {
		return "", fmt.Errorf("the From: field names %d addresses, not one", len(list))
	}
	a, ok := normalizeAddress(list[0].Address)
	if !ok {
		return "", fmt.Errorf("the From: address %q is not a valid address", list[0].Address)
	}
	return a, nil
}

var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

// certEmails returns a certificate's mail addresses, normalised: the
// rfc822Name SANs, or, only when there are none, emailAddress attributes
// of the subject (RFC 8550 3: older certificates carry it there).
func certEmails(c *x509.Certificate) []string {
	var raw []string
	raw = append(raw, c.EmailAddresses...)
	if len(raw) == 0 {
		for _, n := range c.Subject.Names {
			if n.Type.Equal(oidEmailAddress) {
				if s, ok := n.Value.(string); ok {
					raw = append(raw, s)
				}
			}
		}
	}
	var out []string
	for _, r := range raw {
		if a, ok := normalizeAddress(r); ok {
			out = append(out, a)
		}
	}
	return out
}
