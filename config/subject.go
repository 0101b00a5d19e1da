package config

import (
	"crypto/x509/pkix"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ParseSubject parses ca.subject, a distinguished name written like
// RFC 4514: "CN=Corp Mail CA,O=Corp,OU=IT,L=Berlin,ST=Berlin,C=DE". The
// attribute types CN (required, once), O, OU, L, ST and C are accepted, in
// any order; a ',' or '+' or '\' inside a value is escaped with '\'. Values
// are limited to the X.520 upper bounds (64 characters, 128 for L and ST).
func ParseSubject(s string) (pkix.Name, error) {
	var name pkix.Name
	if strings.TrimSpace(s) == "" {
		return name, fmt.Errorf("must name at least the CA's common name, e.g. \"CN=Corp Mail CA,O=Corp\"")
	}
	if !utf8.ValidString(s) {
		return name, fmt.Errorf("%q is not valid UTF-8", s)
	}
	rdns, err := splitRDNs(s)
	if err != nil {
		return name, err
	}
	for _, rdn := range rdns {
		typ, value, ok := strings.Cut(rdn, "=")
		typ = strings.ToUpper(strings.TrimSpace(typ))
		value = strings.TrimSpace(value)
		if !ok || typ == "" {
			return name, fmt.Errorf("%q is not TYPE=value (e.g. CN=Corp Mail CA)", strings.TrimSpace(rdn))
		}
		if value == "" {
			return name, fmt.Errorf("%s has an empty value", typ)
		}
		for _, r := range value {
			if unicode.IsControl(r) {
				return name, fmt.Errorf("%s contains control characters", typ)
			}
		}
		limit := 64
		if typ == "L" || typ == "ST" {
			limit = 128
		}
		if n := utf8.RuneCountInString(value); n > limit {
			return name, fmt.Errorf("%s is %d characters long, at most %d are allowed", typ, n, limit)
		}
		switch typ {
		case "CN":
			if name.CommonName != "" {
				return name, fmt.Errorf("CN is given twice")
			}
			name.CommonName = value
		case "O":
			name.Organization = append(name.Organization, value)
		case "OU":
			name.OrganizationalUnit = append(name.OrganizationalUnit, value)
		case "L":
			name.Locality = append(name.Locality, value)
		case "ST":
			name.Province = append(name.Province, value)
		case "C":
			if len(value) != 2 || !isUpperASCII(value) {
				return name, fmt.Errorf("C must be a two-letter country code in capitals (ISO 3166), got %q", value)
			}
			name.Country = append(name.Country, value)
		default:
			return name, fmt.Errorf("attribute type %q is not one of CN, O, OU, L, ST, C", typ)
		}
	}
	if name.CommonName == "" {
		return name, fmt.Errorf("CN (the CA's common name) is required")
	}
	return name, nil
}

// splitRDNs splits at unescaped commas and removes the escapes.
func splitRDNs(s string) ([]string, error) {
	var (
		out []string
		cur strings.Builder
	)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("%q ends in a lone backslash", s)
			}
			i++
			cur.WriteByte(s[i])
		case ',':
			out = append(out, cur.String())
			cur.Reset()
		case '+':
			return nil, fmt.Errorf("multi-valued name parts ('+') are not supported; escape a literal plus as \\+")
		default:
			cur.WriteByte(c)
		}
	}
	return append(out, cur.String()), nil
}

func isUpperASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
