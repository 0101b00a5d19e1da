package policy

import "strings"

// TLSPolicy answers a Postfix smtp_tls_policy_maps lookup. nexthop is the
// key Postfix sends: a domain ("partner.example"), a parent-domain form
// (".partner.example", asked after NOTFOUND) or a bracketed host with or
// without port ("[mx.partner.example]:25"); brackets, port, a trailing dot
// and case are ignored.
//
// Entries come from rules that apply to outbound mail (direction outbound or
// empty) with require_tls and recipient patterns covering whole domains
// (*@partner.example, partner.example, *@*.partner.example,
// *.partner.example, *). The map is per destination, so a rule's senders
// cannot narrow it: TLS is then required for every sender to that domain.
// The first such rule in order wins. Its value is "encrypt", or
// "verify tafile=<tls_ca_file>" when tls_ca_file is set.
//
// A leading-dot key matches only subdomain patterns: ".partner.example"
// answers for "*.partner.example", never for "partner.example".
//
// A bracketed next hop names a mail server, not a mail domain: a transport
// entry "partner.example smtp:[mx.partner.example]:25" makes Postfix ask for
// "[mx.partner.example]:25" and nothing else. Such a host matches a rule
// when it lies in the rule's domain (the domain itself or any host under
// it), so TLS to the partner stays required whichever of its servers the
// admin routes to. Requiring TLS where a rule did not strictly ask is the
// safe error: the mail waits, it never leaves in clear.
func (e *Engine) TLSPolicy(nexthop string) (value string, ok bool) {
	key := trimLower(nexthop)
	host := false
	if strings.HasPrefix(key, "[") {
		end := strings.IndexByte(key, ']')
		if end < 0 {
			return "", false
		}
		key, host = key[1:end], true
	} else if i := strings.LastIndexByte(key, ':'); i >= 0 && strings.Count(key, ":") == 1 {
		key = key[:i]
	}
	key = strings.TrimSuffix(key, ".")
	parent := strings.HasPrefix(key, ".")
	if parent && host {
		return "", false // "[.x]" names no host
	}
	if parent {
		key = key[1:]
	}
	if key == "" {
		return "", false
	}
	for i := range e.rules {
		r := &e.rules[i]
		if !r.requireTLS || r.direction == "inbound" {
			continue
		}
		for _, p := range r.recipients {
			if !p.wholeDomain() || !tlsKeyMatches(p, key, parent, host) {
				continue
			}
			if r.caFile != "" {
				return "verify tafile=" + r.caFile, true
			}
			return "encrypt", true
		}
	}
	return "", false
}

func tlsKeyMatches(p pattern, key string, parent, host bool) bool {
	switch {
	case parent:
		return p.kind == domainSub && p.domain == key
	case host && p.kind == domainExact:
		return key == p.domain || strings.HasSuffix(key, "."+p.domain)
	}
	return p.matchDomain(key)
}
