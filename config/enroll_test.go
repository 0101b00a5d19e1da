package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnrollLDAPKeys(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := "enroll:\n  ldap:\n    url: ldaps://dc1.corp.example\n    bind_dn: cn=mailseal,dc=corp,dc=example\n    password_file: " + pw +
		"\n    base_dn: ou=people,dc=corp,dc=example\n    filter: (memberOf=cn=staff,ou=groups,dc=corp,dc=example)\n    interval: 1h\n    revoke_departed: true\n"
	cfg, err := load(writeFile(t, good), nil)
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Enroll.LDAP
	if !l.Enabled() || l.Password != "s3cret" || l.MailAttribute != "mail" || l.Interval.String() != "1h0m0s" || !l.RevokeDeparted || l.Timeout.String() != "2m0s" {
		t.Fatalf("loaded %+v", l)
	}
	if cfg, err := load(writeFile(t, "log:\n  level: info\n"), nil); err != nil || cfg.Enroll.LDAP.Enabled() {
		t.Fatalf("defaults: %v, enabled %v", err, cfg != nil && cfg.Enroll.LDAP.Enabled())
	}
	base := "enroll:\n  ldap:\n    base_dn: dc=corp,dc=example\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"bad scheme", base + "    url: http://dc1\n", `config: enroll.ldap.url: "http://dc1" is not an ldap://HOST[:PORT] or ldaps://HOST[:PORT] URL`},
		{"path in url", base + "    url: ldap://dc1/dc=x\n", `config: enroll.ldap.url: "ldap://dc1/dc=x" is not`},
		{"no base", "enroll:\n  ldap:\n    url: ldap://dc1\n", "config: enroll.ldap.base_dn: must be set"},
		{"bad filter", base + "    url: ldap://dc1\n    filter: memberOf=staff\n", `config: enroll.ldap.filter: "memberOf=staff" is not an LDAP filter`},
		{"unbalanced filter", base + "    url: ldap://dc1\n    filter: (&(a=b)\n", "config: enroll.ldap.filter:"},
		{"bad attribute", base + "    url: ldap://dc1\n    mail_attribute: \"mail,cn\"\n", "config: enroll.ldap.mail_attribute:"},
		{"bind without password", base + "    url: ldap://dc1\n    bind_dn: cn=x\n", "config: enroll.ldap.password_file: must be set when enroll.ldap.bind_dn is"},
		{"missing password file", base + "    url: ldap://dc1\n    bind_dn: cn=x\n    password_file: " + filepath.Join(dir, "missing") + "\n", "config: enroll.ldap.password_file: config: password: open"},
		{"interval without url", "enroll:\n  ldap:\n    interval: 1h\n", "config: enroll.ldap.interval: is set but enroll.ldap.url is empty"},
		{"negative interval", "enroll:\n  ldap:\n    interval: -1s\n", "config: enroll.ldap.interval: must not be negative"},
		{"ca_file without ldaps", base + "    url: ldap://dc1\n    ca_file: " + pw + "\n", "config: enroll.ldap.ca_file: is only used with an ldaps:// URL"},
		{"ca_file without PEM", base + "    url: ldaps://dc1\n    ca_file: " + pw + "\n", "config: enroll.ldap.ca_file: config: CA file " + pw + " holds no PEM certificate"},
		{"short timeout", base + "    url: ldap://dc1\n    timeout: 10ms\n", "config: enroll.ldap.timeout: must be at least 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(writeFile(t, tc.yaml), nil)
			if err == nil || !IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v, want %q", err, tc.want)
			}
		})
	}
}
