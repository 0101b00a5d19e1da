package integration

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// smsWebhook is a local SMS gateway: a real HTTP server on 127.0.0.1.
type smsWebhook struct {
	mu     sync.Mutex
	status int
	posts  []smsPost
}

type smsPost struct {
	auth, ctype string
	body        map[string]string
}

func (s *smsWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	p := smsPost{auth: r.Header.Get("Authorization"), ctype: r.Header.Get("Content-Type")}
	_ = json.Unmarshal(b, &p.body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.posts = append(s.posts, p)
	w.WriteHeader(s.status)
}

func (s *smsWebhook) snapshot() []smsPost {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smsPost(nil), s.posts...)
}

// With pdf.password_delivery: sms, the PDF's password goes to the
// recipient's number through the webhook before the PDF leaves, and
// opens the delivered PDF; the sender gets a confirmation without it. A webhook
// answering 500 tempfails the mail and nothing is delivered; a recipient
// without a number is refused.
func TestPDFPasswordBySMSWebhook(t *testing.T) {
	hook := &smsWebhook{status: http.StatusOK}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	dir := t.TempDir()
	numbers := filepath.Join(dir, "numbers")
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(numbers, []byte("# partners\nKim@nokey.example  +4930123456\nlee@nokey.example +4917600000001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(token, []byte("gateway-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, pf := setupPolicy(t, "pdf:\n  password_delivery: sms\n  sms:\n    url: "+srv.URL+"/send\n    numbers_file: "+numbers+"\n    token_file: "+token+"\n", nil)

	msg := internalMail("alice@corp.example", "kim@nokey.example", "[secure] Salaries", nil)
	if err := pf.Send(t, postfixtest.Mail{From: "alice@corp.example", To: []string{"kim@nokey.example"}, Data: msg, SourceIP: trustedIP}); err != nil {
		t.Fatal(err)
	}
	raw := pf.WaitDelivered(t, "kim@nokey.example", 1, deliveryTimeout)[0]
	posts := hook.snapshot()
	if len(posts) != 1 {
		t.Fatalf("%d webhook calls, want 1", len(posts))
	}
	p := posts[0]
	if p.body["to"] != "+4930123456" || p.auth != "Bearer gateway-token" || p.ctype != "application/json" {
		t.Fatalf("webhook got %+v", p)
	}
	text := p.body["text"]
	password := text[strings.LastIndex(text, " ")+1:]
	if !strings.Contains(text, "alice@corp.example") || len(password) < 12 {
		t.Fatalf("SMS text %q", text)
	}
	if strings.Contains(string(raw), password) {
		t.Error("the recipient's mail holds the password")
	}
	// The sender hears that the PDF went out and where the text went, but
	// gets no password.
	confirm := decodedText(t, pf.WaitDelivered(t, "alice@corp.example", 1, deliveryTimeout)[0])
	if strings.Contains(string(confirm), password) || !strings.Contains(string(confirm), "kim@nokey.example (…3456)") {
		t.Errorf("sender's confirmation:\n%s", confirm)
	}
	if !strings.Contains(string(decodedText(t, raw)), "by text message (SMS)") {
		t.Error("the recipient's notice does not say the password comes by SMS")
	}
	content, _ := opensslVerify(t, d.CAFile(), raw)
	var pdf []byte
	for _, l := range leaves(t, content) {
		if l.ContentType == "application/pdf" {
			pdf = l.Data
		}
	}
	if pdf == nil {
		t.Fatalf("no application/pdf part:\n%s", head(content))
	}
	in := filepath.Join(dir, "message.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, nil, "qpdf", "--password="+password, "--show-encryption", in); err != nil || !strings.Contains(out, "R = 6") {
		t.Fatalf("qpdf with the SMS password: %v\n%s", err, out)
	}
	if out, err := run(t, nil, "qpdf", "--password=wrong-password", "--decrypt", in, filepath.Join(dir, "x.pdf")); err == nil {
		t.Fatalf("a wrong password opened the PDF:\n%s", out)
	}

	// The gateway fails: the mail waits, nothing is delivered.
	hook.mu.Lock()
	hook.status = http.StatusInternalServerError
	hook.mu.Unlock()
	err := pf.Send(t, postfixtest.Mail{From: "alice@corp.example", To: []string{"lee@nokey.example"}, Data: internalMail("alice@corp.example", "lee@nokey.example", "[secure] Q3", nil), SourceIP: trustedIP})
	var se *postfixtest.SMTPError
	if !errors.As(err, &se) || se.Stage != "DOT" || se.Code != 451 || !strings.HasPrefix(se.Msg, "4.3.0 ") {
		t.Fatalf("webhook 500: %v, want 451 4.3.0 at end of data", err)
	}
	if n := len(hook.snapshot()); n != 2 {
		t.Errorf("%d webhook calls, want 2", n)
	}

	// No number known: refused for good, the gateway is not called.
	err = pf.Send(t, postfixtest.Mail{From: "alice@corp.example", To: []string{"max@nokey.example"}, Data: internalMail("alice@corp.example", "max@nokey.example", "[secure] Q4", nil), SourceIP: trustedIP})
	if !errors.As(err, &se) || se.Code != 550 || !strings.Contains(se.Msg, "5.7.1 No mobile number is known for max@nokey.example") {
		t.Fatalf("no number: %v, want 550 5.7.1", err)
	}
	if n := len(hook.snapshot()); n != 2 {
		t.Errorf("%d webhook calls, want 2", n)
	}
	expectDeliveries(t, pf, map[string]int{"kim@nokey.example": 1, "lee@nokey.example": 0, "max@nokey.example": 0, "alice@corp.example": 1})

	// The numbers file is re-read on SIGHUP: max has a number now.
	hook.mu.Lock()
	hook.status = http.StatusOK
	hook.mu.Unlock()
	if err := os.WriteFile(numbers, []byte("kim@nokey.example +4930123456\nmax@nokey.example +4915100000077\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.Signal(syscall.SIGHUP)
	d.WaitLog("configuration reloaded", 10*time.Second)
	if err := pf.Send(t, postfixtest.Mail{From: "alice@corp.example", To: []string{"max@nokey.example"}, Data: internalMail("alice@corp.example", "max@nokey.example", "[secure] Q4", nil), SourceIP: trustedIP}); err != nil {
		t.Fatalf("max after reload: %v", err)
	}
	pf.WaitDelivered(t, "max@nokey.example", 1, deliveryTimeout)
	if posts := hook.snapshot(); len(posts) != 3 || posts[2].body["to"] != "+4915100000077" {
		t.Errorf("after reload the webhook got %v", posts)
	}
}
