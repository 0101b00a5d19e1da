package config

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// EnrollConfig drives enrolment ahead of the first mail.
type EnrollConfig struct {
	LDAP LDAPEnrollConfig `mapstructure:"ldap"`
}

// LDAPEnrollConfig says which directory members get certificates before
// they send their first mail, and how often serve looks again.
type LDAPEnrollConfig struct {
	URL            string        `mapstructure:"url"`
	BindDN         string        `mapstructure:"bind_dn"`
	PasswordFile   string        `mapstructure:"password_file"`
	BaseDN         string        `mapstructure:"base_dn"`
	Filter         string        `mapstructure:"filter"`
	MailAttribute  string        `mapstructure:"mail_attribute"`
	Interval       time.Duration `mapstructure:"interval"`
	RevokeDeparted bool          `mapstructure:"revoke_departed"`
	Timeout        time.Duration `mapstructure:"timeout"`
	CAFile         string        `mapstructure:"ca_file"`
	// Password is the bind password read from PasswordFile by Validate
	// (so at start, by config check and at every reload).
	Password string `mapstructure:"-"`
}

// Enabled reports whether an LDAP directory is configured.
func (l *LDAPEnrollConfig) Enabled() bool { return l.URL != "" }

// validateEnroll checks the enroll.ldap keys; all of them matter only when
// enroll.ldap.url is set.
func (c *Config) validateEnroll(bad func(key, format string, args ...any)) {
	l := &c.Enroll.LDAP
	if l.Interval < 0 {
		bad("enroll.ldap.interval", "must not be negative (0 turns the scheduled job off), got %s", l.Interval)
	} else if l.Interval > 0 && l.Interval < time.Second {
		bad("enroll.ldap.interval", "must be 0 (off) or at least 1s, got %s", l.Interval)
	}
	if l.Timeout < time.Second {
		bad("enroll.ldap.timeout", "must be at least 1s, got %s", l.Timeout)
	}
	if !l.Enabled() {
		if l.Interval > 0 {
			bad("enroll.ldap.interval", "is set but enroll.ldap.url is empty: set the directory's URL or interval 0")
		}
		return
	}
	if u, err := url.Parse(l.URL); err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		bad("enroll.ldap.url", "%q is not an ldap://HOST[:PORT] or ldaps://HOST[:PORT] URL", l.URL)
	}
	if l.CAFile != "" {
		if !strings.HasPrefix(l.URL, "ldaps://") {
			bad("enroll.ldap.ca_file", "is only used with an ldaps:// URL (enroll.ldap.url is %q)", l.URL)
		}
		if _, err := LoadCertPool(l.CAFile); err != nil {
			bad("enroll.ldap.ca_file", "%v", err)
		}
	}
	if strings.TrimSpace(l.BaseDN) == "" {
		bad("enroll.ldap.base_dn", "must be set when enroll.ldap.url is (the subtree to search, e.g. ou=people,dc=corp,dc=example)")
	}
	f := strings.TrimSpace(l.Filter)
	if f == "" || !strings.HasPrefix(f, "(") || !strings.HasSuffix(f, ")") || strings.Count(f, "(") != strings.Count(f, ")") {
		bad("enroll.ldap.filter", "%q is not an LDAP filter in parentheses, e.g. (memberOf=cn=staff,ou=groups,dc=corp,dc=example)", l.Filter)
	}
	if a := l.MailAttribute; a == "" || strings.ContainsAny(a, " ()=*,") {
		bad("enroll.ldap.mail_attribute", "%q is not an attribute name", a)
	}
	if l.BindDN != "" && l.PasswordFile == "" {
		bad("enroll.ldap.password_file", "must be set when enroll.ldap.bind_dn is (a file holding the bind password)")
	}
	if l.PasswordFile != "" {
		if l.BindDN == "" {
			bad("enroll.ldap.bind_dn", "must be set when enroll.ldap.password_file is")
		}
		pw, err := readToken(l.PasswordFile)
		if err != nil {
			bad("enroll.ldap.password_file", "%s", strings.Replace(err.Error(), "token", "password", 1))
		} else {
			l.Password = pw
		}
	}
}

// LoadCertPool reads PEM CA certificates from path (at least one).
func LoadCertPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("config: CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}
