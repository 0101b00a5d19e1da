package integration

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

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
