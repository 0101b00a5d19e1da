//go:build pkcs11

package integration

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/certs/hsm/softhsmtest"
	"github.com/mailseal/mailseal/integration/postfixtest"
)

// The tagged test run builds the daemon with PKCS#11 support.
func init() { buildFlags = append(buildFlags, "-tags", "pkcs11") }

// TestHSMMailSignedByTokenCA: mailseal (built with -tags pkcs11) creates
// its CA with the key generated in a SoftHSM2 token, and mail through a
// real Postfix is signed with a certificate that CA issued; openssl
// verifies the mail and the CRL against the CA certificate. After a
// restart the same CA (same token key) goes on signing.
func TestHSMMailSignedByTokenCA(t *testing.T) {
	tok := softhsmtest.New(t, "mailseal-it") // SOFTHSM2_CONF reaches the daemon through the environment
	d := newDaemon(t)
	base := d.BaseConfig()
	const caBlock = "ca:\n  key_type: rsa-2048\n"
	if !strings.Contains(base, caBlock) {
		t.Fatal("BaseConfig has no ca block to extend")
	}
	d.WriteConfig(strings.Replace(base, caBlock, caBlock+"  pkcs11:\n    module: "+tok.Module+"\n    token_label: "+tok.Label+
		"\n    pin_file: "+tok.PINFile+"\n    key_label: corp-mail-ca\n", 1))
	if out, err := d.CLI("config", "check"); err != nil {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	d.Start()
	d.WaitLog("pkcs11:token=mailseal-it;object=corp-mail-ca", 10*time.Second)
	pf := postfixtest.Start(t, d.PostfixOptions())

	send := func(from, rcpt string) []byte {
		t.Helper()
		if err := pf.Send(t, postfixtest.Mail{From: from, To: []string{rcpt}, Data: plainMail(from, rcpt, "HSM"), SourceIP: trustedIP}); err != nil {
			t.Fatalf("%s: %v", from, err)
		}
		return pf.WaitDelivered(t, rcpt, 1, deliveryTimeout)[0]
	}
	caFile := d.CAFile()
	caPEM, _ := os.ReadFile(caFile)
	_, signer := opensslVerify(t, caFile, send("alice@corp.example", "h1@partner.example"))
	if len(signer.EmailAddresses) != 1 || signer.EmailAddresses[0] != "alice@corp.example" {
		t.Errorf("signer %v", signer.EmailAddresses)
	}

	// The CRL served on admin_listen is signed by the token key.
	resp, err := http.Get("http://" + d.Admin + "/ca.crl")
	if err != nil {
		t.Fatal(err)
	}
	crl, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	crlFile := filepath.Join(d.Dir, "ca.crl")
	if err := os.WriteFile(crlFile, crl, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "crl", "-inform", "DER", "-in", crlFile, "-CAfile", caFile, "-noout").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verify OK") {
		t.Errorf("openssl crl: %v\n%s", err, out)
	}

	d.Stop()
	d.Start()
	if now, _ := os.ReadFile(d.CAFile()); string(now) != string(caPEM) {
		t.Fatal("the CA changed after a restart")
	}
	_, signer = opensslVerify(t, caFile, send("bob@corp.example", "h2@partner.example"))
	if len(signer.EmailAddresses) != 1 || signer.EmailAddresses[0] != "bob@corp.example" {
		t.Errorf("signer after restart %v", signer.EmailAddresses)
	}
}
