package sendmailtest

import (
	"bytes"
	"net"
	"net/smtp"
	"time"
)

// Send submits one message over SMTP to addr from the local address source
// (nil: the kernel's choice). data may have LF or CRLF line ends. The error
// of a refusal is a *textproto.Error carrying the reply code.
func Send(addr string, source net.IP, from string, to []string, data []byte) error {
	d := net.Dialer{Timeout: 10 * time.Second}
	if source != nil {
		d.LocalAddr = &net.TCPAddr{IP: source}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Minute))
	c, err := smtp.NewClient(conn, "mta.test")
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return err
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	// net/smtp's data writer turns LF into CRLF and dot-stuffs.
	if _, err := w.Write(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
