package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/mailseal/mailseal/policy"
)

// Validate checks every key and normalises values (lower-case domains,
// canonical prefixes). It returns all problems, not only the first.
func (c *Config) Validate() Problems {
	var ps Problems
	bad := func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
	}

	if _, _, err := SplitSocket(c.Listen); err != nil {
		bad("listen", "%v", err)
	}
	if c.AdminListen != "" {
		if _, _, err := net.SplitHostPort(c.AdminListen); err != nil {
			bad("admin_listen", "%q is not host:port", c.AdminListen)
		}
	}
	if strings.TrimSpace(c.StateDir) == "" {
		bad("state_dir", "must not be empty")
	}
	if c.AuthservID == "" || strings.ContainsAny(c.AuthservID, " \t;()\"") {
		bad("authserv_id", "%q must be a non-empty token without spaces, ';', '(' or quotes", c.AuthservID)
	}
	for i, d := range c.InternalDomains {
		d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
		if !isDomain(d) {
			bad("internal_domains", "%q is not a domain name", c.InternalDomains[i])
		}
		c.InternalDomains[i] = d
	}
	for _, n := range c.TrustedNetworks {
		if _, err := ParsePrefix(n); err != nil {
			bad("trusted_networks", "%q is not an IP address or CIDR network", n)
		}
	}
	if c.MasterKey != "" {
		if k, err := base64.StdEncoding.DecodeString(c.MasterKey); err != nil || len(k) != 32 {
			bad("master_key", "must be 32 bytes, base64-encoded (e.g. from `head -c32 /dev/urandom | base64`)")
		}
	}
	c.validateStore(bad)
	switch c.CA.Backend {
	case "builtin":
	case "step":
		c.validateStep(bad)
	default:
		bad("ca.backend", "%q is not a CA backend (builtin or step)", c.CA.Backend)
	}
	switch c.CA.KeyType {
	case "rsa-3072", "rsa-2048", "ecdsa-p256":
	default:
		bad("ca.key_type", "%q is not one of rsa-3072, rsa-2048, ecdsa-p256", c.CA.KeyType)
	}
	if c.CA.Validity < time.Hour {
		bad("ca.validity", "must be at least 1h, got %s", c.CA.Validity)
	}
	if c.CA.RenewBefore <= 0 || c.CA.RenewBefore >= c.CA.Validity {
		bad("ca.renew_before", "must be positive and shorter than ca.validity (%s), got %s", c.CA.Validity, c.CA.RenewBefore)
	}
	if c.CA.RenewInterval < time.Second {
		bad("ca.renew_interval", "must be at least 1s, got %s", c.CA.RenewInterval)
	}
	if c.CA.CRLURL != "" {
		if u, err := url.Parse(c.CA.CRLURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("ca.crl_url", "%q is not an http(s) URL", c.CA.CRLURL)
		}
	}
	if c.CA.OCSPURL != "" {
		if u, err := url.Parse(c.CA.OCSPURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("ca.ocsp_url", "%q is not an http(s) URL", c.CA.OCSPURL)
		}
	}
	if t := c.Trust.RevocationTimeout; t < 100*time.Millisecond || t > 5*time.Minute {
		bad("trust.revocation_timeout", "must be between 100ms and 5m, got %s", t)
	}
	if n := c.Trust.RevocationCacheMax; n < 1 {
		bad("trust.revocation_cache_max", "must be a positive number, got %d", n)
	}
	if _, err := ParseSubject(c.CA.Subject); err != nil {
		bad("ca.subject", "%v", err)
	}
	for _, p := range validatePKCS11(c.CA.PKCS11, c.CA.Backend) {
		bad(p.Key, "%s", p.Message)
	}
	c.Auth.LoginMap = nil
	if c.Auth.LoginMaps != "" {
		if m, err := loadLoginMap(c.Auth.LoginMaps); err != nil {
			bad("auth.login_maps", "%v", err)
		} else {
			c.Auth.LoginMap = m
		}
	}
	if _, problems := policy.Compile(c.Policy); len(problems) > 0 {
		for _, p := range problems {
			bad(p.Key, "%s%s", ruleName(c.Policy.Rules, p.Key), p.Message)
		}
	}
	for _, k := range []struct{ key, addr string }{{"reinject", c.Reinject}, {"socketmap_listen", c.SocketmapListen}} {
		if k.addr != "" {
			if _, _, err := net.SplitHostPort(k.addr); err != nil {
				bad(k.key, "%q is not host:port", k.addr)
			}
		}
	}
	if c.Milter.SpoolMemory < 0 {
		bad("milter.spool_memory", "must not be negative")
	}
	if c.Milter.MaxMessageSize < 1024 {
		bad("milter.max_message_size", "must be at least 1KiB")
	}
	for _, t := range []struct {
		key string
		d   time.Duration
	}{
		{"milter.read_timeout", c.Milter.ReadTimeout},
		{"milter.write_timeout", c.Milter.WriteTimeout},
		{"milter.shutdown_timeout", c.Milter.ShutdownTimeout},
		{"milter.copy_retention", c.Milter.CopyRetention},
	} {
		if t.d <= 0 {
			bad(t.key, "must be a positive duration, got %s", t.d)
		}
	}
	for _, k := range []struct {
		key string
		n   int
	}{{"milter.max_connections", c.Milter.MaxConnections}, {"socketmap.max_connections", c.Socketmap.MaxConnections}} {
		if k.n < 0 {
			bad(k.key, "must be 0 (derived from the open-file limit) or a positive number, got %d", k.n)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q is not one of text, json", c.Log.Format)
	}
	switch c.Log.Output {
	case "stderr", "syslog":
	default:
		bad("log.output", "%q is not one of stderr, syslog", c.Log.Output)
	}
	switch c.PDF.PasswordDelivery {
	case "sender":
	case "sms":
		c.validateSMS(bad)
	case "fixed":
	default:
		bad("pdf.password_delivery", "%q is not one of sender, sms, fixed", c.PDF.PasswordDelivery)
	}
	switch c.PDF.Language {
	case "en", "de":
	default:
		bad("pdf.language", "%q is not one of en, de", c.PDF.Language)
	}
	c.validateTrust(bad)
	c.validateEnroll(bad)
	return ps
}

// ruleName returns `(rule "NAME") ` for a key inside a named rule, so the
// admin finds the rule without counting list entries.
func ruleName(rules []policy.RuleSpec, key string) string {
	var i int
	if _, err := fmt.Sscanf(key, "policy.rules[%d]", &i); err != nil || i < 0 || i >= len(rules) || rules[i].Name == "" {
		return ""
	}
	return fmt.Sprintf("(rule %q) ", rules[i].Name)
}

// SplitSocket turns "inet:host:port" or "unix:/path" into a net.Listen pair.
func SplitSocket(s string) (network, address string, err error) {
	kind, rest, ok := strings.Cut(s, ":")
	switch {
	case !ok:
	case kind == "inet" || kind == "inet6" || kind == "tcp":
		if _, _, err := net.SplitHostPort(rest); err == nil {
			return "tcp", rest, nil
		}
	case kind == "unix" || kind == "local":
		if strings.HasPrefix(rest, "/") {
			return "unix", rest, nil
		}
	}
	return "", "", fmt.Errorf("%q is not inet:HOST:PORT or unix:/absolute/path", s)
}

// ParsePrefix accepts a CIDR network or a single address.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// TrustedPrefixes returns trusted_networks parsed; Validate has checked them.
func (c *Config) TrustedPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(c.TrustedNetworks))
	for _, n := range c.TrustedNetworks {
		if p, err := ParsePrefix(n); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// CRLURL is where user certificates point for revocation: ca.crl_url only.
// The admin listener is usually loopback, which no partner can reach, so it
// is never written into certificates by default (see CAWarnings).
func (c *Config) CRLURL() string { return c.CA.CRLURL }

// OCSPURL is the OCSP responder user certificates name: ca.ocsp_url only,
// for the same reason.
func (c *Config) OCSPURL() string { return c.CA.OCSPURL }

func isDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// validateStep checks the ca.step.* keys when ca.backend is step. The files'
// contents (a PEM root, a JWK that the password opens) are checked when the
// issuer is built at start, with messages naming the same keys.
func (c *Config) validateStep(bad func(key, format string, args ...any)) {
	st := c.CA.Step
	if st.URL == "" {
		bad("ca.step.url", "is required with ca.backend step (https://HOST[:PORT] of the step-ca server)")
	} else if u, err := url.Parse(st.URL); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		bad("ca.step.url", "%q is not https://HOST[:PORT] (step-ca speaks HTTPS only; no path)", st.URL)
	}
	if st.Provisioner == "" {
		bad("ca.step.provisioner", "is required with ca.backend step (the name of step-ca's JWK provisioner)")
	}
	for _, f := range []struct{ key, path string }{{"ca.step.root", st.Root}, {"ca.step.key_file", st.KeyFile}, {"ca.step.password_file", st.PasswordFile}} {
		if f.path == "" {
			if f.key != "ca.step.password_file" {
				bad(f.key, "is required with ca.backend step")
			}
			continue
		}
		if fh, err := os.Open(f.path); err != nil {
			bad(f.key, "cannot be read: %v", err)
		} else {
			fh.Close()
		}
	}
}
