package reinject

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

func TestSendThroughRealPostfix(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Postfix")
	}
	port := postfixtest.FreePort(t)
	pf := postfixtest.Start(t, postfixtest.Options{ReinjectPort: port, ExtraMain: map[string]string{
		// A recipient the server refuses for now, to see the refusal reported.
		"smtpd_recipient_restrictions": "check_recipient_access inline:{ { busy@x.example = DEFER_IF_PERMIT try later } }, permit_mynetworks, reject",
	}})
	c := &Client{Addr: pf.ReinjectAddr, Timeout: 30 * time.Second}
	msg := []byte("From: a@corp.example\nTo: b@x.example\nSubject: copy\n\n.leading dot\nGrüße\n")
	if err := c.Send(context.Background(), "a@corp.example", []string{"b@x.example", "c@x.example"}, msg); err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{"b@x.example", "c@x.example"} {
		got := pf.WaitDelivered(t, rcpt, 1, 60*time.Second)[0]
		if !bytes.Contains(got, []byte("\r\n\r\n.leading dot\r\nGrüße\r\n")) {
			t.Errorf("%s got %q", rcpt, got)
		}
	}

	err := c.Send(context.Background(), "a@corp.example", []string{"d@x.example", "busy@x.example"}, msg)
	var se *Error
	if !errors.As(err, &se) || !se.Temporary() || !strings.Contains(se.Stage, "busy@x.example") {
		t.Fatalf("refused recipient gave %v, want a temporary *Error at its RCPT", err)
	}
	time.Sleep(time.Second)
	if got := pf.Delivered("d@x.example"); len(got) != 0 {
		t.Fatal("copy delivered to part of its group")
	}
}

func TestToCRLF(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a\nb\n", "a\r\nb\r\n"}, {"a\r\nb", "a\r\nb"}, {"", ""}, {"\n", "\r\n"},
	} {
		if got := string(toCRLF([]byte(tc.in))); got != tc.want {
			t.Errorf("toCRLF(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
