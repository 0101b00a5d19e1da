package integration

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/revocation"
)

// `mailseal certs revoke`, run as its own process next to the running
// daemon, shows at once in the daemon's CRL (/ca.crl) and OCSP answers
// (/ocsp); openssl accepts both, and so does mailseal's own revocation
// client, which finds the responder through the certificates' AIA.
func TestRevokeShowsInCRLAndOCSP(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		skipUnlessRequired(t, "openssl not installed: it is the OCSP client and CRL checker under test")
	}
	d := newDaemon(t)
	admin := "http://" + d.Admin
	d.WriteConfig(strings.Replace(d.BaseConfig(), "ca:\n", "ca:\n  crl_url: "+admin+"/ca.crl\n  ocsp_url: "+admin+"/ocsp\n", 1))
	d.Start()
	ca := d.CAFile()
	export := func(email string) (*x509.Certificate, string) {
		t.Helper()
		if out, err := d.CLI("certs", "issue", email); err != nil {
			t.Fatalf("certs issue: %v\n%s", err, out)
		}
		out, err := d.CLI("certs", "export", email)
		if err != nil {
			t.Fatalf("certs export: %v\n%s", err, out)
		}
		blk, _ := pem.Decode([]byte(out))
		if blk == nil {
			t.Fatalf("certs export printed no PEM:\n%s", out)
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(d.Dir, strings.Split(email, "@")[0]+".pem")
		if err := os.WriteFile(p, pem.EncodeToMemory(blk), 0o600); err != nil {
			t.Fatal(err)
		}
		return cert, p
	}
	alice, alicePEM := export("alice@corp.example")
	_, bobPEM := export("bob@corp.example")
	if len(alice.OCSPServer) != 1 || alice.OCSPServer[0] != admin+"/ocsp" || len(alice.CRLDistributionPoints) != 1 {
		t.Fatalf("certificate names OCSP %v, CRL %v", alice.OCSPServer, alice.CRLDistributionPoints)
	}
	openssl := func(args ...string) (string, error) {
		out, err := exec.Command("openssl", args...).CombinedOutput()
		return string(out), err
	}
	ask := func(pemFile string) string {
		t.Helper()
		// -url from the certificate itself (its AIA), as a partner would.
		uri, err := openssl("x509", "-in", pemFile, "-noout", "-ocsp_uri")
		if err != nil {
			t.Fatalf("%v\n%s", err, uri)
		}
		out, err := openssl("ocsp", "-issuer", ca, "-cert", pemFile, "-url", strings.TrimSpace(uri), "-CAfile", ca, "-no_nonce")
		if err != nil {
			t.Fatalf("openssl ocsp: %v\n%s", err, out)
		}
		if !strings.Contains(out, "Response verify OK") {
			t.Errorf("openssl does not accept the OCSP answer:\n%s", out)
		}
		return out
	}
	fetchCRL := func() string {
		t.Helper()
		resp, err := http.Get(admin + "/ca.crl")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		der, _ := io.ReadAll(resp.Body)
		p := filepath.Join(d.Dir, "crl.der")
		if err := os.WriteFile(p, der, 0o600); err != nil {
			t.Fatal(err)
		}
		crlPEM := filepath.Join(d.Dir, "crl.pem")
		if out, err := openssl("crl", "-inform", "DER", "-in", p, "-out", crlPEM); err != nil {
			t.Fatalf("openssl crl: %v\n%s", err, out)
		}
		out, err := openssl("crl", "-in", crlPEM, "-text", "-noout")
		if err != nil {
			t.Fatalf("openssl crl -text: %v\n%s", err, out)
		}
		return out
	}
	// openssl prints whole octets: an odd number of hex digits gets a 0.
	aliceSerial := strings.ToUpper(alice.SerialNumber.Text(16))
	if len(aliceSerial)%2 == 1 {
		aliceSerial = "0" + aliceSerial
	}
	aliceSerial = "Serial Number: " + aliceSerial

	mustContain(t, ask(alicePEM), alicePEM+": good")
	if strings.Contains(fetchCRL(), aliceSerial) {
		t.Fatal("CRL lists alice before the revocation")
	}
	out, err := d.CLI("certs", "revoke", "alice@corp.example", "--reason", "keyCompromise")
	if err != nil {
		t.Fatalf("certs revoke: %v\n%s", err, out)
	}
	mustContain(t, out, "revoked the certificates of alice@corp.example (reason 1 keyCompromise)")

	// Right away: no refresh interval to wait for.
	out = ask(alicePEM)
	mustContain(t, out, alicePEM+": revoked")
	mustContain(t, out, "Reason: keyCompromise")
	mustContain(t, ask(bobPEM), bobPEM+": good")
	out = fetchCRL()
	mustContain(t, out, aliceSerial)
	mustContain(t, out, "Key Compromise")
	crlPEM := filepath.Join(d.Dir, "crl.pem")
	if out, err := openssl("verify", "-crl_check", "-CAfile", ca, "-CRLfile", crlPEM, alicePEM); err == nil || !strings.Contains(out, "certificate revoked") {
		t.Errorf("openssl verify -crl_check accepts the revoked certificate: %v\n%s", err, out)
	}
	if out, err := openssl("verify", "-crl_check", "-CAfile", ca, "-CRLfile", crlPEM, bobPEM); err != nil {
		t.Errorf("openssl verify -crl_check refuses the good certificate: %v\n%s", err, out)
	}

	caDER, _ := os.ReadFile(ca)
	blk, _ := pem.Decode(caDER)
	caCert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	st := revocation.NewChecker(revocation.Options{Timeout: 30 * time.Second}).Check(context.Background(), alice, caCert)
	if st.State != revocation.Revoked || st.Source != "ocsp" || st.Reason != 1 || st.URL != admin+"/ocsp" {
		t.Errorf("mailseal's revocation client: %+v", st)
	}
	if out, err := d.CLI("certs", "revoke", "bob@corp.example", "--reason", "sometimes"); err == nil || !strings.Contains(out, `--reason "sometimes": not one of`) {
		t.Errorf("bad reason accepted: %v\n%s", err, out)
	}
}
