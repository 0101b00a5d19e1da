package milter

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailseal/mailseal/pdfmail"
	"github.com/mailseal/mailseal/pdfpass"
	"github.com/mailseal/mailseal/policy"
)

// smsGateway is a real HTTP server on loopback that records the posts.
type smsGateway struct {
	mu     sync.Mutex
	status int
	posts  []map[string]string
}

func (g *smsGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var m map[string]string
	_ = json.Unmarshal(b, &m)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.posts = append(g.posts, m)
	w.WriteHeader(g.status)
}

// With pdf.password_delivery sms, each recipient's number gets the PDF's
// password from the webhook before the PDF goes; no mail goes to the
// sender. A failing webhook tempfails; a recipient without a number is
// refused.
func TestHandlePDFPasswordBySMS(t *testing.T) {
	gw := &smsGateway{status: http.StatusOK}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	body, err := pdfpass.ParseBody(pdfpass.DefaultBody)
	if err != nil {
		t.Fatal(err)
	}
	numbers, err := pdfpass.ParseNumbers("numbers", []byte("bob@partner.example +4930123456\ncid@partner.example +4930654321\n"))
	if err != nil {
		t.Fatal(err)
	}
	ids := openIdentities(t, t.TempDir())
	re := &fakeReinjector{}
	s := testSettings(t, policy.DefaultSpec())
	s.PDF = PDFSettings{Delivery: pdfmail.DeliverySMS, Numbers: numbers,
		SMS: &pdfpass.Webhook{URL: srv.URL, Body: body, ContentType: "application/json", Timeout: time.Minute}}
	p := newProcessor(t, s, ids, re)
	hs := setHeader(baseHeaders(), "Subject", "[secure] Salaries")

	res := p.Handle(context.Background(), newTx(hs, plainBody, "bob@partner.example", "cid@partner.example"))
	if !res.Reply.Accepted() || !strings.Contains(res.Action, "pdf") {
		t.Fatalf("reply %v action %q (%s)", res.Reply, res.Action, res.Detail)
	}
	if len(gw.posts) != 2 || gw.posts[0]["to"] == gw.posts[1]["to"] || gw.posts[0]["to"]+gw.posts[1]["to"] != "+4930123456+4930654321" && gw.posts[0]["to"]+gw.posts[1]["to"] != "+4930654321+4930123456" {
		t.Fatalf("webhook posts %v, want one per recipient's number", gw.posts)
	}
	text := gw.posts[0]["text"]
	pw := text[strings.LastIndex(text, " ")+1:]
	if len(pw) < 12 || !strings.Contains(text, "alice@corp.example") {
		t.Errorf("SMS text %q", text)
	}
	if bytes.Contains(res.Body, []byte(pw)) {
		t.Error("the recipient's mail holds the password")
	}
	// The sender hears where the texts went, without any password.
	var confirmations int
	for _, c := range re.copies() {
		if c.rcpts[0] != "alice@corp.example" {
			continue
		}
		confirmations++
		_, b64, _ := bytes.Cut(c.msg, []byte("\r\n\r\n"))
		text, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(b64), "\r\n", ""))
		if err != nil || bytes.Contains(text, []byte(pw)) || !bytes.Contains(text, []byte("@partner.example (…")) || !bytes.Contains(text, []byte("text message")) {
			t.Errorf("sender's confirmation (%v):\n%s", err, text)
		}
	}
	if confirmations != 2 {
		t.Errorf("%d confirmations to the sender, want one per PDF copy (2)", confirmations)
	}
	if !bytes.Contains(res.Body, []byte("application/pdf")) {
		t.Error("no PDF in the recipient's mail")
	}

	gw.status = http.StatusInternalServerError
	res = p.Handle(context.Background(), newTx(hs, plainBody))
	if res.Reply.Code != 451 || res.Reply.Enhanced != "4.3.0" || res.Body != nil {
		t.Errorf("webhook 500: %v, want 451 4.3.0 and no edits", res.Reply)
	}

	gw.status = http.StatusOK
	before := len(gw.posts)
	res = p.Handle(context.Background(), newTx(hs, plainBody, "dan@partner.example"))
	if res.Reply.Code != 550 || res.Reply.Enhanced != "5.7.1" || !strings.Contains(res.Reply.Text, "No mobile number is known for dan@partner.example") {
		t.Errorf("no number: %v, want 550 5.7.1 naming the recipient", res.Reply)
	}
	if len(gw.posts) != before {
		t.Error("the webhook was called for a refused message")
	}
}

// With pdf.password_delivery fixed, each recipient gets a PDF of their
// own under their stored password and nothing is sent to anyone else; a
// recipient without a stored password is refused.
func TestHandlePDFFixedPassword(t *testing.T) {
	ctx := context.Background()
	ids := openIdentities(t, t.TempDir())
	for _, r := range []string{"bob@partner.example", "cid@partner.example"} {
		if err := ids.SetPDFPassword(ctx, r, "agreed password of "+r); err != nil {
			t.Fatal(err)
		}
	}
	re := &fakeReinjector{}
	s := testSettings(t, policy.DefaultSpec())
	s.PDF = PDFSettings{Delivery: pdfmail.DeliveryFixed}
	p := newProcessor(t, s, ids, re)
	hs := setHeader(baseHeaders(), "Subject", "[secure] Salaries")

	res := p.Handle(ctx, newTx(hs, plainBody, "bob@partner.example", "cid@partner.example"))
	if !res.Reply.Accepted() || !strings.Contains(res.Action, "pdf") {
		t.Fatalf("reply %v action %q (%s)", res.Reply, res.Action, res.Detail)
	}
	sent := re.copies()
	if len(sent) != 1 || len(sent[0].rcpts) != 1 || len(res.DeleteRecipients) != 1 || sent[0].rcpts[0] != res.DeleteRecipients[0] {
		t.Fatalf("re-injected %d copies (%v), deleted %v: want one PDF per recipient and no password mail", len(sent), sent, res.DeleteRecipients)
	}
	if !bytes.Contains(sent[0].msg, []byte("application/pdf")) || !bytes.Contains(res.Body, []byte("application/pdf")) {
		t.Error("a recipient's copy has no PDF")
	}

	res = p.Handle(ctx, newTx(hs, plainBody, "dan@partner.example"))
	if res.Reply.Code != 550 || res.Reply.Enhanced != "5.7.1" || !strings.Contains(res.Reply.Text, "dan@partner.example") {
		t.Errorf("no stored password: %v, want 550 5.7.1 naming the recipient", res.Reply)
	}
}
