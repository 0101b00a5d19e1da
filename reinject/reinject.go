// Package reinject hands processed copies of a message back to Postfix on a
// listener without milters, so each recipient group gets its own copy.
package reinject

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"net/textproto"
	"regexp"
	"strings"
	"time"
)

// Client submits messages to one SMTP listener.
type Client struct {
	Addr    string // host:port of Postfix's no-milter smtpd
	Helo    string // EHLO name; default "localhost"
	Timeout time.Duration
	// Logger, when set, is told the queue ID Postfix gave each copy, so a
	// copy can be followed in Postfix's log.
	Logger *slog.Logger
}

// Error is a refusal by the server; Temporary reports a 4xx reply.
type Error struct {
	Stage string
	Code  int
	Msg   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("reinject: %s: %d %s", e.Stage, e.Code, e.Msg)
}

// Temporary reports whether retrying later may succeed.
func (e *Error) Temporary() bool { return e.Code < 500 }

// Envelope is one copy's SMTP envelope. Params are the ESMTP parameters the
// original transaction carried; Send passes on those that describe the
// message or its delivery reports (see forwarded), nothing else.
type Envelope struct {
	From       string
	FromParams []string
	Rcpts      []Recipient
}

// Recipient is one envelope recipient with its ESMTP parameters.
type Recipient struct {
	Addr   string
	Params []string
}

// Recipients makes an envelope recipient list without parameters.
func Recipients(addrs ...string) []Recipient {
	out := make([]Recipient, len(addrs))
	for i, a := range addrs {
		out[i] = Recipient{Addr: a}
	}
	return out
}

// Send delivers msg like SendQueued and logs the copy's queue ID.
func (c *Client) Send(ctx context.Context, env Envelope, msg []byte) error {
	id, err := c.SendQueued(ctx, env, msg)
	if err == nil && c.Logger != nil {
		c.Logger.Info("reinject: copy queued", "copy_queue_id", id, "from", env.From, "rcpts", addrs(env.Rcpts))
	}
	return err
}

// SendQueued delivers msg (CRLF or LF line ends) in one transaction and
// returns the queue ID from the server's reply to the data ("" when the
// reply names none). It succeeds only when the server accepted all
// recipients and the data: a copy is never delivered to part of its group.
func (c *Client) SendQueued(ctx context.Context, env Envelope, msg []byte) (queueID string, err error) {
	if len(env.Rcpts) == 0 {
		return "", errors.New("reinject: no recipients")
	}
	for _, a := range append([]string{env.From}, addrs(env.Rcpts)...) {
		if strings.ContainsAny(a, "<>\r\n") {
			return "", fmt.Errorf("reinject: invalid address %q", a)
		}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	d := net.Dialer{Timeout: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return "", fmt.Errorf("reinject: connect to %s: %w", c.Addr, err)
	}
	deadline := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	host, _, _ := net.SplitHostPort(c.Addr)
	sc, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return "", wrap("greeting", err)
	}
	defer sc.Close()
	helo := c.Helo
	if helo == "" {
		helo = "localhost"
	}
	if err := sc.Hello(helo); err != nil {
		return "", wrap("EHLO", err)
	}
	// net/smtp's Mail and Rcpt take no parameters (and Mail would claim
	// SMTPUTF8 for every message), so the envelope commands are ours.
	mail := "MAIL FROM:<" + env.From + ">"
	if ok, _ := sc.Extension("8BITMIME"); ok {
		mail += " BODY=8BITMIME"
	}
	for _, p := range forwarded(sc, env.FromParams, mailParams) {
		mail += " " + p
	}
	if err := command(sc, 250, mail); err != nil {
		return "", wrap("MAIL FROM", err)
	}
	for _, r := range env.Rcpts {
		rcpt := "RCPT TO:<" + r.Addr + ">"
		for _, p := range forwarded(sc, r.Params, rcptParams) {
			rcpt += " " + p
		}
		if err := command(sc, 25, rcpt); err != nil {
			return "", wrap("RCPT TO <"+r.Addr+">", err)
		}
	}
	// net/smtp's Data discards the reply to the data, which names the queue ID.
	if err := command(sc, 354, "DATA"); err != nil {
		return "", wrap("DATA", err)
	}
	w := sc.Text.DotWriter()
	if _, err := w.Write(toCRLF(msg)); err != nil {
		return "", wrap("DATA", err)
	}
	if err := w.Close(); err != nil {
		return "", wrap("end of DATA", err)
	}
	_, reply, err := sc.Text.ReadResponse(250)
	if err != nil {
		return "", wrap("end of DATA", err)
	}
	// Postfix has the copy now. Say QUIT without waiting for its answer:
	// the caller records the copy next, and every round trip before that
	// widens the window in which a crash makes the retry send it twice.
	_, _ = sc.Text.Cmd("QUIT")
	return queueIDFrom(reply), nil
}

// queuedAs matches Postfix's "2.0.0 Ok: queued as 4Xk9f2...".
var queuedAs = regexp.MustCompile(`queued as ([0-9A-Za-z]+)`)

func queueIDFrom(reply string) string {
	if m := queuedAs.FindStringSubmatch(reply); m != nil {
		return m[1]
	}
	return ""
}

// mailParams and rcptParams are the ESMTP parameters a copy keeps, each
// with the extension the server must offer for it: delivery status
// notification requests (RFC 3461) and the SMTPUTF8 flag (RFC 6531). SIZE
// and BODY describe the original, not the copy, and AUTH belongs to the
// original client.
var (
	mailParams = map[string]string{"RET": "DSN", "ENVID": "DSN", "SMTPUTF8": "SMTPUTF8"}
	rcptParams = map[string]string{"NOTIFY": "DSN", "ORCPT": "DSN"}
)

// forwarded keeps the parameters named in allowed whose extension the
// server offers and which are well formed: printable ASCII without spaces
// (xtext, RFC 3461 4), so nothing can be smuggled into the command line.
func forwarded(sc *smtp.Client, params []string, allowed map[string]string) []string {
	return keep(params, allowed, func(ext string) bool {
		ok, _ := sc.Extension(ext)
		return ok
	})
}

func keep(params []string, allowed map[string]string, offered func(ext string) bool) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range params {
		kw, _, _ := strings.Cut(p, "=")
		kw = strings.ToUpper(kw)
		ext, ok := allowed[kw]
		if !ok || seen[kw] || !printable(p) {
			continue
		}
		if !offered(ext) {
			continue
		}
		seen[kw] = true
		out = append(out, p)
	}
	return out
}

func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// command sends one line and reads the reply; expect is the wanted code or
// its first digits (25 accepts 250 and 251).
func command(sc *smtp.Client, expect int, line string) error {
	id, err := sc.Text.Cmd("%s", line)
	if err != nil {
		return err
	}
	sc.Text.StartResponse(id)
	defer sc.Text.EndResponse(id)
	_, _, err = sc.Text.ReadResponse(expect)
	return err
}

func addrs(rs []Recipient) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Addr
	}
	return out
}

func wrap(stage string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		return &Error{Stage: stage, Code: te.Code, Msg: te.Msg}
	}
	return fmt.Errorf("reinject: %s: %w", stage, err)
}

// toCRLF turns bare LF into CRLF; net/smtp's data writer dot-stuffs.
func toCRLF(b []byte) []byte {
	if !bytes.Contains(b, []byte("\n")) {
		return b
	}
	var out bytes.Buffer
	out.Grow(len(b) + len(b)/40)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out.WriteByte('\r')
		}
		out.WriteByte(c)
	}
	return out.Bytes()
}
