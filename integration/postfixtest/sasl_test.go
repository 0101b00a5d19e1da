package postfixtest

import (
	"bytes"
	"errors"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

func TestSASLAuth(t *testing.T) {
	needPostfix(t)
	t.Parallel()
	pf := Start(t, Options{SASLUsers: map[string]string{
		"alice@corp.example": "alice secret", // a space in the password
		"bob@corp.example":   "b0b:pw",
	}})
	src := net.ParseIP("127.0.0.3")

	// EHLO offers PLAIN and LOGIN without TLS.
	c, err := net.DialTimeout("tcp", pf.SMTPAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(c)
	if _, _, err := tp.ReadResponse(220); err != nil {
		t.Fatal(err)
	}
	_ = tp.PrintfLine("EHLO client.test")
	_, ehlo, err := tp.ReadResponse(250)
	if err != nil {
		t.Fatal(err)
	}
	_ = tp.PrintfLine("QUIT")
	c.Close()
	authLine := ""
	for _, l := range strings.Split(ehlo, "\n") {
		if strings.HasPrefix(strings.ToUpper(l), "AUTH ") {
			authLine = strings.ToUpper(l)
		}
	}
	if !strings.Contains(authLine, "PLAIN") || !strings.Contains(authLine, "LOGIN") {
		t.Fatalf("EHLO does not offer AUTH PLAIN LOGIN:\n%s\n--- log ---\n%s", ehlo, pf.Log())
	}

	cases := []struct {
		name, rcpt string
		auth       *Auth
		wantCode   int // 0: delivered
		wantLogin  string
	}{
		{"plain", "plain@partner.example", &Auth{User: "alice@corp.example", Pass: "alice secret"}, 0, "alice@corp.example"},
		{"login", "login@partner.example", &Auth{User: "bob@corp.example", Pass: "b0b:pw", Mech: "LOGIN"}, 0, "bob@corp.example"},
		{"wrong password", "wrong@partner.example", &Auth{User: "alice@corp.example", Pass: "nope"}, 535, ""},
		{"wrong password, LOGIN", "wronglogin@partner.example", &Auth{User: "bob@corp.example", Pass: "nope", Mech: "LOGIN"}, 535, ""},
		{"bare local part is another user", "bare@partner.example", &Auth{User: "alice", Pass: "alice secret"}, 535, ""},
		{"unknown user", "unknown@partner.example", &Auth{User: "mallory@corp.example", Pass: "x"}, 535, ""},
	}
	for _, tc := range cases {
		msg := []byte("From: <alice@corp.example>\r\nTo: <" + tc.rcpt + ">\r\nSubject: " + tc.name + "\r\n\r\nhello\r\n")
		r := pf.Submit(Mail{From: "alice@corp.example", To: []string{tc.rcpt}, Data: msg, SourceIP: src, Auth: tc.auth})
		if tc.wantCode == 0 {
			if err := r.Error(); err != nil {
				t.Fatalf("%s: %v\n--- log ---\n%s", tc.name, err, pf.Log())
			}
			continue
		}
		var se *SMTPError
		if !errors.As(r.Error(), &se) || se.Stage != "AUTH" || se.Code != tc.wantCode || r.QueueID != "" {
			t.Fatalf("%s: got %v (queue id %q), want AUTH %d\n--- log ---\n%s", tc.name, r.Error(), r.QueueID, tc.wantCode, pf.Log())
		}
	}
	for _, tc := range cases {
		if tc.wantCode != 0 {
			continue
		}
		raw := pf.WaitDelivered(t, tc.rcpt, 1, 60*time.Second)[0]
		hdr, _ := SplitMessage(raw)
		if !bytes.Contains(hdr, []byte("with ESMTPA")) {
			t.Errorf("%s: Received: header lacks \"with ESMTPA\":\n%s", tc.name, hdr)
		}
		if !strings.Contains(pf.Log(), "sasl_username="+tc.wantLogin) {
			t.Errorf("%s: log lacks sasl_username=%s:\n%s", tc.name, tc.wantLogin, pf.Log())
		}
	}
	pf.WaitQueueEmpty(t, 30*time.Second)
	for _, tc := range cases {
		if tc.wantCode != 0 && len(pf.Delivered(tc.rcpt)) != 0 {
			t.Errorf("%s: delivered although AUTH failed", tc.name)
		}
	}
	// Postfix logs each failure (through postlogd, so possibly a moment later).
	for _, l := range []string{"PLAIN authentication failed: authentication failure, sasl_username=alice@corp.example",
		"LOGIN authentication failed: authentication failure, sasl_username=bob@corp.example",
		"PLAIN authentication failed: authentication failure, sasl_username=alice\n", "sasl_username=mallory@corp.example"} {
		pf.WaitLog(t, l, 10*time.Second)
	}
}

// Without SASLUsers nothing changes: no AUTH offered, AUTH refused.
func TestNoSASLByDefault(t *testing.T) {
	needPostfix(t)
	t.Parallel()
	pf := Start(t, Options{})
	r := pf.Submit(Mail{From: "a@corp.example", To: []string{"x@partner.example"}, Data: []byte("Subject: x\r\n\r\nx\r\n"), Auth: &Auth{User: "a@corp.example", Pass: "x"}})
	var se *SMTPError
	if !errors.As(r.Error(), &se) || se.Stage != "AUTH" || se.Code != 503 {
		t.Fatalf("AUTH without SASLUsers: %v, want AUTH 503", r.Error())
	}
}
