package postfixtest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func needPostfix(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("real Postfix: skipped with -short")
	}
	// Not a skip: a missing Postfix must fail the run (scripts/install-deps.sh).
	if err := Available(); err != nil {
		t.Fatalf("postfixtest: %v", err)
	}
}

func bigMessage(t *testing.T, from, to string) (msg, body []byte) {
	t.Helper()
	att := make([]byte, 2<<20)
	if _, err := rand.Read(att); err != nil {
		t.Fatal(err)
	}
	enc := base64.StdEncoding.EncodeToString(att)
	var b bytes.Buffer
	b.WriteString("--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString("Grüße aus Köln – ½ € ✓ 日本語\r\n.leading dot line\r\n..two dots\r\nlast line\r\n")
	b.WriteString("--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"blob.bin\"\r\n\r\n")
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--b1--\r\n")
	body = b.Bytes()
	hdr := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: Grüße\r\nMessage-ID: <%d@postfixtest.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n", from, to, time.Now().UnixNano())
	return append([]byte(hdr), body...), body
}

func TestDeliveryByteIdentical(t *testing.T) {
	needPostfix(t)
	t.Parallel()
	pf := Start(t, Options{})
	msg, body := bigMessage(t, "alice@corp.example", "Bob@Partner.example")
	if err := pf.Send(t, Mail{From: "alice@corp.example", To: []string{"Bob@Partner.example", "carol@corp.example"}, Data: msg, SourceIP: net.ParseIP("127.0.0.2")}); err != nil {
		t.Fatalf("send: %v", err)
	}
	for _, rcpt := range []string{"bob@partner.example", "carol@corp.example"} {
		got := pf.WaitDelivered(t, rcpt, 1, 90*time.Second)
		if len(got) != 1 {
			t.Fatalf("%s: %d deliveries, want 1", rcpt, len(got))
		}
		hdr, gotBody := SplitMessage(got[0])
		if !bytes.Equal(gotBody, body) {
			t.Errorf("%s: body differs (got %d bytes, want %d)", rcpt, len(gotBody), len(body))
		}
		if !bytes.HasPrefix(hdr, []byte("Received: from client.test (")) {
			t.Errorf("%s: delivered file does not start with Postfix's Received: header:\n%.300s", rcpt, hdr)
		}
		if !bytes.Contains(hdr, []byte("[127.0.0.2]")) {
			t.Errorf("%s: Received: header lacks the source address 127.0.0.2:\n%s", rcpt, hdr)
		}
		for _, h := range []string{"Delivered-To:", "Return-Path:", "From "} {
			if bytes.HasPrefix(hdr, []byte(h)) || bytes.Contains(hdr, []byte("\r\n"+h)) {
				t.Errorf("%s: unexpected %q in delivered header", rcpt, h)
			}
		}
		if !bytes.Contains(hdr, []byte("Subject: Grüße\r\n")) {
			t.Errorf("%s: subject changed:\n%s", rcpt, hdr)
		}
	}
	if ids := pf.QueueIDs(t); len(ids) != 0 {
		t.Errorf("queue not empty: %v", ids)
	}
	if !strings.Contains(pf.Log(), "status=sent") {
		t.Errorf("log lacks status=sent:\n%s", pf.Log())
	}
}

// With milter_default_action=tempfail and no milter listening, smtpd fails
// the milter connect at SMTP connect time and answers every MAIL FROM (the
// first command after EHLO that it can refuse) with 451 4.7.1.
func TestMilterDownTempfails(t *testing.T) {
	needPostfix(t)
	t.Parallel()
	pf := Start(t, Options{Milter: fmt.Sprintf("inet:127.0.0.1:%d", FreePort(t)), ReinjectPort: FreePort(t)})
	m := Mail{From: "alice@corp.example", To: []string{"bob@partner.example"}, Data: []byte("Subject: x\r\n\r\nhello\r\n")}
	r := pf.Submit(m)
	err := r.Error()
	t.Logf("milter down: %v", err)
	var se *SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("want an SMTP error, got %v", err)
	}
	if se.Stage != "MAIL" || se.Code != 451 || !strings.HasPrefix(se.Msg, "4.7.1") || !strings.Contains(err.Error(), "451 4.7.1") {
		t.Fatalf("want MAIL: 451 4.7.1 …, got %v", err)
	}
	// The re-injection port has no milter: it accepts and delivers.
	m.Addr = pf.ReinjectAddr
	if err := pf.Send(t, m); err != nil {
		t.Fatalf("reinject port: %v", err)
	}
	pf.WaitDelivered(t, "bob@partner.example", 1, 90*time.Second)
}

func TestParallelInstancesAndFlush(t *testing.T) {
	needPostfix(t)
	t.Parallel()
	a := Start(t, Options{})
	// b's deliveries fail (deferred) and would be retried only after an hour:
	// only Flush gets the mail out in time.
	b := Start(t, Options{ExtraMain: map[string]string{
		"queue_run_delay":      "3600s",
		"minimal_backoff_time": "3600s",
		"maximal_backoff_time": "3600s",
	}})
	b.SetDeliveryTempfail(t, true)
	m := Mail{From: "x@corp.example", To: []string{"y@partner.example"}, Data: []byte("Subject: a\r\n\r\nbody\r\n")}
	if err := a.Send(t, m); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(t, m); err != nil {
		t.Fatal(err)
	}
	a.WaitDelivered(t, "y@partner.example", 1, 90*time.Second)
	waitDeferred(t, b, 1)
	if got := b.Delivered("y@partner.example"); len(got) != 0 {
		t.Fatalf("b delivered despite SetDeliveryTempfail")
	}
	if !strings.Contains(b.Log(), "deliveries are tempfailed") {
		t.Errorf("b's log lacks the pipe's tempfail reason:\n%s", b.Log())
	}
	b.SetDeliveryTempfail(t, false)
	time.Sleep(2 * time.Second)
	if got := b.Delivered("y@partner.example"); len(got) != 0 {
		t.Fatalf("b delivered before Flush")
	}
	b.Flush(t)
	b.WaitDelivered(t, "y@partner.example", 1, 90*time.Second)
	b.WaitQueueEmpty(t, 30*time.Second)
	if got := a.Delivered("y@partner.example"); len(got) != 1 {
		t.Fatalf("a: %d deliveries, want 1", len(got))
	}
	// Postconf + reload: an unknown-but-harmless change must not break it.
	b.Postconf(t, map[string]string{"delay_warning_time": "0"})
	if err := b.Send(t, m); err != nil {
		t.Fatal(err)
	}
	b.WaitDelivered(t, "y@partner.example", 2, 90*time.Second)
}

func waitDeferred(t *testing.T, pf *Instance, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var deferred int
		for _, e := range pf.Queue(t) {
			if e.QueueName == "deferred" {
				deferred++
			}
		}
		if deferred == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d deferred message(s), queue: %+v\n%s", n, pf.Queue(t), pf.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestToCRLFAndSplit(t *testing.T) {
	in := []byte("A: 1\nB: 2\r\n\nbody\nline2\r\n")
	got := ToCRLF(in)
	if want := "A: 1\r\nB: 2\r\n\r\nbody\r\nline2\r\n"; string(got) != want {
		t.Fatalf("ToCRLF = %q, want %q", got, want)
	}
	h, b := SplitMessage(got)
	if string(h) != "A: 1\r\nB: 2\r\n" || string(b) != "body\r\nline2\r\n" {
		t.Fatalf("SplitMessage = %q, %q", h, b)
	}
	e := &SMTPError{Stage: "RCPT", Rcpt: "x@y", Code: 550, Msg: "5.7.1 no"}
	if e.Error() != "RCPT <x@y>: 550 5.7.1 no" || e.Temporary() {
		t.Fatalf("SMTPError: %q", e.Error())
	}
}

// TestMboxQuote: with Options.MboxQuote the pipe quotes "From " lines like
// mbox delivery; without it they arrive unchanged.
func TestMboxQuote(t *testing.T) {
	needPostfix(t)
	t.Parallel()
	msg := []byte("From: <a@corp.example>\r\nTo: <b@partner.example>\r\nSubject: mbox\r\n\r\nFrom the start\r\n>From quoted\r\n From not at the start\r\n")
	for _, quote := range []bool{false, true} {
		pf := Start(t, Options{MboxQuote: quote})
		if err := pf.Send(t, Mail{From: "a@corp.example", To: []string{"b@partner.example"}, Data: msg}); err != nil {
			t.Fatalf("send: %v", err)
		}
		_, body := SplitMessage(pf.WaitDelivered(t, "b@partner.example", 1, 90*time.Second)[0])
		want := "From the start\r\n>From quoted\r\n From not at the start\r\n"
		if quote {
			want = ">From the start\r\n>From quoted\r\n From not at the start\r\n"
		}
		if string(body) != want {
			t.Errorf("MboxQuote=%v: body %q, want %q", quote, body, want)
		}
	}
}
