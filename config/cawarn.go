package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// CAWarnings lists what makes the built-in CA unfit to hand to partners,
// as far as the configuration alone tells (serve logs each at start, and
// `config check` prints them). The CA's name constraints are checked
// against internal_domains by the caller, which has the CA certificate.
func (c *Config) CAWarnings() []string {
	var ws []string
	if c.CA.CRLURL == "" {
		ws = append(ws, "ca.crl_url is empty: user certificates name no CRL distribution point, so partners cannot check revocation; "+
			"publish the CRL (served at /ca.crl on admin_listen) at a URL partners can reach and set ca.crl_url")
	}
	for _, k := range []struct{ key, url string }{{"ca.crl_url", c.CA.CRLURL}, {"ca.ocsp_url", c.CA.OCSPURL}} {
		if host := urlHost(k.url); host != "" && !reachableLooking(host) {
			ws = append(ws, fmt.Sprintf("%s %q names a host partners cannot reach (%s); certificates issued now carry it for their whole life: "+
				"use a public name that reaches admin_listen (e.g. through a reverse proxy)", k.key, k.url, host))
		}
	}
	return ws
}

func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// reachableLooking reports whether host could be reached by partners: not
// loopback, unspecified, link-local or private, and for names not
// localhost or a single label.
func reachableLooking(host string) bool {
	if a, err := netip.ParseAddr(host); err == nil {
		return !(a.IsLoopback() || a.IsUnspecified() || a.IsLinkLocalUnicast() || a.IsPrivate())
	}
	return host != "localhost" && !strings.HasSuffix(host, ".localhost") && strings.Contains(host, ".")
}
