package integration

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/certs/stepcatest"
	"github.com/mailseal/mailseal/integration/postfixtest"
)

// TestStepCABackend runs mailseal with ca.backend step against a real
// step-ca and a real Postfix: a new sender's mail leaves signed with a
// certificate step-ca issued; while step-ca is down a first-time sender is
// tempfailed (never sent unsigned) and a sender with a certificate keeps
// mailing; when it is back the retried mail leaves signed; and the renewer
// renews through step-ca. The provisioner allows 3 minutes at most (less
// than ca.validity: its default applies), so certificates fall due within a
// minute and a half.
func TestStepCABackend(t *testing.T) {
	ca := startStepCA(t, stepcatest.Options{MaxDuration: 3 * time.Minute, MinDuration: time.Minute})
	d := newDaemon(t)
	d.WriteConfig(stepConfig(d, ca, "  validity: 1h\n  renew_before: 50m\n  renew_interval: 1s\n"))
	if out, err := d.CLI("config", "check"); err != nil {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	d.Start()
	pf := postfixtest.Start(t, d.PostfixOptions())

	n := 0
	send := func(from string) error {
		n++
		to := fmt.Sprintf("r%d@partner.example", n)
		return pf.Send(t, postfixtest.Mail{From: from, To: []string{to}, Data: plainMail(from, to, "via step-ca"), SourceIP: trustedIP})
	}
	// signedBy sends from `from` and returns the serial of the certificate
	// the delivered mail is signed with, checked by openssl against step's root.
	signedBy := func(from string) string {
		t.Helper()
		if err := send(from); err != nil {
			t.Fatalf("mail from %s: %v", from, err)
		}
		raw := pf.WaitDelivered(t, fmt.Sprintf("r%d@partner.example", n), 1, deliveryTimeout)[0]
		_, signer := opensslVerify(t, ca.RootFile, raw)
		if signer.Issuer.CommonName != "Test step-ca Intermediate" || len(signer.EmailAddresses) != 1 || signer.EmailAddresses[0] != from {
			t.Fatalf("mail from %s signed by %v (issuer %q)", from, signer.EmailAddresses, signer.Issuer.CommonName)
		}
		return signer.SerialNumber.Text(16)
	}

	first := signedBy("alice@corp.example")

	// step-ca is down: bob's first mail waits, alice keeps mailing.
	ca.Stop()
	err := send("bob@corp.example")
	var se *postfixtest.SMTPError
	if !errors.As(err, &se) || se.Stage != "DOT" || se.Code != 451 || !strings.HasPrefix(se.Msg, "4.7.") {
		t.Fatalf("bob while step-ca is down: %v, want 451 4.7.x at end of data", err)
	}
	if got := pf.Delivered(fmt.Sprintf("r%d@partner.example", n)); len(got) != 0 {
		t.Fatal("bob's mail was delivered while step-ca was down")
	}
	d.WaitLog("unreachable", 10*time.Second)
	signedBy("alice@corp.example")

	// Back: bob's retried mail leaves signed with his new certificate.
	if err := ca.Start(time.Minute); err != nil {
		t.Fatal(err)
	}
	signedBy("bob@corp.example")

	// The renewer replaces alice's certificate through step-ca.
	deadline := time.Now().Add(4 * time.Minute)
	for !renewedInLog(d.Log(), "alice@corp.example") {
		if time.Now().After(deadline) {
			t.Fatal("the renewer did not renew alice's certificate through step-ca")
		}
		time.Sleep(500 * time.Millisecond)
	}
	if renewed := signedBy("alice@corp.example"); renewed == first {
		t.Fatalf("alice still signs with serial %s after renewal", first)
	}

	// `certs export --chain` hands out leaf, intermediate and step's root;
	// `ca cert` step's root.
	out, err := d.CLI("certs", "export", "alice@corp.example", "--chain")
	if err != nil {
		t.Fatalf("certs export --chain: %v\n%s", err, out)
	}
	if chain := pemCerts(t, out); len(chain) != 3 || chain[1].Subject.CommonName != "Test step-ca Intermediate" || !chain[2].Equal(ca.Root) {
		t.Fatalf("certs export --chain printed %d certificates:\n%s", len(chain), out)
	}
	if out, err := d.CLI("ca", "cert"); err != nil || len(pemCerts(t, out)) != 1 || !pemCerts(t, out)[0].Equal(ca.Root) {
		t.Fatalf("ca cert: %v\n%s", err, out)
	}
}

// startStepCA makes and starts a step-ca for t; it is stopped (its log
// shown on failure) when t ends.
func startStepCA(t *testing.T, o stepcatest.Options) *stepcatest.CA {
	t.Helper()
	ca, err := stepcatest.New(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Start(time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ca.Stop()
		if t.Failed() {
			t.Logf("--- step-ca log ---\n%s", ca.Log())
		}
	})
	return ca
}

// stepConfig is d's base configuration with ca.backend step pointing at
// ca; caExtra adds ca keys (two-space indented lines).
func stepConfig(d *daemon, ca *stepcatest.CA, caExtra string) string {
	return strings.Replace(d.BaseConfig(), "  key_type: rsa-2048\n", fmt.Sprintf(`  key_type: rsa-2048
  backend: step
%s  step:
    url: %s
    root: %s
    provisioner: %s
    key_file: %s
    password_file: %s
`, caExtra, ca.URL, ca.RootFile, ca.Provisioner, ca.KeyFile, ca.PasswordFile), 1)
}

// pemCerts parses every CERTIFICATE block of s.
func pemCerts(t *testing.T, s string) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for rest := []byte(s); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return out
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

// renewedInLog reports whether the daemon logged a renewal for email.
func renewedInLog(log, email string) bool {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "certs: renewed certificate") && strings.Contains(l, email) {
			return true
		}
	}
	return false
}
