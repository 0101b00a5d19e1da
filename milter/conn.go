package milter

import (
	"net"
	"sync"
	"time"
)

// deadlineConn gives every read and write its own deadline: go-milter sets
// none, and a stuck Postfix peer must not pin a goroutine and a spool forever.
type deadlineConn struct {
	net.Conn
	readTimeout, writeTimeout time.Duration
	onClose                   func()
	beforeRead                func()
	closeOnce                 sync.Once
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if c.beforeRead != nil {
		c.beforeRead()
	}
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.readTimeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// SetReadDeadline and SetWriteDeadline are no-ops: our per-call deadlines win
// over the library resetting them to "none".
func (c *deadlineConn) SetReadDeadline(time.Time) error  { return nil }
func (c *deadlineConn) SetWriteDeadline(time.Time) error { return nil }

func (c *deadlineConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		if c.onClose != nil {
			c.onClose()
		}
	})
	return err
}

// listener wraps accepted connections and pairs each with its session, so a
// connection that drops mid-message still releases the message's spool.
type listener struct {
	net.Listener
	srv *Server
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sess := l.srv.newSession()
	dc := &deadlineConn{
		Conn:         c,
		readTimeout:  l.srv.opts.ReadTimeout,
		writeTimeout: l.srv.opts.WriteTimeout,
	}
	dc.beforeRead = sess.replyWritten
	dc.onClose = func() {
		sess.connClosed()
		l.srv.forget(dc)
	}
	l.srv.track(dc, sess)
	return dc, nil
}
