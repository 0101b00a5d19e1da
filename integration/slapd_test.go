package integration

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// slapd is a private OpenLDAP server on a loopback port: mdb database
// dc=corp,dc=example with the memberof overlay (so group filters work as
// in real directories), root cn=admin,dc=corp,dc=example. Like a stock
// OpenLDAP it answers at most 500 entries a search; the service account
// cn=mailseal may page beyond that (size.prtotal), as an admin would set up.
type slapd struct {
	t      *testing.T
	URL    string
	RootDN string
	RootPW string
	dir    string
	cmd    *exec.Cmd
	log    *bytes.Buffer
}

const slapdSuffix = "dc=corp,dc=example"

func startSlapd(t *testing.T) *slapd {
	t.Helper()
	bin, err := exec.LookPath("slapd")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/slapd"); err2 != nil {
			t.Fatalf("slapd not installed (scripts/deps.d/35-slapd.sh installs it): %v", err)
		}
		bin = "/usr/sbin/slapd"
	}
	if _, err := exec.LookPath("ldapadd"); err != nil {
		t.Fatalf("ldapadd not installed (scripts/deps.d/35-slapd.sh installs ldap-utils): %v", err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	s := &slapd{t: t, dir: dir, RootDN: "cn=admin," + slapdSuffix, RootPW: "it-root-secret", log: new(bytes.Buffer)}
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
sizelimit 500
database mdb
maxsize 104857600
suffix "%[2]s"
rootdn "%[3]s"
rootpw %[4]s
directory %[1]s/db
limits dn.exact="cn=mailseal,%[2]s" size.prtotal=unlimited
overlay memberof
`, dir, slapdSuffix, s.RootDN, s.RootPW)
	confFile := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	port := postfixtest.FreePort(t)
	s.URL = fmt.Sprintf("ldap://127.0.0.1:%d", port)
	// -d keeps slapd in the foreground (a child the test can stop).
	s.cmd = exec.Command(bin, "-h", s.URL+"/", "-f", confFile, "-d", "0")
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		if t.Failed() {
			t.Logf("--- slapd output ---\n%s", s.log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slapd did not listen within 30s:\n%s", s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

// modify runs ldapadd (add) or ldapmodify with ldif as root.
func (s *slapd) modify(tool, ldif string) {
	s.t.Helper()
	cmd := exec.Command(tool, "-x", "-H", s.URL, "-D", s.RootDN, "-w", s.RootPW)
	cmd.Stdin = bytes.NewBufferString(ldif)
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("%s: %v\n%s\n--- ldif ---\n%s", tool, err, out, ldif)
	}
}

// person is an inetOrgPerson entry below ou=people (mail empty: none).
func person(uid, mail string) string {
	l := fmt.Sprintf("dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\n", uid, slapdSuffix, uid, uid, uid)
	if mail != "" {
		l += "mail: " + mail + "\n"
	}
	return l + "\n"
}
