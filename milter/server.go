// Package milter adapts github.com/emersion/go-milter to mailseal: it keeps
// connection facts and message state apart, spools bodies, hands one
// Transaction per message to a Handler and applies the Result as a diff.
package milter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	gomilter "github.com/emersion/go-milter"
)

// Handler decides what happens to one message. It must not panic; the
// server recovers anyway and tempfails the message.
type Handler interface {
	// Recipient may refuse one recipient at RCPT time; tx holds what is
	// known then (client, sender, AUTH). The zero Reply accepts it.
	Recipient(ctx context.Context, tx *Transaction, rcpt string) Reply
	Handle(ctx context.Context, tx *Transaction) Result
}

// Options tune the server; zero values get safe defaults.
type Options struct {
	ReadTimeout    time.Duration // idle time between Postfix commands
	WriteTimeout   time.Duration
	SpoolMemory    int64 // body bytes kept in memory before spilling to disk
	MaxMessageSize int64
	TempDir        string        // for spool files; "" = os.TempDir()
	HandleTimeout  time.Duration // bound on one Handle call
	// MaxConnections caps the connections served at once; more wait in the
	// listen queue (default 1024).
	MaxConnections int
	// MaxPendingBytes bounds the memory of packets not yet fully received,
	// over all connections (default 64 MiB); a connection that would exceed
	// it is closed.
	MaxPendingBytes int64
	Logger          *slog.Logger
	// Observe, when set, is called once per finished message (metrics).
	Observe func(res Result, elapsed time.Duration)
}

func (o *Options) setDefaults() {
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 10 * time.Minute
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = time.Minute
	}
	if o.SpoolMemory <= 0 {
		o.SpoolMemory = 4 << 20
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = 64 << 20
	}
	if o.HandleTimeout <= 0 {
		o.HandleTimeout = 4 * time.Minute
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 1024
	}
	if o.MaxPendingBytes <= 0 {
		o.MaxPendingBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// protocol is what we ask Postfix to leave out. We never act at DATA, at
// end of headers or on unknown SMTP commands (go-milter would even drop the
// connection on the last), and at connect, HELO, MAIL FROM, each header and
// each body chunk we only collect: our answer there is always "continue", so
// Postfix need not wait for it. Every round trip saved is CPU that Postfix
// and mailseal spend on mail instead. Handlers for the no-reply stages must
// return a nil Response; RCPT and end of message still get one.
const protocol = gomilter.OptNoData | gomilter.OptNoEOH | gomilter.OptNoUnknown |
	gomilter.OptNoConnReply | gomilter.OptNoHeloReply | gomilter.OptNoMailReply |
	gomilter.OptNoHeaderReply | gomilter.OptNoBodyReply

// Server serves the milter protocol on one or more listeners.
type Server struct {
	opts    Options
	handler Handler
	lib     *gomilter.Server
	slots   *connSlots
	budget  *byteBudget

	mu       sync.Mutex
	conns    map[*deadlineConn]*session
	pending  *session // made by Accept, claimed by the library's NewMilter
	inflight int
	closing  bool
}

// NewServer returns a server that hands messages to h.
func NewServer(h Handler, opts Options) *Server {
	opts.setDefaults()
	s := &Server{opts: opts, handler: h, conns: map[*deadlineConn]*session{},
		slots: newConnSlots(opts.MaxConnections), budget: &byteBudget{limit: opts.MaxPendingBytes}}
	s.lib = &gomilter.Server{
		NewMilter: s.claimSession,
		Actions: gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptChangeBody |
			gomilter.OptAddRcpt | gomilter.OptRemoveRcpt,
		Protocol: protocol,
	}
	return s
}

// Listen opens a milter socket; for unix sockets a stale file is replaced
// and the socket made writable for the postfix user.
func Listen(network, address string) (net.Listener, error) {
	if network == "unix" {
		if fi, err := os.Lstat(address); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(address)
		}
	}
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, fmt.Errorf("milter: listen on %s:%s: %w", network, address, err)
	}
	if network == "unix" {
		if err := os.Chmod(address, 0o666); err != nil {
			ln.Close()
			return nil, fmt.Errorf("milter: chmod %s: %w", address, err)
		}
	}
	return ln, nil
}

// Serve accepts milter connections until ln is closed or Shutdown is called.
func (s *Server) Serve(ln net.Listener) error {
	err := s.lib.Serve(&listener{Listener: ln, srv: s})
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing || errors.Is(err, gomilter.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections, lets messages in flight finish until
// ctx ends, then closes every connection. Postfix treats a message whose
// milter vanished with milter_default_action (tempfail), so nothing is lost.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	// The library's Close first: it sets a flag its Serve loop reads
	// unsynchronised when Accept fails; waking a waiting Accept after it
	// orders the two.
	_ = s.lib.Close()
	s.slots.close()

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		s.mu.Lock()
		n := s.inflight
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			err = fmt.Errorf("milter: %d message(s) still in flight at shutdown", n)
			break wait
		case <-tick.C:
		}
	}
	s.mu.Lock()
	conns := make([]*deadlineConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	return err
}

// Closing reports whether Shutdown has begun.
func (s *Server) Closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Connections returns the number of milter connections being served.
func (s *Server) Connections() int { return s.slots.inUse() }

// PendingBytes returns the memory held by packets not yet fully received.
func (s *Server) PendingBytes() int64 { return s.budget.used.Load() }

// InFlight returns the number of messages between MAIL FROM and their final reply.
func (s *Server) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight
}

func (s *Server) newSession() *session {
	sess := &session{srv: s}
	s.mu.Lock()
	s.pending = sess
	s.mu.Unlock()
	return sess
}

// claimSession is go-milter's NewMilter. The library calls it right after
// Accept in the same goroutine, so the session made there is the one for this
// connection. It calls it again only after a final reply, which this package
// never sends; a fresh session then merely lacks connection facts.
func (s *Server) claimSession() gomilter.Milter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess := s.pending; sess != nil {
		s.pending = nil
		return sess
	}
	s.opts.Logger.Warn("milter: handler rebuilt without connection facts")
	return &session{srv: s}
}

func (s *Server) track(c *deadlineConn, sess *session) {
	s.mu.Lock()
	s.conns[c] = sess
	s.mu.Unlock()
}

func (s *Server) forget(c *deadlineConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) messageStarted() {
	s.mu.Lock()
	s.inflight++
	s.mu.Unlock()
}

func (s *Server) messageDone() {
	s.mu.Lock()
	s.inflight--
	s.mu.Unlock()
}
