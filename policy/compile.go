package policy

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
)

// Engine is a compiled, validated policy. It is immutable and safe for
// concurrent use; all its methods are pure.
type Engine struct {
	global       settings
	tags         []string
	sensitivity  bool
	markers      []headerMarker
	rules        []rule
	unauthorised UnauthorisedMode
	// encryptedSubject is policy.encrypted_subject ("" keeps the subject).
	encryptedSubject string
}

// settings are the effective outbound settings of the global policy or a rule.
type settings struct {
	sign     SignMode
	encrypt  EncryptMode
	methods  []Method
	fallback Fallback
	smime    SMIMEOptions
}

type rule struct {
	name       string
	direction  string // "", "inbound", "outbound"
	senders    []pattern
	recipients []pattern
	s          settings // merged with the global settings
	requireTLS bool
	caFile     string
	requireSig string
}

type headerMarker struct {
	name, value string // lower case; value "" = present at all
	raw         string
}

// Compile validates s and returns the engine, or nil and every problem found,
// each keyed by its YAML path (policy.rules[1].encrypt).
func Compile(s Spec) (*Engine, []Problem) {
	var ps []Problem
	bad := func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
	}
	e := &Engine{sensitivity: s.Confidential.Sensitivity}

	e.global.sign = SignMode(orDefault(s.Sign, string(SignAlways)))
	checkSign("policy.sign", e.global.sign, bad)
	e.global.encrypt = EncryptMode(orDefault(s.Encrypt, string(EncryptOpportunistic)))
	checkEncrypt("policy.encrypt", e.global.encrypt, bad)
	e.global.methods = []Method{MethodSMIME, MethodPGP, MethodPDF}
	if len(s.Methods) > 0 {
		e.global.methods = compileMethods("policy.methods", s.Methods, bad)
	}
	e.global.fallback = Fallback(orDefault(s.Fallback, string(FallbackPDF)))
	if len(s.Methods) == 0 && e.global.fallback == FallbackReject {
		// "fallback: reject" with the default methods means: no PDF.
		e.global.methods = withoutPDF(e.global.methods)
	}
	checkFallback("policy.fallback", e.global.fallback, e.global.methods, bad)
	e.global.smime.Cipher = SMIMECipher(orDefault(s.SMIMECipher, string(CipherAuto)))
	checkCipher("policy.smime_cipher", e.global.smime.Cipher, bad)
	e.global.smime.KeyTransport = KeyTransport(orDefault(s.SMIMEKeyTransport, string(KeyTransportPKCS1)))
	checkKeyTransport("policy.smime_key_transport", e.global.smime.KeyTransport, bad)
	e.encryptedSubject = s.EncryptedSubject
	if hasControl(s.EncryptedSubject) {
		bad("policy.encrypted_subject", "%q contains control characters", s.EncryptedSubject)
	}

	if s.Confidential.SubjectTags == nil {
		e.tags = append([]string(nil), defaultSubjectTags...)
	}
	for i, t := range s.Confidential.SubjectTags {
		key := fmt.Sprintf("policy.confidential.subject_tags[%d]", i)
		t = strings.TrimSpace(t)
		switch {
		case t == "":
			bad(key, "must not be empty")
		case hasControl(t):
			bad(key, "%q contains control characters", t)
		default:
			e.tags = append(e.tags, t)
		}
	}
	for i, h := range s.Confidential.Headers {
		key := fmt.Sprintf("policy.confidential.headers[%d]", i)
		name, value, _ := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !validFieldName(name) {
			bad(key, "%q is not \"Header-Name\" or \"Header-Name: value\"", h)
			continue
		}
		if hasControl(value) {
			bad(key, "%q contains control characters", h)
			continue
		}
		e.markers = append(e.markers, headerMarker{name: strings.ToLower(name), value: strings.ToLower(value), raw: strings.TrimSpace(h)})
	}

	e.unauthorised = UnauthorisedMode(orDefault(s.UnauthorisedInternal, string(UnauthorisedDeliver)))
	if e.unauthorised != UnauthorisedDeliver && e.unauthorised != UnauthorisedReject {
		bad("policy.unauthorised_internal", "%q is not one of deliver, reject", s.UnauthorisedInternal)
	}

	names := map[string]int{}
	for i, rs := range s.Rules {
		e.rules = append(e.rules, compileRule(i, rs, e.global, names, bad))
	}
	if len(ps) > 0 {
		return nil, ps
	}
	return e, nil
}

func compileRule(i int, rs RuleSpec, global settings, names map[string]int, bad func(string, string, ...any)) rule {
	key := func(field string) string { return fmt.Sprintf("policy.rules[%d].%s", i, field) }
	r := rule{name: rs.Name, direction: rs.Direction, requireTLS: rs.RequireTLS, caFile: rs.TLSCAFile, requireSig: rs.RequireSignature, s: global}
	switch {
	case strings.TrimSpace(rs.Name) == "":
		bad(key("name"), "is required")
	case rs.Name != strings.TrimSpace(rs.Name) || hasControl(rs.Name):
		bad(key("name"), "%q must not have surrounding spaces or control characters", rs.Name)
	default:
		if j, dup := names[rs.Name]; dup {
			bad(key("name"), "duplicate rule name %q (also policy.rules[%d])", rs.Name, j)
		} else {
			names[rs.Name] = i
		}
	}
	switch rs.Direction {
	case "", "inbound", "outbound":
	default:
		bad(key("direction"), "%q is not one of inbound, outbound (or empty for both)", rs.Direction)
	}
	if len(rs.Senders) == 0 && len(rs.Recipients) == 0 {
		bad(fmt.Sprintf("policy.rules[%d]", i), "a rule needs senders or recipients (use \"*\" to match everyone)")
	}
	r.senders = compilePatterns(key("senders"), rs.Senders, bad)
	r.recipients = compilePatterns(key("recipients"), rs.Recipients, bad)

	inboundOnly := rs.Direction == "inbound"
	outboundField := func(field, value string) bool {
		if value != "" && inboundOnly {
			bad(key(field), "applies to outbound mail only, but the rule has direction inbound")
			return false
		}
		return value != ""
	}
	if outboundField("sign", rs.Sign) {
		r.s.sign = SignMode(rs.Sign)
		checkSign(key("sign"), r.s.sign, bad)
	}
	if outboundField("encrypt", rs.Encrypt) {
		r.s.encrypt = EncryptMode(rs.Encrypt)
		checkEncrypt(key("encrypt"), r.s.encrypt, bad)
	}
	if len(rs.Methods) > 0 && outboundField("methods", "set") {
		r.s.methods = compileMethods(key("methods"), rs.Methods, bad)
	}
	if outboundField("fallback", rs.Fallback) {
		r.s.fallback = Fallback(rs.Fallback)
		if len(rs.Methods) == 0 && r.s.fallback == FallbackReject {
			// "fallback: reject" alone means: no PDF for this rule.
			r.s.methods = withoutPDF(r.s.methods)
		}
	}
	if outboundField("smime_cipher", rs.SMIMECipher) {
		r.s.smime.Cipher = SMIMECipher(rs.SMIMECipher)
		checkCipher(key("smime_cipher"), r.s.smime.Cipher, bad)
	}
	if outboundField("smime_key_transport", rs.SMIMEKeyTransport) {
		r.s.smime.KeyTransport = KeyTransport(rs.SMIMEKeyTransport)
		checkKeyTransport(key("smime_key_transport"), r.s.smime.KeyTransport, bad)
	}
	if !inboundOnly && (rs.Fallback != "" || len(rs.Methods) > 0) {
		checkFallback(key("fallback"), r.s.fallback, r.s.methods, bad)
	}

	if rs.TLSCAFile != "" {
		switch {
		case !rs.RequireTLS:
			bad(key("tls_ca_file"), "needs require_tls: true")
		case inboundOnly:
			bad(key("tls_ca_file"), "applies to outbound mail only, but the rule has direction inbound")
		case !filepath.IsAbs(rs.TLSCAFile) || strings.ContainsFunc(rs.TLSCAFile, unicode.IsSpace):
			bad(key("tls_ca_file"), "%q must be an absolute path without spaces (Postfix reads it as tafile=)", rs.TLSCAFile)
		}
	}
	if rs.RequireTLS && rs.Direction == "outbound" {
		whole := false
		for _, p := range r.recipients {
			whole = whole || p.wholeDomain()
		}
		if !whole {
			bad(key("require_tls"), "an outbound rule can require TLS only for whole domains: add recipients like \"*@partner.example\" (Postfix enforces it per destination)")
		}
	}
	switch rs.RequireSignature {
	case "", "reject", "tag":
		if rs.RequireSignature != "" && rs.Direction == "outbound" {
			bad(key("require_signature"), "applies to inbound mail only, but the rule has direction outbound")
		}
	default:
		bad(key("require_signature"), "%q is not one of reject, tag (or empty)", rs.RequireSignature)
	}
	return r
}

// EncryptedSubject is the outer Subject for encrypted copies; "" means the
// real subject stays visible.
func (e *Engine) EncryptedSubject() string { return e.encryptedSubject }

func compilePatterns(key string, raw []string, bad func(string, string, ...any)) []pattern {
	var out []pattern
	for j, s := range raw {
		p, err := parsePattern(s)
		if err != nil {
			bad(fmt.Sprintf("%s[%d]", key, j), "%v", err)
			continue
		}
		out = append(out, p)
	}
	return out
}

func compileMethods(key string, raw []string, bad func(string, string, ...any)) []Method {
	var out []Method
	seen := map[Method]bool{}
	for j, s := range raw {
		m := Method(s)
		switch m {
		case MethodSMIME, MethodPGP, MethodPDF:
		default:
			bad(fmt.Sprintf("%s[%d]", key, j), "%q is not one of smime, pgp, pdf", s)
			continue
		}
		if seen[m] {
			bad(fmt.Sprintf("%s[%d]", key, j), "%q is listed twice", s)
			continue
		}
		seen[m] = true
		out = append(out, m)
	}
	return out
}

func checkSign(key string, m SignMode, bad func(string, string, ...any)) {
	switch m {
	case SignAlways, SignConfidential, SignNever:
	default:
		bad(key, "%q is not one of always, confidential, never", string(m))
	}
}

func checkEncrypt(key string, m EncryptMode, bad func(string, string, ...any)) {
	switch m {
	case EncryptRequired, EncryptOpportunistic, EncryptConfidential, EncryptNever:
	default:
		bad(key, "%q is not one of required, opportunistic, confidential, never", string(m))
	}
}

// checkFallback validates a fallback against the methods it combines with:
// pdf needs no key, so with pdf among the methods a reject fallback could
// never apply — that is reported rather than silently ignored.
func checkFallback(key string, f Fallback, methods []Method, bad func(string, string, ...any)) {
	switch f {
	case FallbackPDF:
	case FallbackReject:
		for _, m := range methods {
			if m == MethodPDF {
				bad(key, "reject never applies while methods include pdf (pdf needs no key): remove pdf from methods")
				return
			}
		}
	default:
		bad(key, "%q is not one of pdf, reject", string(f))
	}
}

func withoutPDF(ms []Method) []Method {
	var out []Method
	for _, m := range ms {
		if m != MethodPDF {
			out = append(out, m)
		}
	}
	return out
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func hasControl(s string) bool { return strings.ContainsFunc(s, unicode.IsControl) }

// validFieldName reports whether s is an RFC 5322 header field name.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}
