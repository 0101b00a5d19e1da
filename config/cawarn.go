package config

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
	return ws
}
