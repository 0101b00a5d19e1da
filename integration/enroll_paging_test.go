package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/enroll"
)

// TestLDAPPagedSearch: a group larger than the server's size limit (500
// in the test's slapd, as in OpenLDAP's default) comes back whole, because
// the search is paged; without paging slapd answers sizeLimitExceeded.
func TestLDAPPagedSearch(t *testing.T) {
	ldap := startSlapd(t)
	const n = 1234
	var ldif strings.Builder
	fmt.Fprintf(&ldif, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: corp\no: Corp\n\n", slapdSuffix)
	fmt.Fprintf(&ldif, "dn: ou=people,%s\nobjectClass: organizationalUnit\nou: people\n\n", slapdSuffix)
	fmt.Fprintf(&ldif, "dn: cn=mailseal,%s\nobjectClass: simpleSecurityObject\nobjectClass: organizationalRole\ncn: mailseal\nuserPassword: reader-secret\n\n", slapdSuffix)
	for i := range n {
		ldif.WriteString(person(fmt.Sprintf("u%04d", i), fmt.Sprintf("u%04d@corp.example", i)))
	}
	ldap.modify("ldapadd", ldif.String())

	d := &enroll.Directory{URL: ldap.URL, BindDN: "cn=mailseal," + slapdSuffix, Password: "reader-secret",
		BaseDN: "ou=people," + slapdSuffix, Filter: "(objectClass=inetOrgPerson)", Timeout: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	got, err := d.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("paged search returned %d of %d members", len(got), n)
	}

	// A base that does not exist is an error naming the key, not "nobody".
	d.BaseDN = "ou=nowhere," + slapdSuffix
	if _, err := d.Members(ctx); err == nil || !strings.Contains(err.Error(), "enroll.ldap.base_dn") {
		t.Fatalf("missing base: %v", err)
	}
	// An unreachable server is an error too.
	d.URL = "ldap://127.0.0.1:1"
	if _, err := d.Members(ctx); err == nil || !strings.Contains(err.Error(), "enroll.ldap.url") {
		t.Fatalf("unreachable server: %v", err)
	}
}

// TestEnrollLDAPS: over ldaps:// the directory's certificate is checked:
// with enroll.ldap.ca_file naming the company CA the enrolment works; a
// client trusting only the system roots refuses the server.
func TestEnrollLDAPS(t *testing.T) {
	ldap := startSlapdOpts(t, true)
	var ldif strings.Builder
	fmt.Fprintf(&ldif, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: corp\no: Corp\n\n", slapdSuffix)
	fmt.Fprintf(&ldif, "dn: ou=people,%s\nobjectClass: organizationalUnit\nou: people\n\n", slapdSuffix)
	fmt.Fprintf(&ldif, "dn: cn=mailseal,%s\nobjectClass: simpleSecurityObject\nobjectClass: organizationalRole\ncn: mailseal\nuserPassword: reader-secret\n\n", slapdSuffix)
	ldif.WriteString(person("tina", "tina@corp.example"))
	ldap.modify("ldapadd", ldif.String())

	dir := &enroll.Directory{URL: ldap.URL, BindDN: "cn=mailseal," + slapdSuffix, Password: "reader-secret",
		BaseDN: "ou=people," + slapdSuffix, Filter: "(objectClass=inetOrgPerson)", Timeout: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := dir.Members(ctx); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("ldaps with an unknown CA: %v, want a certificate error", err)
	}

	d := newDaemon(t)
	pwFile := filepath.Join(d.Dir, "ldap.pw")
	if err := os.WriteFile(pwFile, []byte("reader-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.WriteConfig(d.BaseConfig() + fmt.Sprintf("enroll:\n  ldap:\n    url: %s\n    ca_file: %s\n    bind_dn: cn=mailseal,%s\n    password_file: %s\n    base_dn: ou=people,%s\n",
		ldap.URL, ldap.CAFile, slapdSuffix, pwFile, slapdSuffix))
	out, err := d.CLI("certs", "enroll", "--ldap", "--failures", filepath.Join(d.Dir, "f.txt"))
	if err != nil || !strings.Contains(out, "enrolled 1, already had 0, failed 0") {
		t.Fatalf("enroll --ldap over ldaps with ca_file: %v\n%s", err, out)
	}
	if st := certStatus(t, d); st["tina@corp.example"] != "valid" {
		t.Fatalf("tina not enrolled: %v", st)
	}
}
