package policy

import "strings"

// LowerASCII lower-cases the ASCII letters A-Z of an address and leaves
// every other byte as it is. strings.ToLower and strings.EqualFold fold
// Unicode: KELVIN SIGN (U+212A) becomes 'k', so "\u212Aate@corp.example"
// would be treated as kate@corp.example and signed with kate's certificate.
// Addresses are compared with this fold only, so a non-ASCII look-alike
// never matches an ASCII address, pattern or login.
func LowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + ('a' - 'A')
				}
			}
			return string(b)
		}
	}
	return s
}

// isASCII reports whether s has only 7-bit bytes. A certificate's
// rfc822Name is an IA5String, so only ASCII addresses can be signed for.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// trimLower is the normal form of an envelope address or login.
func trimLower(s string) string { return LowerASCII(strings.TrimSpace(s)) }
