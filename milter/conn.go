package milter

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"time"
)

// readBuffer is the size of a connection's read buffer: big enough for a
// burst of no-reply commands (headers, a 10 KB body) in one system call.
const readBuffer = 16 << 10

// deadlineConn gives every read and write its own deadline: go-milter sets
// none, and a stuck Postfix peer must not pin a goroutine and a spool forever.
// It also buffers reads: go-milter reads each packet's length and data with
// two unbuffered reads, and with no-reply stages Postfix sends several
// packets back to back.
type deadlineConn struct {
	net.Conn
	in                        *bufio.Reader
	packets                   *packetReader // what go-milter reads: whole packets only
	tap                       *envelopeTap  // sees every byte go-milter will read
	readTimeout, writeTimeout time.Duration
	onClose                   func()
	beforeRead                func()
	closeOnce                 sync.Once
}

func newDeadlineConn(c net.Conn, readTimeout, writeTimeout time.Duration, budget *byteBudget) *deadlineConn {
	dc := &deadlineConn{Conn: c, readTimeout: readTimeout, writeTimeout: writeTimeout, tap: &envelopeTap{}}
	dc.in = bufio.NewReaderSize(socketReader{dc}, readBuffer)
	dc.packets = &packetReader{in: dc.in, budget: budget}
	return dc
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if c.beforeRead != nil {
		c.beforeRead()
	}
	return c.packets.Read(p)
}

// socketReader is the buffer's source: the deadline covers each wait for
// Postfix, not each packet already buffered.
type socketReader struct{ c *deadlineConn }

func (r socketReader) Read(p []byte) (int, error) {
	if err := r.c.Conn.SetReadDeadline(time.Now().Add(r.c.readTimeout)); err != nil {
		return 0, err
	}
	n, err := r.c.Conn.Read(p)
	r.c.tap.feed(p[:n])
	return n, err
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
	c.packets.releaseBudget()
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

// Accept waits for a free connection slot (milter.max_connections), then
// for a connection. An accept error (too many open files, a connection
// reset before it was taken) never ends serving: it is logged and retried
// with a growing pause, and only a closed listener stops the loop.
func (l *listener) Accept() (net.Conn, error) {
	if !l.srv.slots.acquire() {
		return nil, net.ErrClosed
	}
	var backoff time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			return l.wrap(c), nil
		}
		if errors.Is(err, net.ErrClosed) || l.srv.Closing() {
			l.srv.slots.release()
			return nil, err
		}
		backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
		l.srv.opts.Logger.Warn("milter: accept failed, retrying", "err", err, "delay", backoff)
		if !l.srv.slots.sleep(backoff) {
			l.srv.slots.release()
			return nil, net.ErrClosed
		}
	}
}

func (l *listener) wrap(c net.Conn) net.Conn {
	sess := l.srv.newSession()
	dc := newDeadlineConn(c, l.srv.opts.ReadTimeout, l.srv.opts.WriteTimeout, l.srv.budget)
	dc.beforeRead = sess.replyWritten
	sess.tap = dc.tap
	dc.onClose = func() {
		sess.connClosed()
		l.srv.forget(dc)
		l.srv.slots.release()
	}
	l.srv.track(dc, sess)
	return dc
}
