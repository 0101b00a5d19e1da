package milter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"
)

// recordingHandler returns a fixed result and keeps what it saw.
type recordingHandler struct {
	mu     sync.Mutex
	txs    []*Transaction
	bodies [][]byte
	result func(tx *Transaction) Result
	block  chan struct{} // when set, Handle waits for it
}

func (h *recordingHandler) Recipient(ctx context.Context, tx *Transaction, rcpt string) Reply {
	if strings.HasPrefix(rcpt, "refuse") {
		return Reject(550, "5.7.1", "<"+rcpt+"> refused by test")
	}
	return Reply{}
}

func (h *recordingHandler) Handle(ctx context.Context, tx *Transaction) Result {
	if h.block != nil {
		<-h.block
	}
	r, _ := tx.Body()
	b, _ := io.ReadAll(r)
	h.mu.Lock()
	h.txs = append(h.txs, tx)
	h.bodies = append(h.bodies, b)
	h.mu.Unlock()
	if h.result == nil {
		return Result{}
	}
	return h.result(tx)
}

func startServer(t *testing.T, h Handler, opts Options) (*Server, string) {
	t.Helper()
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(h, opts)
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, ln.Addr().String()
}

func newClientSession(t *testing.T, addr string) *gomilter.ClientSession {
	t.Helper()
	c := gomilter.NewClientWithOptions("tcp", addr, gomilter.ClientOptions{
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		ActionMask: gomilter.OptAddHeader | gomilter.OptChangeBody | gomilter.OptChangeHeader | gomilter.OptAddRcpt | gomilter.OptRemoveRcpt,
	})
	s, err := c.Session()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sendMessage drives one message like Postfix does and returns the edits and final action.
func sendMessage(t *testing.T, s *gomilter.ClientSession, from string, rcpts []string, headers [][2]string, body []byte, mailMacros ...string) ([]gomilter.ModifyAction, *gomilter.Action) {
	t.Helper()
	if len(mailMacros) > 0 {
		if err := s.Macros(gomilter.CodeMail, mailMacros...); err != nil {
			t.Fatal(err)
		}
	}
	must := func(a *gomilter.Action, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if a.Code != gomilter.ActContinue {
			t.Fatalf("unexpected early action %+v", a)
		}
	}
	must(s.Mail(from, nil))
	for _, r := range rcpts {
		must(s.Rcpt(r, nil))
	}
	for _, h := range headers {
		must(s.HeaderField(h[0], h[1]))
	}
	must(s.HeaderEnd())
	for len(body) > 0 {
		n := min(len(body), 65535)
		must(s.BodyChunk(body[:n]))
		body = body[n:]
	}
	mods, act, err := s.End()
	if err != nil {
		t.Fatal(err)
	}
	return mods, act
}

func TestSessionCapturesFactsAcrossMessages(t *testing.T) {
	h := &recordingHandler{}
	_, addr := startServer(t, h, Options{SpoolMemory: 16})
	s := newClientSession(t, addr)
	if err := s.Macros(gomilter.CodeConn, "{daemon_name}", "smtpd-in", "j", "mx"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Conn("client.example", gomilter.FamilyInet, 2525, "192.0.2.10"); err != nil {
		t.Fatal(err)
	}
	if err := s.Macros(gomilter.CodeHelo, "{tls_version}", "TLSv1.3", "{cipher}", "TLS_AES_256_GCM_SHA384"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Helo("client.example"); err != nil {
		t.Fatal(err)
	}
	body := []byte(strings.Repeat("line of body text\r\n", 20))
	for i, user := range []string{"alice@corp.example", "bob@corp.example"} {
		_, act := sendMessage(t, s, "<"+user+">", []string{"<x@partner.example>"},
			[][2]string{{"From", user}, {"Subject", "folded\n\tsubject"}}, body,
			"i", "QID"+string(rune('A'+i)), "{auth_authen}", user)
		if act.Code != gomilter.ActContinue {
			t.Fatalf("message %d: action %+v, want continue (accept)", i, act)
		}
	}
	if len(h.txs) != 2 {
		t.Fatalf("handler saw %d messages", len(h.txs))
	}
	for i, tx := range h.txs {
		if tx.Client.Addr.String() != "192.0.2.10" || tx.Client.TLSVersion != "TLSv1.3" || tx.Client.DaemonName != "smtpd-in" || tx.Client.Helo != "client.example" {
			t.Errorf("message %d: client facts lost: %+v", i, tx.Client)
		}
		if tx.QueueID != "QID"+string(rune('A'+i)) {
			t.Errorf("message %d: queue id %q", i, tx.QueueID)
		}
		if len(tx.Rcpts) != 1 || len(tx.Headers) != 2 || tx.Headers[1].Value != "folded\n\tsubject" {
			t.Errorf("message %d: envelope/headers %+v %+v", i, tx.Rcpts, tx.Headers)
		}
		if !bytes.Equal(h.bodies[i], body) {
			t.Errorf("message %d: body differs", i)
		}
	}
	if h.txs[0].AuthUser != "alice@corp.example" || h.txs[1].AuthUser != "bob@corp.example" || h.txs[1].From != "bob@corp.example" {
		t.Errorf("per-message facts wrong: %q %q %q", h.txs[0].AuthUser, h.txs[1].AuthUser, h.txs[1].From)
	}
}

func TestResultIsAppliedAsDiff(t *testing.T) {
	big := bytes.Repeat([]byte(strings.Repeat("x", 70)+"\r\n"), 3000) // ~216 KB: several chunks
	h := &recordingHandler{result: func(tx *Transaction) Result {
		return Result{
			DeleteHeaders: []HeaderRef{{"X-Mailseal-Trace", 1}, {"X-Mailseal-Trace", 2}},
			AddHeaders:    []Header{{"Content-Type", "multipart/signed"}},
			Body:          big,
		}
	}}
	_, addr := startServer(t, h, Options{})
	s := newClientSession(t, addr)
	mods, act := sendMessage(t, s, "<a@corp.example>", []string{"<b@x.example>"},
		[][2]string{{"X-Mailseal-Trace", "forged 1"}, {"Subject", "s"}, {"X-Mailseal-Trace", "forged 2"}}, []byte("hi\r\n"))
	if act.Code != gomilter.ActContinue {
		t.Fatalf("action %+v", act)
	}
	var got bytes.Buffer
	var order []string
	chunks := 0
	for _, m := range mods {
		switch m.Code {
		case gomilter.ActChangeHeader:
			order = append(order, m.HeaderName+"#"+string(rune('0'+m.HeaderIndex)))
			if m.HeaderValue != "" {
				t.Errorf("delete sent a value %q", m.HeaderValue)
			}
		case gomilter.ActAddHeader:
			order = append(order, "+"+m.HeaderName)
		case gomilter.ActReplBody:
			chunks++
			if len(m.Body) > maxBodyChunk {
				t.Errorf("body chunk of %d bytes", len(m.Body))
			}
			got.Write(m.Body)
		}
	}
	if strings.Join(order, ",") != "X-Mailseal-Trace#2,X-Mailseal-Trace#1,+Content-Type" {
		t.Errorf("header edits in order %v; want highest index first, then adds", order)
	}
	if chunks < 3 {
		t.Errorf("body sent in %d chunks, want several", chunks)
	}
	// go-milter converts CRLF to LF on the wire; Postfix restores CRLF.
	if !bytes.Equal(got.Bytes(), bytes.ReplaceAll(big, []byte("\r\n"), []byte("\n"))) {
		t.Error("replaced body differs from the handler's body")
	}
}

func TestRepliesCarryEnhancedCodes(t *testing.T) {
	cases := []struct {
		reply    Reply
		wantCode int
		wantText string
	}{
		{TempFail("4.7.1", "Your message could not be signed right now; please try again later"), 451, "4.7.1 Your message could not be signed right now; please try again later"},
		{Reject(552, "5.3.4", "Message too big\r\nto be signed"), 552, "5.3.4 Message too big  to be signed"},
	}
	for _, tc := range cases {
		h := &recordingHandler{result: func(*Transaction) Result { return Result{Reply: tc.reply, Body: []byte("never")} }}
		_, addr := startServer(t, h, Options{})
		s := newClientSession(t, addr)
		mods, act := sendMessage(t, s, "<a@corp.example>", []string{"<b@x.example>"}, [][2]string{{"From", "a@corp.example"}}, []byte("x\r\n"))
		if len(mods) != 0 {
			t.Errorf("edits sent with a refusal: %+v", mods)
		}
		if act.Code != gomilter.ActReplyCode || act.SMTPCode != tc.wantCode || act.SMTPText != tc.wantText {
			t.Errorf("action %+v, want %d %q", act, tc.wantCode, tc.wantText)
		}
	}
}

func TestHandlerPanicTempfails(t *testing.T) {
	h := &recordingHandler{result: func(*Transaction) Result { panic("boom") }}
	_, addr := startServer(t, h, Options{})
	s := newClientSession(t, addr)
	_, act := sendMessage(t, s, "<a@corp.example>", []string{"<b@x.example>"}, nil, []byte("x\r\n"))
	if act.Code != gomilter.ActReplyCode || act.SMTPCode != 451 || !strings.HasPrefix(act.SMTPText, "4.3.0 ") {
		t.Fatalf("panic answered with %+v, want 451 4.3.0", act)
	}
}

// syncBuffer is a log destination the server's goroutines may write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestIncompleteMessagesAreRefused: a message mailseal could not hold whole
// never reaches the handler, in either direction; the reply and the log
// name the real cause.
func TestIncompleteMessagesAreRefused(t *testing.T) {
	var padding [][2]string
	for i := 0; i < 10000; i++ {
		padding = append(padding, [2]string{"X-Padding", fmt.Sprintf("%05d %s", i, strings.Repeat("p", 100))})
	}
	afterPadding := append(slices.Clone(padding),
		[2]string{"X-Mailseal-Trace", "mx.corp.example; signed; signer=ceo@corp.example"},
		[2]string{"Authentication-Results", "mx.corp.example; smime=pass"},
		[2]string{"Subject", "[secure] salaries"},
		[2]string{"From", "ceo@corp.example"})
	cases := []struct {
		name     string
		headers  [][2]string
		body     []byte
		wantCode int
		wantText string
		wantLog  string
	}{
		{"header past 1 MiB", afterPadding, []byte("x\r\n"), 552,
			"5.3.4 Message header too large for this gateway; send it with fewer or shorter header fields",
			"cause=\"header fields exceed 1048576 bytes\""},
		{"body past max_message_size", [][2]string{{"From", "a@corp.example"}}, bytes.Repeat([]byte("y"), 10000), 552,
			"5.3.4 Message too big for this gateway",
			"cause=\"message exceeds milter.max_message_size (4096 bytes)\""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			h := &recordingHandler{}
			_, addr := startServer(t, h, Options{SpoolMemory: 1024, MaxMessageSize: 4096, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			s := newClientSession(t, addr)
			mods, act := sendMessage(t, s, "<a@corp.example>", []string{"<b@x.example>"}, tc.headers, tc.body)
			if len(mods) != 0 {
				t.Errorf("edits sent with a refusal: %+v", mods)
			}
			if act.Code != gomilter.ActReplyCode || act.SMTPCode != tc.wantCode || act.SMTPText != tc.wantText {
				t.Errorf("action %+v, want %d %q", act, tc.wantCode, tc.wantText)
			}
			h.mu.Lock()
			seen := len(h.txs)
			h.mu.Unlock()
			if seen != 0 {
				t.Errorf("the handler decided on an incomplete message")
			}
			if !strings.Contains(logs.String(), tc.wantLog) || strings.Contains(tc.name, "header") && strings.Contains(logs.String(), "max_message_size") {
				t.Errorf("log does not name the cause %s:\n%s", tc.wantLog, logs.String())
			}
			// The connection goes on: the next message is handled.
			_, act = sendMessage(t, s, "<a@corp.example>", []string{"<b@x.example>"}, [][2]string{{"From", "a@corp.example"}}, []byte("x\r\n"))
			if act.Code != gomilter.ActContinue {
				t.Errorf("next message on the connection: %+v", act)
			}
		})
	}
}

func TestShutdownWaitsForMessagesInFlight(t *testing.T) {
	h := &recordingHandler{block: make(chan struct{})}
	srv, addr := startServer(t, h, Options{})
	s := newClientSession(t, addr)
	// The client runs in its own goroutine, which must not call t.Fatal:
	// it reports its outcome, and every wait below is bounded.
	type outcome struct {
		act *gomilter.Action
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		act, err := func() (*gomilter.Action, error) {
			if _, err := s.Mail("<a@corp.example>", nil); err != nil {
				return nil, err
			}
			if _, err := s.Rcpt("<b@x.example>", nil); err != nil {
				return nil, err
			}
			if _, err := s.HeaderEnd(); err != nil {
				return nil, err
			}
			if _, err := s.BodyChunk([]byte("x\r\n")); err != nil {
				return nil, err
			}
			_, act, err := s.End()
			return act, err
		}()
		done <- outcome{act, err}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for srv.InFlight() == 0 {
		if time.Now().After(deadline) {
			close(h.block)
			t.Fatalf("message never became in flight: %+v", <-done)
		}
		time.Sleep(5 * time.Millisecond)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	select {
	case <-shut:
		close(h.block)
		t.Fatal("Shutdown returned while a message was in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(h.block)
	select {
	case o := <-done:
		if o.err != nil || o.act.Code != gomilter.ActContinue {
			t.Fatalf("in-flight message got %+v, %v", o.act, o.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("in-flight message got no answer")
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Shutdown did not return after the message finished")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting connections after Shutdown")
	}
}

func TestDroppedConnectionReleasesMessage(t *testing.T) {
	h := &recordingHandler{}
	dir := t.TempDir()
	srv, addr := startServer(t, h, Options{SpoolMemory: 10, TempDir: dir})
	s := newClientSession(t, addr)
	if _, err := s.Mail("<a@corp.example>", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.HeaderEnd(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BodyChunk(bytes.Repeat([]byte("z"), 1000)); err != nil {
		t.Fatal(err)
	}
	// MAIL FROM and body chunks get no reply: wait until the server has
	// read MAIL FROM.
	deadline := time.Now().Add(5 * time.Second)
	for srv.InFlight() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("in flight = %d", srv.InFlight())
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Close()
	deadline = time.Now().Add(5 * time.Second)
	for srv.InFlight() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if srv.InFlight() != 0 {
		t.Fatal("message still in flight after the connection dropped")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("spool left files: %v", entries)
	}
}

func TestIdleConnectionTimesOut(t *testing.T) {
	_, addr := startServer(t, &recordingHandler{}, Options{ReadTimeout: 100 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("server kept an idle connection open past milter.read_timeout")
	}
	if err != io.EOF {
		t.Fatalf("read from idle connection: %v, want EOF (closed by server)", err)
	}
}

func TestUnixSocket(t *testing.T) {
	path := t.TempDir() + "/milter.sock"
	// A stale socket from a crashed run is replaced.
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	ln, err := Listen("unix", path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o666 {
		t.Fatalf("socket mode %v, %v; want 0666 so the postfix user can connect", fi.Mode().Perm(), err)
	}
	h := &recordingHandler{}
	srv := NewServer(h, Options{})
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	c := gomilter.NewClientWithOptions("unix", path, gomilter.ClientOptions{ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		ActionMask: gomilter.OptAddHeader | gomilter.OptChangeBody | gomilter.OptChangeHeader | gomilter.OptAddRcpt | gomilter.OptRemoveRcpt})
	s, err := c.Session()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, act := sendMessage(t, s, "<a@corp.example>", []string{"<b@x.example>"}, nil, []byte("hi\r\n")); act.Code != gomilter.ActContinue {
		t.Fatalf("action %+v", act)
	}
	if len(h.txs) != 1 {
		t.Fatalf("handler saw %d messages over the unix socket", len(h.txs))
	}
}

func TestNegotiatedProtocol(t *testing.T) {
	_, addr := startServer(t, &recordingHandler{}, Options{})
	s := newClientSession(t, addr)
	tests := []struct {
		name string
		opt  gomilter.OptProtocol
		want bool
	}{
		{"skip DATA", gomilter.OptNoData, true},
		{"skip end of headers", gomilter.OptNoEOH, true},
		{"skip unknown commands (go-milter would drop the connection)", gomilter.OptNoUnknown, true},
		{"no reply at connect", gomilter.OptNoConnReply, true},
		{"no reply at HELO", gomilter.OptNoHeloReply, true},
		{"no reply at MAIL FROM", gomilter.OptNoMailReply, true},
		{"no reply per header", gomilter.OptNoHeaderReply, true},
		{"no reply per body chunk", gomilter.OptNoBodyReply, true},
		{"RCPT is answered: recipients may be refused", gomilter.OptNoRcptReply, false},
		{"RCPT is seen", gomilter.OptNoRcptTo, false},
		{"headers are seen", gomilter.OptNoHeaders, false},
		{"body is seen", gomilter.OptNoBody, false},
		{"HELO is seen (TLS macros)", gomilter.OptNoHelo, false},
		{"connect is seen (client address)", gomilter.OptNoConnect, false},
	}
	for _, tt := range tests {
		if got := s.ProtocolOption(tt.opt); got != tt.want {
			t.Errorf("%s: negotiated = %v, want %v", tt.name, got, tt.want)
		}
	}
}
