package integration

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// TestLoginMapsThroughSMTPAuth: SASL logins that are not addresses (Cyrus
// SASL through a real Postfix, clients outside trusted_networks) sign only
// through auth.login_maps; internal mail they may not send is told apart
// from inbound mail in the log and the metrics, and is refused with
// policy.unauthorised_internal: reject. The map is re-read on SIGHUP.
func TestLoginMapsThroughSMTPAuth(t *testing.T) {
	d := newDaemon(t)
	logins := filepath.Join(d.Dir, "logins")
	writeLogins := func(body string) {
		if err := os.WriteFile(logins, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeLogins("# SASL login → senders\nalice   %u@corp.example\n")
	d.WriteConfig(d.BaseConfig() + "auth:\n  login_maps: " + logins + "\n")
	d.Start()
	opts := d.PostfixOptions()
	opts.SASLUsers = map[string]string{"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}
	pf := postfixtest.Start(t, opts)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- Postfix log ---\n%s", pf.Log())
		}
	})
	caFile := d.CAFile()
	d.WaitLog("auth: login map loaded", 10*time.Second)

	type sent struct{ rcpt, queueID string }
	submit := func(login, from, rcpt string) (*postfixtest.Result, []byte) {
		t.Helper()
		msg := plainMail(from, rcpt, "login "+login)
		return pf.Submit(postfixtest.Mail{From: from, To: []string{rcpt}, Data: msg, SourceIP: untrustedIP,
			Auth: &postfixtest.Auth{User: login, Pass: login + "-pw"}}), msg
	}
	signedBy := func(s sent, want string) {
		t.Helper()
		raw := pf.WaitDelivered(t, s.rcpt, 1, deliveryTimeout)[0]
		_, signer := opensslVerify(t, caFile, raw)
		if len(signer.EmailAddresses) != 1 || signer.EmailAddresses[0] != want {
			t.Errorf("%s: signer %v, want %s", s.rcpt, signer.EmailAddresses, want)
		}
		if line := logLine(t, d, "queue_id="+s.queueID); !strings.Contains(line, "direction=outbound") {
			t.Errorf("%s: log line lacks direction=outbound:\n%s", s.rcpt, line)
		}
	}

	// deliver (the default): the mapped login signs, the unmapped one
	// passes unsigned but labelled internal-unauthorised, outside senders
	// stay inbound.
	r, _ := submit("alice", "alice@corp.example", "lm-alice@partner.example")
	if err := r.Error(); err != nil {
		t.Fatalf("alice: %v", err)
	}
	signedBy(sent{"lm-alice@partner.example", r.QueueID}, "alice@corp.example")

	r, msg := submit("bob", "bob@corp.example", "lm-bob@partner.example")
	if err := r.Error(); err != nil {
		t.Fatalf("bob: %v", err)
	}
	raw := pf.WaitDelivered(t, "lm-bob@partner.example", 1, deliveryTimeout)[0]
	if got := receivedHeader.ReplaceAll(raw, nil); string(got) != string(msg) {
		t.Errorf("bob's unauthorised mail changed on the way:\n%s", head(got))
	}
	line := logLine(t, d, "queue_id="+r.QueueID)
	for _, w := range []string{"direction=internal-unauthorised", "client authenticated as bob, which is neither the envelope sender nor allowed to send as it by auth.login_maps"} {
		if !strings.Contains(line, w) {
			t.Errorf("bob's log line lacks %q:\n%s", w, line)
		}
	}

	r, _ = submit("bob", "news@partner.example", "lm-news@partner.example")
	if err := r.Error(); err != nil {
		t.Fatalf("bob as news@partner.example: %v", err)
	}
	pf.WaitDelivered(t, "lm-news@partner.example", 1, deliveryTimeout)
	if line := logLine(t, d, "queue_id="+r.QueueID); !strings.Contains(line, "direction=inbound") {
		t.Errorf("outside sender not inbound:\n%s", line)
	}
	metrics := d.Metrics()
	for _, dir := range []string{"internal-unauthorised", "inbound", "outbound"} {
		if !metricLine(metrics, "mailseal_messages_total{", `direction="`+dir+`"`, `result="accept"`, "} 1") {
			t.Errorf("metrics lack one accepted %s message:\n%s", dir, metrics)
		}
	}

	// reject, and bob added to the map: a reload re-reads both.
	writeLogins("alice   %u@corp.example\nbob     bob@corp.example\n")
	d.WriteConfig(d.BaseConfig() + "auth:\n  login_maps: " + logins + "\npolicy:\n  unauthorised_internal: reject\n")
	d.Signal(syscall.SIGHUP)
	d.WaitLog("configuration reloaded", 10*time.Second)

	r, _ = submit("bob", "bob@corp.example", "lm-bob2@partner.example")
	if err := r.Error(); err != nil {
		t.Fatalf("bob after reload: %v", err)
	}
	signedBy(sent{"lm-bob2@partner.example", r.QueueID}, "bob@corp.example")

	r, _ = submit("carol", "carol@corp.example", "lm-carol@partner.example")
	var se *postfixtest.SMTPError
	if !errors.As(r.Error(), &se) || se.Stage != "RCPT" || se.Code != 550 || !strings.HasPrefix(se.Msg, "5.7.1 Mail from <carol@corp.example> must be signed by this gateway, but you are not logged in as that sender") {
		t.Fatalf("carol: got %v, want RCPT 550 5.7.1 naming why", r.Error())
	}
	d.WaitLog("direction="+"internal-unauthorised auth=carol", 10*time.Second)

	pf.WaitQueueEmpty(t, 30*time.Second)
	if n := len(pf.Delivered("lm-carol@partner.example")); n != 0 {
		t.Errorf("carol's refused mail was delivered %d times", n)
	}
}

// metricLine reports whether one line of the Prometheus text has every part.
func metricLine(metrics string, parts ...string) bool {
	for _, l := range strings.Split(metrics, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return true
		}
	}
	return false
}
