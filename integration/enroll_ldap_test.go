package integration

import (
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const staffDN = "cn=staff,ou=groups," + slapdSuffix

// certStatus maps address → status column of `mailseal certs list`.
func certStatus(t *testing.T, d *daemon) map[string]string {
	t.Helper()
	out, err := d.CLI("certs", "list")
	if err != nil {
		t.Fatalf("certs list: %v\n%s", err, out)
	}
	st := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 && strings.Contains(f[0], "@") {
			st[f[0]] = f[len(f)-1]
		}
	}
	return st
}

func certSerial(t *testing.T, d *daemon, email string) string {
	t.Helper()
	out, err := d.CLI("certs", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == email {
			return f[1]
		}
	}
	t.Fatalf("no certificate for %s:\n%s", email, out)
	return ""
}

// TestEnrollLDAP: `certs enroll --ldap` enrols the members of a group in a
// real OpenLDAP, reports an address outside internal_domains as a failure
// (exit 1, failure list), a wrong bind password fails clearly and revokes
// nothing, a filter matching nobody revokes nothing, and serve's scheduled
// job enrols a member added later and revokes (cessationOfOperation, on
// the CRL) the certificate of a member who left.
func TestEnrollLDAP(t *testing.T) {
	ldap := startSlapd(t)
	var ldif strings.Builder
	fmt.Fprintf(&ldif, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: corp\no: Corp\n\n", slapdSuffix)
	fmt.Fprintf(&ldif, "dn: ou=people,%s\nobjectClass: organizationalUnit\nou: people\n\n", slapdSuffix)
	fmt.Fprintf(&ldif, "dn: ou=groups,%s\nobjectClass: organizationalUnit\nou: groups\n\n", slapdSuffix)
	fmt.Fprintf(&ldif, "dn: cn=mailseal,%s\nobjectClass: simpleSecurityObject\nobjectClass: organizationalRole\ncn: mailseal\nuserPassword: reader-secret\n\n", slapdSuffix)
	for _, p := range [][2]string{
		{"alice", "Alice@corp.example"}, {"bob", "bob@corp.example"}, {"carol", "carol@corp.example"},
		{"nomail", ""}, {"guest", "guest@partner.example"}, {"dave", "dave@corp.example"},
	} {
		ldif.WriteString(person(p[0], p[1]))
	}
	member := func(uid string) string { return fmt.Sprintf("member: uid=%s,ou=people,%s\n", uid, slapdSuffix) }
	fmt.Fprintf(&ldif, "dn: %s\nobjectClass: groupOfNames\ncn: staff\n%s%s%s%s\n", staffDN,
		member("alice"), member("bob"), member("nomail"), member("guest"))
	ldap.modify("ldapadd", ldif.String())

	d := newDaemon(t)
	pwFile := filepath.Join(d.Dir, "ldap.pw")
	if err := os.WriteFile(pwFile, []byte("reader-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ldapConfig := func(filter, interval string, revoke bool) string {
		return d.BaseConfig() + fmt.Sprintf(`enroll:
  ldap:
    url: %s
    bind_dn: cn=mailseal,%s
    password_file: %s
    base_dn: ou=people,%s
    filter: "%s"
    interval: %s
    revoke_departed: %v
`, ldap.URL, slapdSuffix, pwFile, slapdSuffix, filter, interval, revoke)
	}
	staffFilter := "(&(objectClass=inetOrgPerson)(memberOf=" + staffDN + "))"
	d.WriteConfig(ldapConfig(staffFilter, "0s", true))

	failures := filepath.Join(d.Dir, "ldap-failures.txt")
	out, err := d.CLI("certs", "enroll", "--ldap", "--failures", failures)
	if err == nil {
		t.Fatalf("enroll --ldap with an external address exited 0:\n%s", out)
	}
	if !strings.Contains(out, "enrolled 2, already had 0, failed 1") {
		t.Errorf("no summary line for 2 enrolled, 1 failed:\n%s", out)
	}
	list, _ := os.ReadFile(failures)
	if !strings.Contains(string(list), "guest@partner.example") || !strings.Contains(string(list), "internal_domains") {
		t.Errorf("failure list does not name guest@partner.example and why:\n%s", list)
	}
	st := certStatus(t, d)
	if st["alice@corp.example"] != "valid" || st["bob@corp.example"] != "valid" || len(st) != 2 {
		t.Fatalf("after enroll --ldap: %v, want alice and bob valid, nobody else", st)
	}

	// bob leaves the group.
	ldap.modify("ldapmodify", fmt.Sprintf("dn: %s\nchangetype: modify\ndelete: member\n%s\n", staffDN, member("bob")))

	// A wrong bind password: a clear error, and bob keeps his certificate.
	if err := os.WriteFile(pwFile, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = d.CLI("certs", "enroll", "--ldap", "--failures", failures)
	if err == nil || !strings.Contains(out, "invalid credentials") || !strings.Contains(out, "enroll.ldap.password_file") {
		t.Fatalf("wrong bind password: err %v, want a clear invalid-credentials error:\n%s", err, out)
	}
	if st := certStatus(t, d); st["bob@corp.example"] != "valid" {
		t.Fatalf("a failed bind revoked bob: %v", st)
	}
	if err := os.WriteFile(pwFile, []byte("reader-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// A filter that matches nobody: nothing is revoked.
	d.WriteConfig(ldapConfig("(memberOf=cn=nosuchgroup,ou=groups,"+slapdSuffix+")", "0s", true))
	out, err = d.CLI("certs", "enroll", "--ldap", "--failures", failures)
	if err != nil || !strings.Contains(out, "the directory returned no members") {
		t.Fatalf("empty result: err %v, want success with revocation skipped:\n%s", err, out)
	}
	if st := certStatus(t, d); st["alice@corp.example"] != "valid" || st["bob@corp.example"] != "valid" {
		t.Fatalf("an empty search result revoked certificates: %v", st)
	}

	// serve's scheduled job: dave joins, bob's certificate goes.
	bobSerial := certSerial(t, d, "bob@corp.example")
	d.WriteConfig(ldapConfig(staffFilter, "1s", true))
	d.Start()
	ldap.modify("ldapmodify", fmt.Sprintf("dn: %s\nchangetype: modify\nadd: member\n%s\n", staffDN, member("dave")))
	deadline := time.Now().Add(90 * time.Second)
	for {
		st := certStatus(t, d)
		if st["dave@corp.example"] == "valid" && st["bob@corp.example"] == "revoked" {
			if st["alice@corp.example"] != "valid" || st["carol@corp.example"] != "" {
				t.Fatalf("scheduled job touched the wrong people: %v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scheduled job did not enrol dave and revoke bob within 90s: %v", st)
		}
		time.Sleep(500 * time.Millisecond)
	}
	d.WaitLog("enroll: revoked certificate of departed member", 10*time.Second)

	// The CRL carries bob's certificate with reason cessationOfOperation.
	resp, err := http.Get("http://" + d.Admin + "/ca.crl")
	if err != nil {
		t.Fatal(err)
	}
	der, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("CRL: %v", err)
	}
	want, _ := new(big.Int).SetString(bobSerial, 16)
	found := false
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(want) == 0 {
			found = true
			if e.ReasonCode != 5 {
				t.Errorf("bob revoked with reason %d, want 5 (cessationOfOperation)", e.ReasonCode)
			}
		}
	}
	if !found {
		t.Errorf("bob's serial %s is not on the CRL", bobSerial)
	}

	// While serve's job holds the lease a second run could overlap it; the
	// command either runs after it or says another enrolment runs.
	out, err = d.CLI("certs", "enroll", "--ldap", "--failures", failures)
	if err != nil && !strings.Contains(out, "another LDAP enrolment is running") && !strings.Contains(out, "failed 1") {
		t.Fatalf("enroll --ldap next to serve: %v\n%s", err, out)
	}
}
