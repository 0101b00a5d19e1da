package milter

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/mailseal/mailseal/policy"
)

// Confidential mail to a recipient without a key: the recipient's copy
// holds a notice and an encrypted PDF and nothing of the message in clear;
// the password goes to the sender first, with a null envelope sender.
func TestHandlePDFFallback(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	re := &fakeReinjector{}
	p := newProcessor(t, testSettings(t, policy.DefaultSpec()), ids, re)
	hs := setHeader(baseHeaders(), "Subject", "=?utf-8?q?[Vertraulich]_Geh=C3=A4lter?=")
	hs = append(hs, Header{"Thread-Topic", "=?utf-8?q?Geh=C3=A4lter?="}) // Outlook repeats the subject
	res := p.Handle(context.Background(), newTx(hs, plainBody))
	if !res.Reply.Accepted() {
		t.Fatalf("reply %v (%s)", res.Reply, res.Detail)
	}
	if !slices.ContainsFunc(res.DeleteHeaders, func(r HeaderRef) bool { return r.Name == "Thread-Topic" }) {
		t.Errorf("Thread-Topic (the subject again) is not removed: %v", res.DeleteHeaders)
	}
	if res.Action != "pdf" {
		t.Errorf("action %q, want pdf", res.Action)
	}
	if bytes.Contains(res.Body, []byte("Büro")) || bytes.Contains(res.Body, []byte("B\\xc3\\xbcro")) || bytes.Contains(res.Body, []byte("Gehälter")) {
		t.Error("the recipient's copy shows the message in clear")
	}
	for _, want := range []string{"application/pdf", "application/pkcs7-signature"} {
		if !bytes.Contains(res.Body, []byte(want)) {
			t.Errorf("body lacks %s", want)
		}
	}
	var subject string
	for _, c := range res.ChangeHeaders {
		if strings.EqualFold(c.Name, "Subject") {
			subject = c.Value
		}
	}
	if strings.Contains(subject, "Geh") || !strings.Contains(subject, "alice@corp.example") {
		t.Errorf("outer subject %q: must name the sender and hide the real subject", subject)
	}
	sent := re.copies()
	if len(sent) != 1 {
		t.Fatalf("%d mails re-injected, want the password notice only", len(sent))
	}
	n := sent[0]
	if n.from != "" || len(n.rcpts) != 1 || n.rcpts[0] != "alice@corp.example" {
		t.Errorf("notice envelope from %q to %v, want <> to the sender", n.from, n.rcpts)
	}
	if !bytes.Contains(n.msg, []byte("Auto-Submitted: auto-generated")) {
		t.Error("notice is not marked auto-generated")
	}

	// The password cannot reach the sender: the message waits.
	re.setFail("alice@corp.example")
	res = p.Handle(context.Background(), newTx(hs, plainBody))
	if res.Reply.Code != 451 || res.Body != nil {
		t.Errorf("notice failed: %v, want 451 and no edits", res.Reply)
	}
}
