package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"strings"
)

// A built-in CA handed to partners as a trust anchor should vouch for our
// domains only. It carries X.509 name constraints (RFC 5280 4.2.1.10):
// permitted rfc822Name subtrees "corp.example" (addresses at that host) and
// ".corp.example" (addresses at any subdomain) per internal domain, so a
// partner who imports it trusts it for nothing else. The extension is not
// marked critical: RFC 5280 asks for critical, but gpgsm refuses every
// certificate under a CA with a critical extension it does not know, and
// name constraints are one of them; OpenSSL, NSS (Thunderbird) and Go
// enforce the constraints either way (as the CA/Browser Forum's baseline
// requirements allow for the same reason).

// emailConstraints returns the permitted rfc822Name subtrees for domains.
func emailConstraints(domains []string) []string {
	var out []string
	for _, d := range domains {
		if d = normDomain(d); d != "" {
			out = append(out, d, "."+d)
		}
	}
	return out
}

// hostPermitted applies the rfc822Name constraints of ca to the domain part
// of an address. Mailbox constraints ("x@host") permit single addresses
// only, so they never permit a whole host.
func hostPermitted(ca *x509.Certificate, host string) bool {
	host = lowerASCII(host)
	match := func(c string) bool {
		c = lowerASCII(c)
		switch {
		case strings.Contains(c, "@"):
			return false
		case strings.HasPrefix(c, "."):
			return strings.HasSuffix(host, c)
		default:
			return host == c
		}
	}
	for _, c := range ca.ExcludedEmailAddresses {
		if match(c) {
			return false
		}
	}
	if len(ca.PermittedEmailAddresses) == 0 {
		return true
	}
	for _, c := range ca.PermittedEmailAddresses {
		if match(c) {
			return true
		}
	}
	return false
}

// emailPermitted reports whether ca's name constraints permit email.
func emailPermitted(ca *x509.Certificate, email string) bool {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	for _, c := range ca.PermittedEmailAddresses {
		if strings.Contains(c, "@") && lowerASCII(c) == lowerASCII(email) {
			return true
		}
	}
	return hostPermitted(ca, email[at+1:])
}

// domainCovered reports whether every address at domain and at its
// subdomains (both are internal) is permitted.
func domainCovered(ca *x509.Certificate, domain string) bool {
	return hostPermitted(ca, domain) && hostPermitted(ca, "sub."+domain)
}

// hasEmailConstraints reports whether ca limits the addresses it vouches for.
func hasEmailConstraints(ca *x509.Certificate) bool {
	return len(ca.PermittedEmailAddresses) > 0 || len(ca.ExcludedEmailAddresses) > 0
}

// CAWarnings tells what makes the issuer's root unfit to hand to partners
// for internalDomains: no name constraints at all, or internal domains its
// constraints do not permit (certificates for them are refused). Empty when
// the issuer tells no root.
func (m *Manager) CAWarnings(internalDomains []string) []string {
	ca := m.caCert
	if ca == nil {
		return nil
	}
	if !hasEmailConstraints(ca) {
		return []string{fmt.Sprintf("the CA %q has no name constraints: partners who import it trust it for every address, not only internal_domains "+
			"(it was created before mailseal constrained new CAs, or while internal_domains was empty): run `mailseal ca recertify`", ca.Subject.String())}
	}
	var ws []string
	for _, d := range internalDomains {
		if d = normDomain(d); d != "" && !domainCovered(ca, d) {
			ws = append(ws, fmt.Sprintf("internal domain %s is outside the name constraints of the CA %q (%s): certificates for its users are refused, "+
				"because partners' clients would reject them: run `mailseal ca recertify`", d, ca.Subject.String(), strings.Join(ca.PermittedEmailAddresses, ", ")))
		}
	}
	return ws
}

// FingerprintSHA256 is the SHA-256 fingerprint of a certificate as
// `openssl x509 -fingerprint -sha256` prints it (upper-case hex pairs
// separated by colons), for comparing out of band.
func FingerprintSHA256(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	var b strings.Builder
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}

// lowerASCII lower-cases ASCII letters only: strings.ToLower would turn
// KELVIN SIGN (U+212A) into 'k', making a look-alike address equal to a
// real one.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// inDomains reports whether email's domain is one of domains or below one.
func inDomains(email string, domains []string) bool {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	host := lowerASCII(email[at+1:])
	for _, d := range domains {
		d = normDomain(d)
		if d != "" && host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

// normDomain is a configured domain in lower case without a trailing dot.
func normDomain(d string) string {
	return lowerASCII(strings.TrimSuffix(strings.TrimSpace(d), "."))
}
