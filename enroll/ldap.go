package enroll

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// pageSize is how many entries the directory sends per page: servers cap
// unpaged results (OpenLDAP's sizelimit is 500, Active Directory's
// MaxPageSize 1000), so a large company needs paging.
const pageSize = 500

// Directory says where members are and who counts.
type Directory struct {
	URL           string // ldap://host:port or ldaps://host:port
	BindDN        string // empty: anonymous
	Password      string
	BaseDN        string
	Filter        string
	MailAttribute string // default "mail"
	Timeout       time.Duration
	// RootCAs verifies an ldaps:// server; nil means the system roots.
	RootCAs *x509.CertPool
}

// Members returns the mail addresses of the entries Filter selects below
// BaseDN (the first value of MailAttribute; entries without one are
// skipped), de-duplicated. Any failure — connecting, binding, searching,
// a page going missing — is an error and no partial list is returned, so a
// caller never mistakes a broken search for people having left.
func (d *Directory) Members(ctx context.Context) ([]string, error) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	attr := d.MailAttribute
	if attr == "" {
		attr = "mail"
	}
	conn, err := ldap.DialURL(d.URL, ldap.DialWithDialer(&net.Dialer{Timeout: timeout}),
		ldap.DialWithTLSConfig(&tls.Config{RootCAs: d.RootCAs, MinVersion: tls.VersionTLS12}))
	if err != nil {
		return nil, fmt.Errorf("enroll: LDAP connect to %s (enroll.ldap.url): %w", d.URL, err)
	}
	defer conn.Close()
	conn.SetTimeout(timeout)
	// go-ldap takes no context: closing the connection ends a call in flight.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	deadline := time.AfterFunc(timeout, func() { conn.Close() })
	defer deadline.Stop()

	if d.BindDN != "" {
		if err := conn.Bind(d.BindDN, d.Password); err != nil {
			if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
				return nil, fmt.Errorf("enroll: LDAP bind as %q refused: invalid credentials (check enroll.ldap.bind_dn and the password in enroll.ldap.password_file)", d.BindDN)
			}
			return nil, fmt.Errorf("enroll: LDAP bind as %q: %w", d.BindDN, orCtx(ctx, err))
		}
	}
	req := ldap.NewSearchRequest(d.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		d.Filter, []string{attr}, nil)
	res, err := conn.SearchWithPaging(req, pageSize)
	if err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return nil, fmt.Errorf("enroll: LDAP search: base %q does not exist (enroll.ldap.base_dn)", d.BaseDN)
		}
		if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			return nil, fmt.Errorf("enroll: LDAP search below %q: the server stopped at its size limit although the search is paged; "+
				"let %q read more (OpenLDAP: limits dn.exact=\"%s\" size.prtotal=unlimited)", d.BaseDN, d.BindDN, d.BindDN)
		}
		if ldap.IsErrorWithCode(err, ldap.LDAPResultFilterError) {
			return nil, fmt.Errorf("enroll: LDAP search: the server refuses filter %q (enroll.ldap.filter): %w", d.Filter, err)
		}
		return nil, fmt.Errorf("enroll: LDAP search below %q: %w", d.BaseDN, orCtx(ctx, err))
	}
	seen := make(map[string]bool, len(res.Entries))
	var out []string
	for _, e := range res.Entries {
		vals := e.GetAttributeValues(attr)
		if len(vals) == 0 {
			continue
		}
		a := strings.TrimSpace(vals[0])
		k := lowerASCII(a)
		if a == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, a)
	}
	return out, nil
}

// orCtx prefers the context's reason when it closed the connection.
func orCtx(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.Join(ctx.Err(), err)
	}
	return err
}
