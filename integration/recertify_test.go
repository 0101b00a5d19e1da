package integration

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// TestCARecertifyForANewDomain: internal_domains grows, `mailseal ca
// recertify` extends the CA (same key), and after a restart mail of the new
// domain and of the old one verifies with openssl and gpgsm against the new
// CA certificate.
func TestCARecertifyForANewDomain(t *testing.T) {
	d, pf := setup(t)
	oldCA, err := os.ReadFile(d.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	send := func(from, rcpt string) []byte {
		t.Helper()
		if err := pf.Send(t, postfixtest.Mail{From: from, To: []string{rcpt}, Data: plainMail(from, rcpt, "recertify"), SourceIP: trustedIP}); err != nil {
			t.Fatalf("%s: %v", from, err)
		}
		return pf.WaitDelivered(t, rcpt, 1, deliveryTimeout)[0]
	}
	send("alice@corp.example", "rc1@partner.example") // alice's certificate predates the new CA

	d.WriteConfig(strings.Replace(d.BaseConfig(), "internal_domains: [corp.example]", "internal_domains: [corp.example, other.example]", 1))
	d.Signal(syscall.SIGHUP)
	d.WaitLog("ca: internal domain other.example is outside the name constraints", 10*time.Second)
	out, err := d.CLI("ca", "recertify")
	if err != nil || !strings.Contains(out, "for corp.example .corp.example other.example .other.example") {
		t.Fatalf("ca recertify: %v\n%s", err, out)
	}
	d.Stop()
	d.Start()
	caFile := d.CAFile()
	newCA, _ := os.ReadFile(caFile)
	if string(newCA) == string(oldCA) {
		t.Fatal("the daemon serves the old CA certificate after recertify and restart")
	}
	for _, tc := range []struct{ from, rcpt string }{{"dave@other.example", "rc2@partner.example"}, {"alice@corp.example", "rc3@partner.example"}} {
		raw := send(tc.from, tc.rcpt)
		_, signer := opensslVerify(t, caFile, raw)
		if len(signer.EmailAddresses) != 1 || signer.EmailAddresses[0] != tc.from {
			t.Errorf("signer %v, want %s", signer.EmailAddresses, tc.from)
		}
		content, signature := signedParts(t, parseMail(t, raw))
		gpgsmVerify(t, caFile, content, signature)
	}
	// The restart logged no constraint warning.
	log := d.Log()
	if i := strings.LastIndex(log, "mailseal stopped"); i < 0 || strings.Contains(log[i:], "outside the name constraints") || strings.Contains(log[i:], "no name constraints") {
		t.Errorf("constraint warnings after recertify and restart (or no restart logged):\n%s", log[max(i, 0):])
	}
}
