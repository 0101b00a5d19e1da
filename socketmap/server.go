// Package socketmap is a Postfix socketmap server (socketmap_table(5)).
//
// Postfix sends netstring requests "NAME KEY" and expects netstring replies
// "OK value", "NOTFOUND ", "TEMP reason", "TIMEOUT reason" or "PERM reason".
// It keeps one connection open for many lookups. mailseal serves the
// "tlspolicy" map for smtp_tls_policy_maps with it. If this server is down,
// every outbound delivery that consults the map is deferred, so lookup errors
// always become TEMP: Postfix defers rather than sending in plaintext.
package socketmap

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// Lookup answers one key of one map. ok=false means NOTFOUND; a non-nil error
// is answered with TEMP so that Postfix defers the delivery. The key has been
// lower-cased by the server. The value must not contain NUL, CR or LF.
type Lookup func(ctx context.Context, key string) (value string, ok bool, err error)

// Options tune a Server. Zero values select the defaults.
type Options struct {
	// ReadTimeout is the idle timeout per connection: how long to wait for
	// the next request (default 5 minutes).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one reply (default 30 seconds).
	WriteTimeout time.Duration
	// Logger receives errors and debug traces (default: discard).
	Logger *slog.Logger
	// MaxRequest is the largest request payload in bytes (default 100000,
	// like Postfix's socketmap limit).
	MaxRequest int
	// MaxConnections caps the connections served at once (default 1024).
	// Further connections wait in the listen queue until one closes, so
	// idle clients cannot use up the daemon's file descriptors.
	MaxConnections int
}

// Default option values.
const (
	DefaultReadTimeout  = 5 * time.Minute
	DefaultWriteTimeout = 30 * time.Second
	// DefaultMaxConnections is the connection cap when none is given.
	DefaultMaxConnections = 1024
	// maxReply is Postfix's default limit on a socketmap reply.
	maxReply = 100000
	// maxReason bounds the reason text of TEMP/PERM replies.
	maxReason = 200
)

// Server serves socketmap lookups. Create it with New.
type Server struct {
	maps         map[string]Lookup
	readTimeout  time.Duration
	writeTimeout time.Duration
	maxRequest   int
	log          *slog.Logger
	slots        chan struct{} // one per connection being served
	closed       chan struct{} // closed by Shutdown

	baseCtx context.Context
	cancel  context.CancelFunc

	mu        sync.Mutex
	shutdown  bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	wg        sync.WaitGroup // one per connection goroutine
}

type conn struct {
	nc   net.Conn
	idle bool // waiting for the next request; guarded by Server.mu
}

// New returns a Server answering the given maps (map name → lookup, for
// example "tlspolicy"). Map names are matched exactly; keys are lower-cased.
func New(maps map[string]Lookup, opts Options) *Server {
	s := &Server{
		maps:         make(map[string]Lookup, len(maps)),
		readTimeout:  opts.ReadTimeout,
		writeTimeout: opts.WriteTimeout,
		maxRequest:   opts.MaxRequest,
		log:          opts.Logger,
		listeners:    make(map[net.Listener]struct{}),
		conns:        make(map[*conn]struct{}),
	}
	for name, l := range maps {
		if l != nil {
			s.maps[name] = l
		}
	}
	if s.readTimeout <= 0 {
		s.readTimeout = DefaultReadTimeout
	}
	if s.writeTimeout <= 0 {
		s.writeTimeout = DefaultWriteTimeout
	}
	if s.maxRequest <= 0 {
		s.maxRequest = DefaultMaxRequest
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	n := opts.MaxConnections
	if n <= 0 {
		n = DefaultMaxConnections
	}
	s.slots, s.closed = make(chan struct{}, n), make(chan struct{})
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Serve accepts connections on ln until Shutdown is called or ln is closed,
// then returns nil. Accept errors (too many open files, a connection reset
// before it was taken) never end it: they are logged and retried with a
// growing pause. Serve may be called for several listeners. ln is closed
// when Serve returns.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()

	var backoff time.Duration
	for {
		// A slot first: beyond the cap, connections wait in the listen queue.
		select {
		case s.slots <- struct{}{}:
		case <-s.closed:
			return nil
		}
		nc, err := ln.Accept()
		if err != nil {
			<-s.slots
			if s.isShutdown() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("socketmap: accept error, retrying", "err", err, "delay", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.closed:
				t.Stop()
				return nil
			}
			continue
		}
		backoff = 0
		c := &conn{nc: nc}
		s.mu.Lock()
		if s.shutdown {
			s.mu.Unlock()
			nc.Close()
			<-s.slots
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// Connections returns the number of connections being served.
func (s *Server) Connections() int { return len(s.slots) }

// Shutdown stops accepting connections, closes idle connections and waits
// for in-flight lookups to be answered; their connections are then closed.
// If ctx ends first, lookups' contexts are cancelled, all connections are
// closed and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.shutdown {
		close(s.closed)
	}
	s.shutdown = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		if c.idle {
			c.nc.Close()
		}
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

func (s *Server) isShutdown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shutdown
}

// setIdle records the connection state; it reports false when the server is
// shutting down and the connection must be closed instead.
func (s *Server) setIdle(c *conn, idle bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.idle = idle
	return !s.shutdown
}

func (s *Server) serveConn(c *conn) {
	defer func() {
		c.nc.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		<-s.slots
		s.wg.Done()
	}()
	log := s.log.With("remote", c.nc.RemoteAddr().String())
	br := bufio.NewReader(c.nc)
	for {
		if !s.setIdle(c, true) {
			return
		}
		if err := c.nc.SetReadDeadline(time.Now().Add(s.readTimeout)); err != nil {
			return
		}
		// Wait for the first byte of the next request while idle, so that
		// Shutdown may close us, then read the rest as in-flight work.
		if _, err := br.Peek(1); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				log.Debug("socketmap: connection closed", "err", err)
			}
			return
		}
		if !s.setIdle(c, false) {
			return
		}
		req, err := ReadNetstring(br, s.maxRequest)
		if err != nil {
			if errors.Is(err, ErrSyntax) || errors.Is(err, ErrTooLong) {
				log.Warn("socketmap: bad request, closing connection", "err", err)
				s.reply(c, "PERM "+sanitize(err.Error()))
			} else {
				log.Debug("socketmap: read error", "err", err)
			}
			return
		}
		if err := s.reply(c, s.handle(log, req)); err != nil {
			log.Debug("socketmap: write error", "err", err)
			return
		}
	}
}

func (s *Server) reply(c *conn, msg string) error {
	if err := c.nc.SetWriteDeadline(time.Now().Add(s.writeTimeout)); err != nil {
		return err
	}
	return WriteNetstring(c.nc, []byte(msg))
}

// handle turns one request payload into one reply payload.
func (s *Server) handle(log *slog.Logger, req []byte) string {
	name, key, ok := strings.Cut(string(req), " ")
	if !ok {
		log.Warn("socketmap: request without key", "request", sanitize(string(req)))
		return "PERM malformed request: expected NAME KEY"
	}
	lookup := s.maps[name]
	if lookup == nil {
		log.Warn("socketmap: unknown map", "map", sanitize(name))
		return "PERM unknown map " + sanitize(name)
	}
	key = strings.ToLower(key)
	value, found, err := s.call(lookup, key)
	switch {
	case err != nil:
		log.Error("socketmap: lookup failed", "map", name, "key", key, "err", err)
		return "TEMP " + sanitize(err.Error())
	case !found:
		log.Debug("socketmap: not found", "map", name, "key", key)
		return "NOTFOUND "
	case strings.ContainsAny(value, "\x00\r\n"):
		log.Error("socketmap: lookup returned value with NUL/CR/LF", "map", name, "key", key, "value", value)
		return "TEMP invalid value for " + sanitize(key)
	case len(value)+3 > maxReply:
		log.Error("socketmap: lookup returned oversized value", "map", name, "key", key, "len", len(value))
		return "TEMP value too long"
	}
	log.Debug("socketmap: found", "map", name, "key", key, "value", value)
	return "OK " + value
}

// call runs lookup behind recover: a panic becomes an error.
func (s *Server) call(lookup Lookup, key string) (value string, ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("socketmap: lookup panicked", "key", key, "panic", r, "stack", string(debug.Stack()))
			value, ok, err = "", false, fmt.Errorf("internal error")
		}
	}()
	return lookup(s.baseCtx, key)
}

// sanitize makes text safe for a reply: control characters become spaces and
// the result is bounded to maxReason bytes.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxReason {
		s = strings.ToValidUTF8(s[:maxReason], "")
	}
	return s
}
