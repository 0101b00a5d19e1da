package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

const partnerRules = `policy:
  rules:
    - name: partner-x
      recipients: ["*@partner.example"]
      encrypt: required
      fallback: reject
    - name: no-sign
      recipients: ["*@plain.example"]
      sign: never
`

// setupPolicy starts mailseal with extra config and a Postfix using it.
func setupPolicy(t *testing.T, extraConfig string, extraMain map[string]string) (*daemon, *postfixtest.Instance) {
	t.Helper()
	d := newDaemon(t)
	d.WriteConfig(d.BaseConfig() + extraConfig)
	d.Start()
	opts := d.PostfixOptions()
	opts.ExtraMain = extraMain
	return d, postfixtest.Start(t, opts)
}

func mailTo(from string, visible []string, subject string) []byte {
	return []byte(fmt.Sprintf("From: <%s>\r\nTo: %s\r\nSubject: %s\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <%d@test>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße,\r\nthe figures.\r\n",
		from, strings.Join(visible, ", "), subject, time.Now().UnixNano()))
}

// settle waits a little and checks nobody got a second copy.
func expectDeliveries(t *testing.T, pf *postfixtest.Instance, want map[string]int) {
	t.Helper()
	time.Sleep(2 * time.Second)
	for rcpt, n := range want {
		if got := len(pf.Delivered(rcpt)); got != n {
			t.Errorf("%s got %d copies, want %d", rcpt, got, n)
		}
	}
}

func TestMixedRecipientsGetTheRightCopies(t *testing.T) {
	d, pf := setupPolicy(t, partnerRules, nil)
	msg := mailTo("alice@corp.example", []string{"carol@plain.example", "bob@partner.example"}, "Mixed")
	r := pf.Submit(postfixtest.Mail{From: "alice@corp.example", To: []string{"carol@plain.example", "bob@partner.example", "eve@other.example"}, Data: msg, SourceIP: trustedIP})

	// bob's rule alone decides: refused at RCPT, the others go on.
	if len(r.Errors) != 1 || r.Errors[0].Stage != "RCPT" || r.Errors[0].Code != 550 ||
		r.Errors[0].Msg != "5.7.1 <bob@partner.example> requires encryption, but no certificate or key is known for this address" {
		t.Fatalf("submission: %v", r.Error())
	}
	if r.QueueID == "" {
		t.Fatalf("message not queued for the other recipients: %v", r.Error())
	}

	// carol (To, sign: never) keeps the message in place, unsigned.
	carol := parseMail(t, pf.WaitDelivered(t, "carol@plain.example", 1, deliveryTimeout)[0])
	if ct := carol.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("carol's copy has Content-Type %q, want the original text/plain", ct)
	}
	if !strings.Contains(string(carol.Body), "Grüße") {
		t.Error("carol's body changed")
	}
	// eve (Bcc) gets her own copy, signed.
	eveRaw := pf.WaitDelivered(t, "eve@other.example", 1, deliveryTimeout)[0]
	_, signer := opensslVerify(t, d.CAFile(), eveRaw)
	if signer.EmailAddresses[0] != "alice@corp.example" {
		t.Errorf("eve's copy signed by %v", signer.EmailAddresses)
	}
	eve := parseMail(t, eveRaw)
	if eve.Header.Get("To") != carol.Header.Get("To") {
		t.Errorf("eve's copy To: %q, want the original %q", eve.Header.Get("To"), carol.Header.Get("To"))
	}
	expectDeliveries(t, pf, map[string]int{"carol@plain.example": 1, "eve@other.example": 1, "bob@partner.example": 0})
	metrics := d.Metrics()
	mustContain(t, metrics, `mailseal_policy_decisions_total{rule="no-sign",treatment="plain"} 1`)
	mustContain(t, metrics, `mailseal_policy_decisions_total{rule="defaults",treatment="sign"} 1`)
}

func TestFailedCopyTempfailsAllAndRetryDeliversEachOnce(t *testing.T) {
	// The no-milter listener defers flaky@other.example, but only for
	// mailseal's re-injection (HELO = our authserv_id).
	flaky := map[string]string{
		"smtpd_restriction_classes":    "flaky",
		"flaky":                        "check_recipient_access inline:{ { flaky@other.example = DEFER_IF_PERMIT try later } }",
		"smtpd_recipient_restrictions": "check_helo_access inline:{ { " + authservID + " = flaky } }, permit_mynetworks, reject_unauth_destination",
	}
	d, pf := setupPolicy(t, partnerRules, flaky)
	msg := mailTo("alice@corp.example", []string{"carol@plain.example"}, "Split")
	mail := postfixtest.Mail{From: "alice@corp.example", To: []string{"carol@plain.example", "eve@other.example", "flaky@other.example"}, Data: msg, SourceIP: trustedIP}

	r := pf.Submit(mail)
	if len(r.Errors) != 1 || r.Errors[0].Code != 451 || !strings.HasPrefix(r.Errors[0].Msg, "4.3.0 ") {
		t.Fatalf("with one copy refused, submission got %v; want 451 4.3.0 for the whole message", r.Error())
	}
	// eve and flaky (both Bcc, both signed) share one copy, which the
	// listener refused as a whole; carol's stays with the client, which
	// retries. Nobody got anything.
	expectDeliveries(t, pf, map[string]int{"carol@plain.example": 0, "eve@other.example": 0, "flaky@other.example": 0})

	// mailseal restarts before the client retries.
	d.Stop()
	d.Start()
	pf.Postconf(t, map[string]string{"smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination"})
	if err := pf.Send(t, mail); err != nil {
		t.Fatalf("retry: %v", err)
	}
	pf.WaitDelivered(t, "carol@plain.example", 1, deliveryTimeout)
	pf.WaitDelivered(t, "flaky@other.example", 1, deliveryTimeout)
	expectDeliveries(t, pf, map[string]int{"carol@plain.example": 1, "eve@other.example": 1, "flaky@other.example": 1})
}

// With fallback: reject, confidential mail to a recipient without a key is
// refused (with the default fallback it becomes an encrypted PDF: see
// TestConfidentialMailToKeylessRecipientBecomesEncryptedPDF).
func TestConfidentialMailWithoutProtectionIsRefused(t *testing.T) {
	cases := []struct {
		name, config, want string
	}{
		{"fallback reject", "policy:\n  fallback: reject\n", "5.7.1 <bob@partner.example>: this message is marked confidential, but no certificate or key is known for this address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, pf := setupPolicy(t, tc.config, nil)
			msg := mailTo("alice@corp.example", []string{"bob@partner.example"}, "[Secure] salaries 2027")
			r := pf.Submit(postfixtest.Mail{From: "alice@corp.example", To: []string{"bob@partner.example"}, Data: msg, SourceIP: trustedIP})
			if len(r.Errors) != 1 || r.Errors[0].Stage != "DOT" || r.Errors[0].Code != 550 || r.Errors[0].Msg != tc.want {
				t.Fatalf("confidential mail got %v\nwant 550 %s at end of data", r.Error(), tc.want)
			}
			expectDeliveries(t, pf, map[string]int{"bob@partner.example": 0})
		})
	}
}

func TestInboundRequireTLSRefusesPlaintextClient(t *testing.T) {
	_, pf := setupPolicy(t, `policy:
  rules:
    - name: bank
      direction: inbound
      senders: ["*@bank.example"]
      require_tls: true
`, nil)
	r := pf.Submit(postfixtest.Mail{From: "statements@bank.example", To: []string{"alice@corp.example"},
		Data: plainMail("statements@bank.example", "alice@corp.example", "Statement"), SourceIP: untrustedIP})
	want := "5.7.1 this sender's mail must arrive over TLS (STARTTLS); the connection was not encrypted"
	if len(r.Errors) == 0 || r.Errors[0].Stage != "RCPT" || r.Errors[0].Code != 550 || r.Errors[0].Msg != want || r.QueueID != "" {
		t.Fatalf("plaintext mail from the bank got %v; want 550 %s", r.Error(), want)
	}
	// Other senders are not affected by the bank's rule.
	if err := pf.Send(t, postfixtest.Mail{From: "news@partner.example", To: []string{"alice@corp.example"},
		Data: plainMail("news@partner.example", "alice@corp.example", "News"), SourceIP: untrustedIP}); err != nil {
		t.Fatal(err)
	}
	pf.WaitDelivered(t, "alice@corp.example", 1, deliveryTimeout)
	expectDeliveries(t, pf, map[string]int{"alice@corp.example": 1})
}

// A re-injected copy keeps the delivery status notification requests of
// its recipients: eve (Bcc, her own signed copy) asked for a success report,
// and Postfix sends alice one naming eve with the original envelope id and
// recipient. go-milter drops ESMTP parameters; mailseal recovers them.
func TestSplitCopyKeepsDSNRequests(t *testing.T) {
	d, pf := setupPolicy(t, partnerRules, nil)
	msg := mailTo("alice@corp.example", []string{"carol@plain.example"}, "DSN")
	mail := postfixtest.Mail{
		From: "alice@corp.example", To: []string{"carol@plain.example", "eve@other.example"}, Data: msg, SourceIP: trustedIP,
		MailParams: []string{"RET=HDRS", "ENVID=split-dsn-1"},
		RcptParams: map[string][]string{"eve@other.example": {"NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;Eve@Other.example"}},
	}
	if err := pf.Send(t, mail); err != nil {
		t.Fatal(err)
	}
	eveRaw := pf.WaitDelivered(t, "eve@other.example", 1, deliveryTimeout)[0]
	opensslVerify(t, d.CAFile(), eveRaw)
	report := string(pf.WaitDelivered(t, "alice@corp.example", 1, deliveryTimeout)[0])
	for _, want := range []string{"Original-Envelope-Id: split-dsn-1", "Final-Recipient: rfc822; eve@other.example", "Original-Recipient: rfc822;Eve@Other.example", "Status: 2.0.0"} {
		if !strings.Contains(report, want) {
			t.Errorf("success report lacks %q:\n%s", want, report)
		}
	}
	// carol asked for nothing: the report is about eve alone.
	if strings.Contains(report, "Final-Recipient: rfc822; carol@plain.example") {
		t.Errorf("report mentions carol, who asked for none:\n%s", report)
	}
	expectDeliveries(t, pf, map[string]int{"carol@plain.example": 1, "eve@other.example": 1, "alice@corp.example": 1})
}
