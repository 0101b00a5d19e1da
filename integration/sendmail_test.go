package integration

import (
	"bytes"
	"fmt"
	"net"
	"net/textproto"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
	"github.com/mailseal/mailseal/integration/sendmailtest"
)

// sendmailMilter is the daemon's milter address as Sendmail writes it
// (S=inet:PORT@HOST).
func (d *daemon) sendmailMilter() string {
	host, port, _ := net.SplitHostPort(d.Listen)
	return "inet:" + port + "@" + host
}

// startSendmail starts a Sendmail that filters through d and relays
// everything to a fresh sink; reinject adds the no-milter listener on the
// daemon's reinject port.
func startSendmail(t *testing.T, d *daemon, reinject bool) (*sendmailtest.Instance, *sendmailtest.Sink) {
	t.Helper()
	sink := sendmailtest.StartSink(t)
	opts := sendmailtest.Options{Milter: d.sendmailMilter(), Relay: sink.Addr}
	if reinject {
		opts.ReinjectPort = d.ReinjectPort
	}
	return sendmailtest.Start(t, opts), sink
}

// TestSendmailSignsInternalAndPassesOutsideMail: the same daemon the Postfix
// tests use, behind Debian's Sendmail 8.17 with INPUT_MAIL_FILTER. An
// internal sender's mail leaves signed and openssl verifies it; an outside
// sender's mail leaves with its body byte for byte as sent. The daemon must
// have seen Sendmail's macros: the queue ID (i) in its log line.
func TestSendmailSignsInternalAndPassesOutsideMail(t *testing.T) {
	d := newDaemon(t)
	d.Start()
	sm, sink := startSendmail(t, d, false)

	out := internalMail("alice@corp.example", "bob@partner.example", "via sendmail", randomBytes(t, 20000))
	if err := sendmailtest.Send(sm.SMTPAddr, trustedIP, "alice@corp.example", []string{"bob@partner.example"}, out); err != nil {
		t.Fatalf("internal mail: %v", err)
	}
	in := plainMail("carol@outside.example", "dan@corp.example", "from outside")
	if err := sendmailtest.Send(sm.SMTPAddr, untrustedIP, "carol@outside.example", []string{"dan@corp.example"}, in); err != nil {
		t.Fatalf("outside mail: %v", err)
	}

	raw := sink.Wait(t, "bob@partner.example", 1, deliveryTimeout)[0]
	content, signer := opensslVerify(t, d.CAFile(), raw)
	if len(signer.EmailAddresses) != 1 || signer.EmailAddresses[0] != "alice@corp.example" {
		t.Errorf("signed by %v, want alice@corp.example", signer.EmailAddresses)
	}
	checkSameContent(t, "sendmail", contentOf(out), content)
	if ct := parseMail(t, raw).Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/signed") {
		t.Errorf("Content-Type %q, want multipart/signed", ct)
	}

	got := sink.Wait(t, "dan@corp.example", 1, deliveryTimeout)[0]
	_, wantBody := postfixtest.SplitMessage(in)
	_, gotBody := postfixtest.SplitMessage(got)
	if !bytes.Equal(gotBody, wantBody) {
		t.Errorf("outside mail body changed:\n got %q\nwant %q", gotBody, wantBody)
	}
	if m := parseMail(t, got); m.Header.Get("Content-Type") != "" || strings.Contains(string(got), "multipart/signed") {
		t.Errorf("outside mail was changed:\n%s", head(got))
	}

	// Sendmail's {client_addr}/connect address, i and {daemon_name} reached
	// the daemon: the decision line names the queue ID and direction.
	log := d.Log()
	for _, want := range []string{`direction=outbound`, `direction=inbound`} {
		if !strings.Contains(log, want) {
			t.Errorf("mailseal log lacks %s:\n%s", want, log)
		}
	}
	if !regexp.MustCompile(`msg=message queue_id=[0-9A-Za-z]{10,} from=alice@corp.example`).MatchString(log) {
		t.Errorf("mailseal's line for alice's mail has no Sendmail queue ID (macro i):\n%s", log)
	}
	time.Sleep(time.Second)
	if n := sink.Recipients(); len(n) != 2 || n["bob@partner.example"] != 1 || n["dan@corp.example"] != 1 {
		t.Errorf("deliveries %v, want one each for bob and dan", n)
	}
}

// TestSendmailQueuesWhileMailsealIsDown: with F=T Sendmail answers 451 while
// the milter is unreachable. A relaying Sendmail in front keeps the mail in
// its queue (sendmail -bp), nothing reaches the sink, and once mailseal is
// back a queue run delivers it signed, exactly once.
func TestSendmailQueuesWhileMailsealIsDown(t *testing.T) {
	d := newDaemon(t) // not started
	back, sink := startSendmail(t, d, false)

	msg := internalMail("alice@corp.example", "bob@partner.example", "while down", randomBytes(t, 5000))
	err := sendmailtest.Send(back.SMTPAddr, trustedIP, "alice@corp.example", []string{"bob@partner.example"}, msg)
	var te *textproto.Error
	if !asTextproto(err, &te) || te.Code != 451 || !strings.HasPrefix(te.Msg, "4.") {
		t.Fatalf("with mailseal down, Sendmail answered %v; want 451 4.x.x", err)
	}

	front := sendmailtest.Start(t, sendmailtest.Options{Relay: back.SMTPAddr, ClientAddr: trustedIP.String(), Hostname: "front.test"})
	if err := sendmailtest.Send(front.SMTPAddr, nil, "alice@corp.example", []string{"bob@partner.example"}, msg); err != nil {
		t.Fatal(err)
	}
	var q []sendmailtest.QueueEntry
	deadline := time.Now().Add(60 * time.Second)
	for {
		q = front.Queue(t)
		if len(q) == 1 && strings.Contains(q[0].Reason, "451") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("front Sendmail never deferred the mail with 451: queue %+v", q)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("queued in front: %+v", q[0])
	if len(q[0].Recipients) != 1 || q[0].Recipients[0] != "bob@partner.example" {
		t.Errorf("queued recipients %v", q[0].Recipients)
	}
	if n := sink.Recipients(); len(n) != 0 {
		t.Fatalf("delivered while mailseal was down: %v", n)
	}
	if q := back.Queue(t); len(q) != 0 {
		t.Fatalf("the filtering Sendmail queued mail it should have refused: %+v", q)
	}

	d.Start()
	front.RunQueue(t)
	raw := sink.Wait(t, "bob@partner.example", 1, deliveryTimeout)[0]
	opensslVerify(t, d.CAFile(), raw)
	front.WaitQueueEmpty(t, 30*time.Second)
	back.WaitQueueEmpty(t, 30*time.Second)
	if n := len(sink.Messages("bob@partner.example")); n != 1 {
		t.Errorf("bob got %d copies, want 1", n)
	}
}

// TestSendmailReinjectsSplitCopies: a message whose recipients need
// different treatments is split. The daemon hands the extra copy to a second
// Sendmail listener whose InputMailFilters= is empty (no milter, so it is
// not filtered twice); every recipient gets exactly one copy, each the
// right one.
func TestSendmailReinjectsSplitCopies(t *testing.T) {
	d := newDaemon(t)
	d.WriteConfig(d.BaseConfig() + `policy:
  rules:
    - name: no-sign
      recipients: ["*@plain.example"]
      sign: never
`)
	d.Start()
	sm, sink := startSendmail(t, d, true)
	id := fmt.Sprintf("<split-%d@corp.example>", time.Now().UnixNano())
	msg := fmt.Sprintf("From: <alice@corp.example>\r\nTo: <bob@other.example>\r\nSubject: split\r\n"+
		"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: %s\r\n\r\nfigures\r\n", id)
	if err := sendmailtest.Send(sm.SMTPAddr, trustedIP, "alice@corp.example", []string{"bob@other.example", "dan@plain.example"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	signed := sink.Wait(t, "bob@other.example", 1, deliveryTimeout)[0]
	opensslVerify(t, d.CAFile(), signed)
	plain := sink.Wait(t, "dan@plain.example", 1, deliveryTimeout)[0]
	if bytes.Contains(plain, []byte("multipart/signed")) {
		t.Errorf("dan's copy is signed, the rule says never:\n%s", head(plain))
	}
	mustContain(t, string(plain), "treatment=plain")
	for _, raw := range [][]byte{signed, plain} {
		if got := messageIDOf(raw); got != id {
			t.Errorf("Message-ID %q, want %q", got, id)
		}
	}
	sm.WaitQueueEmpty(t, 30*time.Second)
	time.Sleep(time.Second)
	if n := sink.Recipients(); len(n) != 2 || n["bob@other.example"] != 1 || n["dan@plain.example"] != 1 {
		t.Errorf("deliveries %v, want one each", n)
	}
}

func asTextproto(err error, target **textproto.Error) bool {
	e, ok := err.(*textproto.Error)
	if ok {
		*target = e
	}
	return ok
}

// messageIDOf returns the Message-ID header of a raw message.
func messageIDOf(raw []byte) string {
	h, _ := postfixtest.SplitMessage(raw)
	for _, line := range strings.Split(string(h), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Message-ID") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestSendmailEncryptsAndRefusesPerRecipient: the rest of the per-recipient
// machinery behind Sendmail. bob's rule says encrypt: required with
// fallback: reject and he has no key: Sendmail refuses him alone at RCPT
// (550 5.7.1) and keeps the others. erin has an imported certificate: her
// copy is S/MIME encrypted, signed inside, and openssl decrypts it; carol's
// copy is signed. Different treatments, so erin's or carol's copy goes
// through the no-milter listener: each gets exactly one.
func TestSendmailEncryptsAndRefusesPerRecipient(t *testing.T) {
	d := newDaemon(t)
	d.WriteConfig(d.BaseConfig() + partnerRules)
	d.Start()
	erin := newSMIMEPartner(t, "erin@smime.example", "rsa")
	if out, err := d.CLI("certs", "import", erin.certFile); err != nil {
		t.Fatalf("certs import: %v\n%s", err, out)
	}
	sm, sink := startSendmail(t, d, true)
	to := []string{"bob@partner.example", "erin@smime.example", "carol@other.example"}
	msg := mailTo("alice@corp.example", to, "Offer")
	refused, err := sendmailtest.Submit(sm.SMTPAddr, trustedIP, "alice@corp.example", to, msg)
	if err != nil {
		t.Fatalf("submission: %v (refused %v)", err, refused)
	}
	var te *textproto.Error
	if len(refused) != 1 || !asTextproto(refused["bob@partner.example"], &te) || te.Code != 550 || !strings.HasPrefix(te.Msg, "5.7.1") {
		t.Fatalf("refused %v; want bob alone with 550 5.7.1", refused)
	}
	t.Logf("bob refused: %v", te)

	raw := sink.Wait(t, "erin@smime.example", 1, deliveryTimeout)[0]
	if ct := parseMail(t, raw).Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/pkcs7-mime") {
		t.Fatalf("erin's copy has Content-Type %q, want application/pkcs7-mime", ct)
	}
	content, _ := opensslVerify(t, d.CAFile(), opensslDecrypt(t, erin, raw))
	mustContain(t, string(content), "Subject: Offer")
	opensslVerify(t, d.CAFile(), sink.Wait(t, "carol@other.example", 1, deliveryTimeout)[0])
	sm.WaitQueueEmpty(t, 30*time.Second)
	time.Sleep(time.Second)
	if n := sink.Recipients(); len(n) != 2 || n["erin@smime.example"] != 1 || n["carol@other.example"] != 1 {
		t.Errorf("deliveries %v, want one each for erin and carol, none for bob", n)
	}
}
