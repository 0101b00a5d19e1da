package integration

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// TestSigningFollowsSMTPAuth submits through a real Postfix with real SMTP
// AUTH (Cyrus SASL, sasldb) from untrustedIP, outside trusted_networks, so
// only the authenticated identity ({auth_authen}) can make mailseal sign.
func TestSigningFollowsSMTPAuth(t *testing.T) {
	d := newDaemon(t)
	d.Start()
	opts := d.PostfixOptions()
	opts.SASLUsers = map[string]string{
		"alice@corp.example": "alice-pw",
		"bob@corp.example":   "bob-pw",
	}
	pf := postfixtest.Start(t, opts)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- Postfix log ---\n%s", pf.Log())
		}
	})
	caFile := d.CAFile()

	const (
		delivered = iota // signed by alice
		unchanged        // delivered byte for byte as sent
		refused          // AUTH refused with 535, nothing delivered
	)
	cases := []struct {
		name, rcpt string
		auth       *postfixtest.Auth
		want       int
		logDetail  string // mailseal's reason for the message, if checked
	}{
		{"authenticated as the sender", "auth-alice@partner.example",
			&postfixtest.Auth{User: "alice@corp.example", Pass: "alice-pw"}, delivered, "authorised internal sender"},
		{"authenticated as someone else", "auth-bob@partner.example",
			&postfixtest.Auth{User: "bob@corp.example", Pass: "bob-pw"}, unchanged, "client authenticated as bob@corp.example, not as the envelope sender"},
		{"not authenticated", "auth-none@partner.example",
			nil, unchanged, "client neither authenticated nor in trusted_networks"},
		{"wrong password", "auth-wrong@partner.example",
			&postfixtest.Auth{User: "alice@corp.example", Pass: "bob-pw"}, refused, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := plainMail("alice@corp.example", tc.rcpt, tc.name)
			r := pf.Submit(postfixtest.Mail{From: "alice@corp.example", To: []string{tc.rcpt}, Data: msg, SourceIP: untrustedIP, Auth: tc.auth})
			if tc.want == refused {
				var se *postfixtest.SMTPError
				if !errors.As(r.Error(), &se) || se.Stage != "AUTH" || se.Code != 535 || r.QueueID != "" {
					t.Fatalf("got %v (queue id %q), want AUTH refused with 535", r.Error(), r.QueueID)
				}
				pf.WaitLog(t, "SASL PLAIN authentication failed: authentication failure, sasl_username=alice@corp.example", 10*time.Second)
				return
			}
			if err := r.Error(); err != nil {
				t.Fatalf("submission: %v", err)
			}
			raw := pf.WaitDelivered(t, tc.rcpt, 1, deliveryTimeout)[0]
			if hdr, _ := postfixtest.SplitMessage(raw); !bytes.Contains(hdr, []byte("[127.0.0.3]")) {
				t.Errorf("Received: header does not show the untrusted client 127.0.0.3:\n%s", head(raw))
			}
			switch tc.want {
			case delivered:
				_, signer := opensslVerify(t, caFile, raw)
				if len(signer.EmailAddresses) != 1 || signer.EmailAddresses[0] != "alice@corp.example" {
					t.Errorf("signer certificate emails %v, want [alice@corp.example]", signer.EmailAddresses)
				}
			case unchanged:
				if got := receivedHeader.ReplaceAll(raw, nil); !bytes.Equal(got, msg) {
					t.Errorf("message changed on the way:\n%s\n---want---\n%s", head(got), head(msg))
				}
			}
			line := logLine(t, d, "queue_id="+r.QueueID)
			if !strings.Contains(line, tc.logDetail) {
				t.Errorf("mailseal's log line for %s lacks %q:\n%s", r.QueueID, tc.logDetail, line)
			}
		})
	}

	// The refused submission never reached MAIL: nothing queued or delivered.
	pf.WaitQueueEmpty(t, 30*time.Second)
	for _, tc := range cases {
		n := len(pf.Delivered(tc.rcpt))
		if want := map[bool]int{true: 0, false: 1}[tc.want == refused]; n != want {
			t.Errorf("%s: %d deliveries to %s, want %d", tc.name, n, tc.rcpt, want)
		}
	}
	if got := pf.Recipients(); len(got) != 3 {
		t.Errorf("deliveries to %v, want exactly the three accepted recipients", got)
	}
}

// logLine waits for mailseal's "message" log line that contains key (e.g.
// "queue_id=ABC") and returns it.
func logLine(t *testing.T, d *daemon, key string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, l := range strings.Split(d.Log(), "\n") {
			if strings.Contains(l, key) && strings.Contains(l, "detail=") {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailseal logged no decision line with %q:\n%s", key, d.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
