package sendmailtest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// Sink is a minimal SMTP server that keeps every message it is given, per
// recipient: the far end of a test MTA. It offers 8BITMIME and PIPELINING,
// no STARTTLS (so the MTA sends in clear) and accepts everything.
type Sink struct {
	Addr string

	ln   net.Listener
	mu   sync.Mutex
	msgs map[string][][]byte
	wg   sync.WaitGroup
}

// StartSink listens on a free loopback port; t.Cleanup closes it.
func StartSink(t testing.TB) *Sink {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", postfixtest.FreePort(t)))
	if err != nil {
		t.Fatalf("sendmailtest: sink: %v", err)
	}
	s := &Sink{Addr: ln.Addr().String(), ln: ln, msgs: map[string][][]byte{}}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *Sink) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.session(c)
		}()
	}
}

func (s *Sink) session(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	reply := func(line string) { w.WriteString(line + "\r\n"); w.Flush() }
	reply("220 sink.test ESMTP test sink")
	var rcpts []string
	for {
		_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			reply("250-sink.test\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 SIZE 0")
		case strings.HasPrefix(cmd, "HELO"):
			reply("250 sink.test")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			rcpts = nil
			reply("250 2.1.0 Ok")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			addr := strings.TrimSpace(line[len("RCPT TO:"):])
			if j := strings.IndexByte(addr, '>'); j >= 0 {
				addr = addr[:j]
			}
			rcpts = append(rcpts, strings.ToLower(strings.Trim(addr, "< ")))
			reply("250 2.1.5 Ok")
		case cmd == "DATA":
			reply("354 End data with <CR><LF>.<CR><LF>")
			var msg bytes.Buffer
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
				if strings.HasPrefix(l, ".") {
					l = l[1:] // dot-stuffing
				}
				msg.WriteString(l)
			}
			s.mu.Lock()
			for _, rc := range rcpts {
				s.msgs[rc] = append(s.msgs[rc], bytes.Clone(msg.Bytes()))
			}
			s.mu.Unlock()
			reply("250 2.0.0 Ok: queued")
		case cmd == "RSET":
			rcpts = nil
			reply("250 2.0.0 Ok")
		case cmd == "NOOP":
			reply("250 2.0.0 Ok")
		case cmd == "QUIT":
			reply("221 2.0.0 Bye")
			return
		default:
			reply("502 5.5.2 Error: command not recognized")
		}
	}
}

// Messages returns what rcpt got so far, oldest first, as sent on the wire
// (CRLF, dot-stuffing removed).
func (s *Sink) Messages(rcpt string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.msgs[strings.ToLower(rcpt)]...)
}

// Recipients returns every recipient that got at least one message, with
// the count.
func (s *Sink) Recipients() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for r, m := range s.msgs {
		out[r] = len(m)
	}
	return out
}

// Wait polls until rcpt got at least n messages and returns them.
func (s *Sink) Wait(t testing.TB, rcpt string, n int, timeout time.Duration) [][]byte {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := s.Messages(rcpt); len(m) >= n {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("sendmailtest: %s got %d message(s) within %v, want %d; sink has %v", rcpt, len(s.Messages(rcpt)), timeout, n, s.Recipients())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
