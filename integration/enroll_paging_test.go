package integration

import (
	"context"
	"fmt"
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
