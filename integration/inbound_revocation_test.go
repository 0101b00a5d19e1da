package integration

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// lockedBuffer collects a child process's output for a test to wait on.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// indexLine is a line of an `openssl ca` database for p's certificate,
// revoked an hour ago when revoked.
func indexLine(t *testing.T, p partner, revoked bool) string {
	t.Helper()
	b, err := os.ReadFile(p.certFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	serial := fmt.Sprintf("%X", c.SerialNumber)
	if len(serial)%2 == 1 {
		serial = "0" + serial
	}
	exp := c.NotAfter.UTC().Format("060102150405Z")
	if !revoked {
		return fmt.Sprintf("V\t%s\t\t%s\tunknown\t/CN=%s\n", exp, serial, p.addr)
	}
	rev := time.Now().Add(-time.Hour).UTC().Format("060102150405Z") + ",keyCompromise"
	return fmt.Sprintf("R\t%s\t%s\t%s\tunknown\t/CN=%s\n", exp, rev, serial, p.addr)
}

// Revocation through Postfix against a real `openssl ocsp` responder and a
// CRL (made by `openssl ca -gencrl`) served over HTTP on loopback, with
// trust.revocation: require: a good certificate passes and the verdict
// says how it was checked; one revoked at the responder and one on the CRL
// fail as revoked; one whose responder is down is temperror, so a
// require_signature: reject partner's mail is tempfailed (451 4.7.5).
func TestInboundRevocationThroughPostfix(t *testing.T) {
	ca := newPartnerCA(t, "Partner Revocation CA")
	ocspPort, deadPort := postfixtest.FreePort(t), postfixtest.FreePort(t)
	crlSrv := httptest.NewUnstartedServer(nil)
	crlURL := "http://" + crlSrv.Listener.Addr().String() + "/ca.crl"
	ocspURL := fmt.Sprintf("http://127.0.0.1:%d/", ocspPort)
	olga := ca.issue(t, "olga@partner.example", "authorityInfoAccess=OCSP;URI:"+ocspURL)
	rick := ca.issue(t, "rick@partner.example", "authorityInfoAccess=OCSP;URI:"+ocspURL)
	carl := ca.issue(t, "carl@partner.example", "crlDistributionPoints=URI:"+crlURL)
	dan := ca.issue(t, "dan@strict.example", fmt.Sprintf("authorityInfoAccess=OCSP;URI:http://127.0.0.1:%d/", deadPort))

	// The OCSP responder answers from its own index: olga good, rick revoked.
	dir := t.TempDir()
	ocspIndex := filepath.Join(dir, "ocsp-index.txt")
	if err := os.WriteFile(ocspIndex, []byte(indexLine(t, olga, false)+indexLine(t, rick, true)), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &lockedBuffer{}
	ocsp := exec.Command("openssl", "ocsp", "-index", ocspIndex, "-port", fmt.Sprint(ocspPort), "-CA", ca.cert,
		"-rsigner", ca.cert, "-rkey", ca.key, "-nmin", "60", "-ignore_err")
	ocsp.Stdout, ocsp.Stderr = out, out
	if err := ocsp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ocsp.Process.Kill()
		_ = ocsp.Wait()
		if t.Failed() {
			t.Logf("openssl ocsp:\n%s", out.String())
		}
	})
	// Its "waiting" line, not a probe connection: OpenSSL 3.0's responder
	// hangs on a connection that closes without a request.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "waiting for OCSP client connections"); {
		if time.Now().After(deadline) {
			t.Fatalf("openssl ocsp did not start: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The CRL lists carl, made by `openssl ca -gencrl` from its database.
	caIndex := filepath.Join(dir, "ca-index.txt")
	if err := os.WriteFile(caIndex, []byte(indexLine(t, carl, true)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "crlnumber"), []byte("01\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cnf := filepath.Join(dir, "ca.cnf")
	if err := os.WriteFile(cnf, []byte(fmt.Sprintf("[ca]\ndefault_ca = CA_default\n[CA_default]\ndatabase = %s\ncrlnumber = %s\ndefault_md = sha256\ndefault_crl_days = 1\n",
		caIndex, filepath.Join(dir, "crlnumber"))), 0o600); err != nil {
		t.Fatal(err)
	}
	crlPEM, crlDER := filepath.Join(dir, "ca.crl.pem"), filepath.Join(dir, "ca.crl")
	if res, err := run(t, nil, "openssl", "ca", "-gencrl", "-config", cnf, "-keyfile", ca.key, "-cert", ca.cert, "-out", crlPEM); err != nil {
		t.Fatalf("openssl ca -gencrl: %v\n%s", err, res)
	}
	if res, err := run(t, nil, "openssl", "crl", "-in", crlPEM, "-outform", "DER", "-out", crlDER); err != nil {
		t.Fatalf("openssl crl: %v\n%s", err, res)
	}
	crlSrv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ca.crl" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		http.ServeFile(w, r, crlDER)
	})
	crlSrv.Start()
	t.Cleanup(crlSrv.Close)

	_, pf := setupPolicy(t, strings.Replace(fmt.Sprintf(inboundRules, ca.cert), "  report: en\n", "  report: en\n  revocation: require\n", 1), nil)
	send := func(p partner, to string) *postfixtest.Result {
		return pf.Submit(postfixtest.Mail{From: p.addr, To: []string{to}, Data: opensslSigned(t, p, to, "Revocation"), SourceIP: untrustedIP})
	}
	cases := []struct {
		who     partner
		to      string
		ar      string
		details []string
	}{
		{olga, "r1@corp.example", "smime=pass", []string{"revocation=\"good ocsp " + ocspURL}},
		{rick, "r2@corp.example", "smime=fail", []string{"code=revoked", "revocation=\"revoked ocsp " + ocspURL}},
		{carl, "r3@corp.example", "smime=fail", []string{"code=revoked", "revocation=\"revoked crl " + crlURL}},
	}
	for _, tc := range cases {
		t.Run(tc.who.addr, func(t *testing.T) {
			if r := send(tc.who, tc.to); r.Error() != nil {
				t.Fatal(r.Error())
			}
			m := parseMail(t, pf.WaitDelivered(t, tc.to, 1, deliveryTimeout)[0])
			ar, sig := ourVerdict(t, m)
			mustContain(t, ar, tc.ar)
			for _, w := range tc.details {
				mustContain(t, sig, w)
			}
			_, report, _ := reportParts(t, m)
			if tc.ar == "smime=pass" {
				mustContain(t, report, "not revoked, checked by OCSP "+ocspURL)
			} else {
				mustContain(t, report, "REVOKED, according to")
			}
		})
	}
	t.Run("responder down, require_signature reject: 451", func(t *testing.T) {
		r := send(dan, "r4@corp.example")
		if len(r.Errors) != 1 || r.Errors[0].Stage != "DOT" || r.Errors[0].Code != 451 || !strings.HasPrefix(r.Errors[0].Msg, "4.7.5 ") {
			t.Fatalf("got %v, want 451 4.7.5 at end of data", r.Error())
		}
	})
}
