package integration

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// paddedMail puts 10,000 header fields (about 1.2 MB) in front of the
// fields that matter, past mailseal's 1 MiB header limit.
func paddedMail(after ...string) []byte {
	var b bytes.Buffer
	b.WriteString("Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <padded@test>\r\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&b, "X-Padding: %05d %s\r\n", i, strings.Repeat("p", 100))
	}
	for _, h := range after {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\nHello,\r\nthe figures.\r\n")
	return b.Bytes()
}

// TestHeaderPastOneMiBIsRefused: header fields past the 1 MiB cut must
// never slip through unseen, in either direction. Forged verdicts would
// reach the mailbox, a [secure] tag would leave in clear, a From: would
// go unsigned. Through real Postfix, each such message is refused at end
// of data with 552 5.3.4, and nothing is delivered.
func TestHeaderPastOneMiBIsRefused(t *testing.T) {
	d, pf := setupPolicy(t, "", nil)
	const want = "5.3.4 Message header too large for this gateway; send it with fewer or shorter header fields"
	cases := []struct {
		name string
		mail postfixtest.Mail
	}{
		{"inbound forged verdicts", postfixtest.Mail{From: "news@partner.example", To: []string{"alice@corp.example"}, SourceIP: untrustedIP,
			Data: paddedMail("From: <news@partner.example>", "To: <alice@corp.example>", "Subject: news",
				"X-Mailseal-Trace: "+authservID+"; signed; signer=ceo@corp.example",
				"Authentication-Results: "+authservID+"; smime=pass")}},
		{"outbound confidential tag", postfixtest.Mail{From: "alice@corp.example", To: []string{"bob@other.example"}, SourceIP: trustedIP,
			Data: paddedMail("From: <alice@corp.example>", "To: <bob@other.example>", "Subject: [secure] salaries")}},
		{"outbound From after the padding", postfixtest.Mail{From: "alice@corp.example", To: []string{"carol@other.example"}, SourceIP: trustedIP,
			Data: paddedMail("To: <carol@other.example>", "Subject: figures", "From: <alice@corp.example>")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := pf.Submit(tc.mail)
			if len(r.Errors) != 1 || r.Errors[0].Stage != "DOT" || r.Errors[0].Code != 552 || r.Errors[0].Msg != want || r.QueueID != "" {
				t.Fatalf("padded message got %v (queued %q); want 552 %s at end of data", r.Error(), r.QueueID, want)
			}
		})
	}
	expectDeliveries(t, pf, map[string]int{"alice@corp.example": 0, "bob@other.example": 0, "carol@other.example": 0})
	log := d.Log()
	if n := strings.Count(log, `cause="header fields exceed 1048576 bytes"`); n != len(cases) {
		t.Errorf("log names the header limit %d times, want %d:\n%s", n, len(cases), log)
	}
	if strings.Contains(log, "max_message_size") {
		t.Errorf("log blames milter.max_message_size for a header that is too large")
	}
}

// TestIdleConnectionsDoNotStopTheDaemon: with a low open-file limit, idle
// clients on the milter and socketmap ports used to run mailseal out of
// descriptors ("accept4: too many open files") and end it with exit 1. Now
// connections beyond the cap wait in the listen queue, the daemon stays up,
// and once the idle clients go, mail flows again.
func TestIdleConnectionsDoNotStopTheDaemon(t *testing.T) {
	d := newDaemon(t)
	d.Prefix = []string{"prlimit", "--nofile=128:128"}
	d.Start()
	pf := postfixtest.Start(t, d.PostfixOptions())

	var idle []net.Conn
	for i := 0; i < 150; i++ {
		for _, addr := range []string{d.Listen, d.Socketmap} {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatalf("idle connection %d to %s: %v", i, addr, err)
			}
			idle = append(idle, c)
		}
	}
	d.WaitLog("milter_max_connections=16", 10*time.Second)
	time.Sleep(time.Second) // let the daemon take what it will
	if !d.Running() {
		t.Fatalf("mailseal stopped with idle connections open:\n%s", d.Log())
	}
	resp, err := http.Get("http://" + d.Admin + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz with idle connections open: %v %v", resp, err)
	}
	resp.Body.Close()
	for _, c := range idle {
		c.Close()
	}

	if err := pf.Send(t, postfixtest.Mail{From: "alice@corp.example", To: []string{"bob@other.example"},
		Data: plainMail("alice@corp.example", "bob@other.example", "after the idle clients"), SourceIP: trustedIP}); err != nil {
		t.Fatal(err)
	}
	opensslVerify(t, d.CAFile(), pf.WaitDelivered(t, "bob@other.example", 1, deliveryTimeout)[0])
	c, err := net.DialTimeout("tcp", d.Socketmap, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("25:tlspolicy partner.example,")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	if got := string(buf[:n]); got != "9:NOTFOUND ," {
		t.Fatalf("socketmap after the idle clients: %q", got)
	}
}
