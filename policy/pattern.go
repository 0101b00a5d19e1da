package policy

import (
	"fmt"
	"strings"
)

// domainKind says how a pattern's domain part matches.
type domainKind uint8

const (
	domainExact domainKind = iota // partner.example
	domainSub                     // *.partner.example: strict subdomains only
	domainAny                     // *
)

// pattern is a compiled address pattern. Forms (case-insensitive for ASCII
// letters only, so a non-ASCII look-alike never matches):
//
//	alice@corp.example       exactly that address
//	*@bank.example           anyone at that domain (not its subdomains)
//	a*@bank.example          '*' in the local part matches any run of characters
//	*@*.partner.example      anyone at a strict subdomain
//	partner.example          bare domain: anyone at exactly that domain
//	*.partner.example        bare domain glob: anyone at a strict subdomain
//	*                        anyone with a domain (also "*@*")
type pattern struct {
	raw    string
	local  string // lower case glob; "*" for domain-only forms
	domain string // lower case; for domainSub without the "*." prefix
	kind   domainKind
}

func parsePattern(raw string) (pattern, error) {
	p := pattern{raw: raw}
	s := trimLower(raw)
	if s == "" {
		return p, fmt.Errorf("empty pattern")
	}
	if strings.ContainsAny(s, " \t\r\n<>,;") {
		return p, fmt.Errorf("%q must be a bare address or domain pattern (no spaces, brackets or lists)", raw)
	}
	local, domain := "*", s
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		local, domain = s[:at], s[at+1:]
		if local == "" {
			return p, fmt.Errorf("%q has an empty local part (use *@domain)", raw)
		}
	}
	domain = strings.TrimSuffix(domain, ".")
	p.local = local
	switch {
	case domain == "*":
		p.kind = domainAny
	case strings.HasPrefix(domain, "*."):
		p.kind, p.domain = domainSub, domain[2:]
	default:
		p.kind, p.domain = domainExact, domain
	}
	if p.kind != domainAny {
		if err := checkDomain(p.domain); err != nil {
			return p, fmt.Errorf("%q: %v", raw, err)
		}
	}
	return p, nil
}

func checkDomain(d string) error {
	if d == "" {
		return fmt.Errorf("empty domain")
	}
	if strings.ContainsAny(d, "*@") {
		return fmt.Errorf("'*' is allowed only as the whole domain or as a leading \"*.\" label")
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" {
			return fmt.Errorf("domain has an empty label")
		}
	}
	return nil
}

// normAddress lower-cases (ASCII only) an envelope address and strips angle brackets.
func normAddress(a string) string {
	a = strings.TrimSpace(a)
	a = strings.TrimPrefix(a, "<")
	a = strings.TrimSuffix(a, ">")
	return trimLower(a)
}

// splitAddress splits a normalised address at its last '@'; domain is "" when
// there is none (null sender, bare local names).
func splitAddress(a string) (local, domain string) {
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return a, ""
	}
	return a[:at], strings.TrimSuffix(a[at+1:], ".")
}

// match reports whether the normalised address addr matches.
func (p pattern) match(addr string) bool {
	local, domain := splitAddress(addr)
	if domain == "" || local == "" {
		return false
	}
	return p.matchDomain(domain) && globMatch(p.local, local)
}

func (p pattern) matchDomain(domain string) bool {
	switch p.kind {
	case domainAny:
		return true
	case domainSub:
		return len(domain) > len(p.domain)+1 && strings.HasSuffix(domain, "."+p.domain)
	default:
		return domain == p.domain
	}
}

// wholeDomain reports whether the pattern covers every address of its domain
// part (so a per-destination TLS policy can enforce it).
func (p pattern) wholeDomain() bool { return p.local == "*" || strings.Trim(p.local, "*") == "" }

// globMatch matches s against a glob where '*' stands for any run of bytes.
// Linear-time greedy matching with a single backtrack point.
func globMatch(glob, s string) bool {
	gi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case gi < len(glob) && glob[gi] == '*':
			star, mark = gi, si
			gi++
		case gi < len(glob) && glob[gi] == s[si]:
			gi++
			si++
		case star >= 0:
			gi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for gi < len(glob) && glob[gi] == '*' {
		gi++
	}
	return gi == len(glob)
}
