package integration

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
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
	CAFile string // with TLS: the CA that issued slapd's certificate
	dir    string
	cmd    *exec.Cmd
	log    *bytes.Buffer
}

const slapdSuffix = "dc=corp,dc=example"

func startSlapd(t *testing.T) *slapd { return startSlapdOpts(t, false) }

// startSlapdOpts with useTLS serves ldaps:// only, with a server
// certificate for 127.0.0.1 from a CA the test makes (CAFile).
func startSlapdOpts(t *testing.T, useTLS bool) *slapd {
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
	scheme := "ldap"
	if useTLS {
		s.CAFile = filepath.Join(dir, "ca.pem")
		certFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
		writeServerCert(t, s.CAFile, certFile, keyFile)
		conf = fmt.Sprintf("TLSCACertificateFile %s\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n", s.CAFile, certFile, keyFile) + conf
		scheme = "ldaps"
	}
	confFile := filepath.Join(dir, "slapd.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	port := postfixtest.FreePort(t)
	s.URL = fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
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
	if s.CAFile != "" {
		cmd.Env = append(os.Environ(), "LDAPTLS_CACERT="+s.CAFile)
	}
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

// writeServerCert makes a CA and a server certificate for 127.0.0.1 and
// writes them (PEM) with the server's key.
func writeServerCert(t *testing.T, caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "slapd test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for f, b := range map[string]*pem.Block{caFile: {Type: "CERTIFICATE", Bytes: caDER}, certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(f, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
