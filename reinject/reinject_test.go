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
	id, err := c.SendQueued(context.Background(), Envelope{From: "a@corp.example", Rcpts: Recipients("b@x.example", "c@x.example")}, msg)
	if err != nil {
		t.Fatal(err)
	}
	// The ID is Postfix's own: its log names the copy by it.
	if id == "" {
		t.Fatal("no queue ID from the reply to DATA")
	}
	pf.WaitLog(t, id+": from=<a@corp.example>", 30*time.Second)
	for _, rcpt := range []string{"b@x.example", "c@x.example"} {
		got := pf.WaitDelivered(t, rcpt, 1, 60*time.Second)[0]
		if !bytes.Contains(got, []byte("\r\n\r\n.leading dot\r\nGrüße\r\n")) {
			t.Errorf("%s got %q", rcpt, got)
		}
	}

	err = c.Send(context.Background(), Envelope{From: "a@corp.example", Rcpts: Recipients("d@x.example", "busy@x.example")}, msg)
	var se *Error
	if !errors.As(err, &se) || !se.Temporary() || !strings.Contains(se.Stage, "busy@x.example") {
		t.Fatalf("refused recipient gave %v, want a temporary *Error at its RCPT", err)
	}
	time.Sleep(time.Second)
	if got := pf.Delivered("d@x.example"); len(got) != 0 {
		t.Fatal("copy delivered to part of its group")
	}
}

// A copy keeps its delivery status notification requests: Postfix reports
// the delivery of d@x.example to the sender (as "relayed": the pipe is not a mailbox), with the original envelope id
// and recipient. Unknown or malformed parameters are dropped, not sent.
func TestQueueIDFromReply(t *testing.T) {
	for reply, want := range map[string]string{
		"2.0.0 Ok: queued as 4Xk9f2ZsQmz1w": "4Xk9f2ZsQmz1w",
		"2.0.0 Ok: queued as 8C1D3E07A":     "8C1D3E07A",
		"Ok":                                "",
	} {
		if got := queueIDFrom(reply); got != want {
			t.Errorf("queueIDFrom(%q) = %q, want %q", reply, got, want)
		}
	}
}

func TestSendKeepsDSNParameters(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Postfix")
	}
	pf := postfixtest.Start(t, postfixtest.Options{ReinjectPort: postfixtest.FreePort(t)})
	c := &Client{Addr: pf.ReinjectAddr, Timeout: 30 * time.Second}
	env := Envelope{
		From:       "a@corp.example",
		FromParams: []string{"RET=HDRS", "ENVID=mailseal-env-1", "SIZE=99999999999", "X-UNKNOWN=1"},
		Rcpts: []Recipient{
			{Addr: "d@x.example", Params: []string{"NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;D@X.example", "NOTIFY=NEVER"}},
			{Addr: "e@x.example", Params: []string{"NOTIFY=NEVER\r\nRSET"}},
		},
	}
	msg := []byte("From: a@corp.example\nTo: d@x.example\nSubject: dsn\n\nbody\n")
	if err := c.Send(context.Background(), env, msg); err != nil {
		t.Fatal(err)
	}
	pf.WaitDelivered(t, "d@x.example", 1, 60*time.Second)
	pf.WaitDelivered(t, "e@x.example", 1, 60*time.Second)
	dsn := string(pf.WaitDelivered(t, "a@corp.example", 1, 60*time.Second)[0])
	for _, want := range []string{"Status: 2.0.0", "Original-Envelope-Id: mailseal-env-1", "Original-Recipient: rfc822;D@X.example", "Final-Recipient: rfc822; d@x.example"} {
		if !strings.Contains(dsn, want) {
			t.Errorf("success DSN lacks %q:\n%s", want, dsn)
		}
	}
	if strings.Contains(dsn, "e@x.example") {
		t.Errorf("e@x.example asked for no malformed parameter to pass, yet is reported:\n%s", dsn)
	}
}

func TestForwardedParameters(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params []string
		want   string
	}{
		{"DSN and SMTPUTF8 kept", []string{"RET=FULL", "ENVID=x+2By", "SMTPUTF8"}, "RET=FULL ENVID=x+2By SMTPUTF8"},
		{"SIZE, BODY and AUTH describe the original", []string{"SIZE=10", "BODY=8BITMIME", "AUTH=<>"}, ""},
		{"keywords are case-insensitive, first one wins", []string{"ret=hdrs", "RET=FULL"}, "ret=hdrs"},
		{"no spaces or control characters", []string{"ENVID=a b", "ENVID=a\rb", "ENVID=ä"}, ""},
		{"empty parameter", []string{""}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(keep(tc.params, mailParams, func(string) bool { return true }), " ")
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if got := keep([]string{"NOTIFY=NEVER", "ORCPT=rfc822;a@b"}, rcptParams, func(ext string) bool { return ext != "DSN" }); len(got) != 0 {
		t.Errorf("kept %q although the server does not offer DSN", got)
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
