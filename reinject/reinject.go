// Package reinject hands processed copies of a message back to Postfix on a
// listener without milters, so each recipient group gets its own copy.
package reinject

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"time"
)

// Client submits messages to one SMTP listener.
type Client struct {
	Addr    string // host:port of Postfix's no-milter smtpd
	Helo    string // EHLO name; default "localhost"
	Timeout time.Duration
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

// Send delivers msg (CRLF or LF line ends) from sender to every recipient in
// one transaction. It succeeds only when the server accepted all recipients
// and the data: a copy is never delivered to part of its group.
func (c *Client) Send(ctx context.Context, from string, rcpts []string, msg []byte) (err error) {
	if len(rcpts) == 0 {
		return errors.New("reinject: no recipients")
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	d := net.Dialer{Timeout: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("reinject: connect to %s: %w", c.Addr, err)
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
		return wrap("greeting", err)
	}
	defer sc.Close()
	helo := c.Helo
	if helo == "" {
		helo = "localhost"
	}
	if err := sc.Hello(helo); err != nil {
		return wrap("EHLO", err)
	}
	// net/smtp adds BODY=8BITMIME when the server offers it.
	if err := sc.Mail(from); err != nil {
		return wrap("MAIL FROM", err)
	}
	for _, r := range rcpts {
		if err := sc.Rcpt(r); err != nil {
			return wrap("RCPT TO <"+r+">", err)
		}
	}
	w, err := sc.Data()
	if err != nil {
		return wrap("DATA", err)
	}
	if _, err := w.Write(toCRLF(msg)); err != nil {
		return wrap("DATA", err)
	}
	if err := w.Close(); err != nil {
		return wrap("end of DATA", err)
	}
	_ = sc.Quit()
	return nil
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
