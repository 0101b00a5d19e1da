package sendmailtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"time"
)

// Send submits one message over SMTP to addr from the local address source
// (nil: the kernel's choice). data may have LF or CRLF line ends. Any
// refusal is an error; a refusal's error is a *textproto.Error carrying the
// reply code.
func Send(addr string, source net.IP, from string, to []string, data []byte) error {
	refused, err := Submit(addr, source, from, to, data)
	if err != nil {
		return err
	}
	for _, r := range to {
		if e := refused[r]; e != nil {
			return e
		}
	}
	return nil
}

// Submit is Send that goes on after a refused recipient, like a mail
// client: it returns each refused recipient's error and sends the data to
// the others. err is a failure of the transaction itself (or "no
// recipient accepted").
func Submit(addr string, source net.IP, from string, to []string, data []byte) (refused map[string]error, err error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if source != nil {
		d.LocalAddr = &net.TCPAddr{IP: source}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Minute))
	c, err := smtp.NewClient(conn, "mta.test")
	if err != nil {
		conn.Close()
		return nil, err
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return nil, err
	}
	if err := c.Mail(from); err != nil {
		return nil, err
	}
	refused = map[string]error{}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			refused[r] = err
		}
	}
	if len(refused) == len(to) {
		return refused, errors.New("no recipient accepted")
	}
	w, err := c.Data()
	if err != nil {
		return refused, err
	}
	// net/smtp's data writer turns LF into CRLF and dot-stuffs.
	if _, err := w.Write(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))); err != nil {
		return refused, err
	}
	if err := w.Close(); err != nil {
		return refused, fmt.Errorf("end of data: %w", err)
	}
	return refused, c.Quit()
}
