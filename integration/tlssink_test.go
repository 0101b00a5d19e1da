package integration

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/smtp"
	"strings"
	"sync"
	"testing"
	"time"
)

// sinkMessage is one message a sinkServer accepted.
type sinkMessage struct {
	Helo string
	From string
	To   []string
	Data []byte // CRLF line ends, dot-unstuffed, without the final "."
	TLS  bool   // the transaction ran inside STARTTLS
	// TLSVersion is the negotiated version (tls.VersionTLS13 …), 0 without TLS.
	TLSVersion uint16
}

// sinkServer is a minimal SMTP server for tests: EHLO/HELO, optional
// STARTTLS, MAIL, RCPT, DATA (dot-unstuffed), RSET, NOOP, QUIT. It accepts
// every sender and recipient and records each message. Every read and write
// has a deadline; Close (registered with t.Cleanup) stops the listener,
// closes open sessions and waits for them.
type sinkServer struct {
	Addr string
	name string
	tls  *tls.Config // nil: STARTTLS is not offered

	ln net.Listener
	wg sync.WaitGroup

	mu       sync.Mutex
	conns    map[net.Conn]bool
	msgs     []sinkMessage
	sessions int      // connections accepted
	commands []string // every command verb received, in order (for diagnostics)
	closed   bool
}

const (
	sinkIdleTimeout = 30 * time.Second
	sinkMaxLine     = 4096
	sinkMaxMessage  = 64 << 20
)

// startSink listens on addr (e.g. "127.0.0.7:25"). With tlsCfg non-nil the
// EHLO reply offers STARTTLS.
func startSink(t *testing.T, addr, name string, tlsCfg *tls.Config) *sinkServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("sink %s: %v", addr, err)
	}
	s := &sinkServer{Addr: ln.Addr().String(), name: name, tls: tlsCfg, ln: ln, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.Close)
	return s
}

func (s *sinkServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.sessions++
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.session(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// Close stops the sink and waits (bounded) for its sessions to end.
func (s *sinkServer) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// Messages returns a copy of the messages received so far.
func (s *sinkServer) Messages() []sinkMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkMessage(nil), s.msgs...)
}

// Sessions is the number of connections accepted so far.
func (s *sinkServer) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// Commands lists the command verbs received so far (all sessions).
func (s *sinkServer) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// WaitMessages polls until at least n messages arrived and returns them.
func (s *sinkServer) WaitMessages(t *testing.T, n int, timeout time.Duration, diag func() string) []sinkMessage {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		if time.Now().After(deadline) {
			extra := ""
			if diag != nil {
				extra = diag()
			}
			t.Fatalf("sink %s (%s): %d message(s) within %v, want %d; sessions %d, commands %v\n%s",
				s.name, s.Addr, len(s.Messages()), timeout, n, s.Sessions(), s.Commands(), extra)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type sinkConn struct {
	c net.Conn
	r *bufio.Reader
}

func (sc *sinkConn) reply(format string, args ...any) error {
	_ = sc.c.SetWriteDeadline(time.Now().Add(sinkIdleTimeout))
	_, err := fmt.Fprintf(sc.c, format+"\r\n", args...)
	return err
}

var errSinkLineTooLong = errors.New("line too long")

// readLine reads one CRLF (or LF) terminated line without its line end.
func (sc *sinkConn) readLine() (string, error) {
	_ = sc.c.SetReadDeadline(time.Now().Add(sinkIdleTimeout))
	var line []byte
	for {
		chunk, isPrefix, err := sc.r.ReadLine()
		if err != nil {
			return "", err
		}
		line = append(line, chunk...)
		if len(line) > sinkMaxMessage {
			return "", errSinkLineTooLong
		}
		if !isPrefix {
			return string(line), nil
		}
	}
}

func (s *sinkServer) session(c net.Conn) {
	sc := &sinkConn{c: c, r: bufio.NewReaderSize(c, sinkMaxLine)}
	var (
		inTLS   bool
		version uint16
		helo    string
		from    string
		rcpts   []string
		inMail  bool
	)
	reset := func() { from, rcpts, inMail = "", nil, false }
	if sc.reply("220 %s ESMTP test sink", s.name) != nil {
		return
	}
	for {
		line, err := sc.readLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		s.mu.Lock()
		s.commands = append(s.commands, verb)
		s.mu.Unlock()
		switch verb {
		case "EHLO":
			helo = arg
			reset()
			ext := []string{s.name, "PIPELINING", "SIZE 104857600", "8BITMIME", "ENHANCEDSTATUSCODES"}
			if s.tls != nil && !inTLS {
				ext = append(ext, "STARTTLS")
			}
			var b strings.Builder
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				fmt.Fprintf(&b, "250%s%s\r\n", sep, e)
			}
			_ = c.SetWriteDeadline(time.Now().Add(sinkIdleTimeout))
			if _, err := io.WriteString(c, b.String()); err != nil {
				return
			}
		case "HELO":
			helo = arg
			reset()
			err = sc.reply("250 %s", s.name)
		case "STARTTLS":
			if s.tls == nil || inTLS {
				err = sc.reply("502 5.5.1 STARTTLS not available")
				break
			}
			if err := sc.reply("220 2.0.0 Ready to start TLS"); err != nil {
				return
			}
			tc := tls.Server(c, s.tls)
			_ = c.SetDeadline(time.Now().Add(sinkIdleTimeout))
			if err := tc.Handshake(); err != nil {
				return
			}
			// RFC 3207: forget everything learnt before TLS.
			inTLS, version, helo = true, tc.ConnectionState().Version, ""
			reset()
			sc = &sinkConn{c: tc, r: bufio.NewReaderSize(tc, sinkMaxLine)}
			c = tc
		case "MAIL":
			if helo == "" {
				err = sc.reply("503 5.5.1 EHLO first")
				break
			}
			reset()
			from, inMail = sinkPath(arg, "FROM:"), true
			err = sc.reply("250 2.1.0 Ok")
		case "RCPT":
			if !inMail {
				err = sc.reply("503 5.5.1 MAIL first")
				break
			}
			rcpts = append(rcpts, sinkPath(arg, "TO:"))
			err = sc.reply("250 2.1.5 Ok")
		case "DATA":
			if len(rcpts) == 0 {
				err = sc.reply("503 5.5.1 RCPT first")
				break
			}
			if err := sc.reply("354 End data with <CR><LF>.<CR><LF>"); err != nil {
				return
			}
			var data bytes.Buffer
			for {
				l, err := sc.readLine()
				if err != nil {
					return
				}
				if l == "." {
					break
				}
				l = strings.TrimPrefix(l, ".") // dot-unstuffing
				if data.Len()+len(l) > sinkMaxMessage {
					_ = sc.reply("552 5.3.4 too big")
					return
				}
				data.WriteString(l)
				data.WriteString("\r\n")
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, sinkMessage{Helo: helo, From: from, To: rcpts, Data: data.Bytes(), TLS: inTLS, TLSVersion: version})
			n := len(s.msgs)
			s.mu.Unlock()
			reset()
			err = sc.reply("250 2.0.0 Ok: queued as SINK%d", n)
		case "RSET":
			reset()
			err = sc.reply("250 2.0.0 Ok")
		case "NOOP":
			err = sc.reply("250 2.0.0 Ok")
		case "QUIT":
			_ = sc.reply("221 2.0.0 Bye")
			return
		default:
			err = sc.reply("502 5.5.2 command not recognized")
		}
		if err != nil {
			return
		}
	}
}

// sinkPath extracts the address from "FROM:<a@b> PARAMS" / "TO:<a@b>".
func sinkPath(arg, prefix string) string {
	arg = strings.TrimSpace(arg)
	if len(arg) >= len(prefix) && strings.EqualFold(arg[:len(prefix)], prefix) {
		arg = strings.TrimSpace(arg[len(prefix):])
	}
	if strings.HasPrefix(arg, "<") {
		if end := strings.IndexByte(arg, '>'); end > 0 {
			return arg[1:end]
		}
	}
	addr, _, _ := strings.Cut(arg, " ")
	return addr
}

// selfSignedTLS makes a server tls.Config with a fresh self-signed ECDSA
// certificate for name and ip.
func selfSignedTLS(t *testing.T, name string, ip net.IP) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		IPAddresses:           []net.IP{ip},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
}

// The sink itself: STARTTLS state, envelope and dot-unstuffing.
func TestTLSSinkRecordsMessages(t *testing.T) {
	s := startSink(t, "127.0.0.1:0", "mx.sink.test", selfSignedTLS(t, "mx.sink.test", net.ParseIP("127.0.0.1")))
	send := func(useTLS bool, body string) {
		c, err := smtp.Dial(s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Hello("client.test"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := c.Extension("STARTTLS"); !ok {
			t.Fatal("STARTTLS not offered")
		}
		if useTLS {
			if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true, ServerName: "mx.sink.test"}); err != nil {
				t.Fatal(err)
			}
			if ok, _ := c.Extension("STARTTLS"); ok {
				t.Error("STARTTLS offered again inside TLS")
			}
		}
		if err := c.Mail("a@x.test"); err != nil {
			t.Fatal(err)
		}
		for _, r := range []string{"b@y.test", "c@y.test"} {
			if err := c.Rcpt(r); err != nil {
				t.Fatal(err)
			}
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, body)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Quit(); err != nil {
			t.Fatal(err)
		}
	}
	body := "Subject: x\r\n\r\n.leading dot\r\n..two\r\n.\r\nend\r\n"
	send(true, body)
	send(false, body)
	m := s.Messages()
	if len(m) != 2 || !m[0].TLS || m[0].TLSVersion == 0 || m[1].TLS {
		t.Fatalf("messages %+v", m)
	}
	for _, msg := range m {
		if string(msg.Data) != body || msg.From != "a@x.test" || strings.Join(msg.To, ",") != "b@y.test,c@y.test" || msg.Helo != "client.test" {
			t.Errorf("recorded %+v, data %q", msg, msg.Data)
		}
	}
}
