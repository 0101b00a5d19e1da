package milter

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gomilter "github.com/emersion/go-milter"
)

// announce opens a raw connection and sends the length of a packet of size
// bytes, then the first len(data) bytes of it.
func announce(t *testing.T, addr string, size int, data []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(size))
	if _, err := c.Write(append(hdr[:], data...)); err != nil {
		t.Fatal(err)
	}
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestAnnouncedPacketsHoldNoMemory: idle connections that announced a
// 1 MiB packet and sent a few bytes of it must not make the server allocate
// the whole packet for each (go-milter does at the length field: 200 such
// connections held over 200 MB).
func TestAnnouncedPacketsHoldNoMemory(t *testing.T) {
	srv, addr := startServer(t, &recordingHandler{}, Options{Logger: discardLogger()})
	before := heapInUse()
	const conns = 200
	for i := 0; i < conns; i++ {
		announce(t, addr, 1<<20, []byte("Oxxxxxxxxx"))
	}
	// Each connection has been read: its 10 bytes sit in a buffer of the
	// first growth step.
	waitFor(t, "every connection to be read", func() bool { return srv.PendingBytes() == conns*readBuffer })
	grown := int64(heapInUse()) - int64(before)
	if grown > 32<<20 {
		t.Fatalf("%d idle connections with announced 1 MiB packets hold %d MB", conns, grown>>20)
	}
}

// TestPendingBudgetClosesGreedyConnection: the bytes of partly received
// packets are bounded over all connections; the connection that would go
// beyond is closed, the others go on, and the budget comes back.
func TestPendingBudgetClosesGreedyConnection(t *testing.T) {
	srv, addr := startServer(t, &recordingHandler{}, Options{MaxPendingBytes: 3 * readBuffer, Logger: discardLogger()})
	part := make([]byte, readBuffer+100) // needs two growth steps: 2 × readBuffer
	a := announce(t, addr, 1<<20, part)
	waitFor(t, "the first connection to be buffered", func() bool { return srv.PendingBytes() == 2*readBuffer })
	b := announce(t, addr, 1<<20, part)
	_ = b.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := b.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("connection beyond the budget: read %v, want EOF (closed)", err)
	}
	if got := srv.PendingBytes(); got != 2*readBuffer {
		t.Fatalf("pending %d bytes after the greedy connection closed, want %d", got, 2*readBuffer)
	}
	a.Close()
	waitFor(t, "the budget to come back", func() bool { return srv.PendingBytes() == 0 })
	// An ordinary session still works, with a body chunk larger than the
	// read buffer.
	s := newClientSession(t, addr)
	if _, act := sendMessage(t, s, "<a@corp.example>", []string{"<b@x.example>"}, [][2]string{{"From", "a@corp.example"}}, []byte(strings.Repeat("body line\r\n", 2500))); act.Code != gomilter.ActContinue {
		t.Fatalf("ordinary message: %+v", act)
	}
}

// TestOversizedPacketIsRefused: a length beyond 1 MiB closes the
// connection before anything is allocated.
func TestOversizedPacketIsRefused(t *testing.T) {
	srv, addr := startServer(t, &recordingHandler{}, Options{Logger: discardLogger()})
	c := announce(t, addr, 1<<30, nil)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read %v, want EOF", err)
	}
	if srv.PendingBytes() != 0 {
		t.Fatalf("pending %d bytes", srv.PendingBytes())
	}
}

// TestConnectionCap: beyond milter.max_connections a connection waits in
// the listen queue and is served once a slot frees.
func TestConnectionCap(t *testing.T) {
	srv, addr := startServer(t, &recordingHandler{}, Options{MaxConnections: 2, Logger: discardLogger()})
	first := newClientSession(t, addr)
	newClientSession(t, addr)
	third := make(chan error, 1)
	go func() {
		c := gomilter.NewClientWithOptions("tcp", addr, gomilter.ClientOptions{ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
		s, err := c.Session()
		if err == nil {
			s.Close()
		}
		third <- err
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-third:
		t.Fatalf("a third connection was served beyond the cap of 2 (err %v)", err)
	default:
	}
	if n := srv.Connections(); n != 2 {
		t.Fatalf("%d connections served, want 2", n)
	}
	first.Close()
	if err := <-third; err != nil {
		t.Fatalf("third connection after a slot freed: %v", err)
	}
}

// failingListener fails the first Accept calls like a process out of file
// descriptors does.
type failingListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestAcceptErrorsDoNotStopServing: "accept4: too many open files" used to
// end Serve and with it the daemon.
func TestAcceptErrorsDoNotStopServing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &failingListener{Listener: ln}
	fl.fails.Store(4)
	var logs syncBuffer
	srv := NewServer(&recordingHandler{}, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(fl) }()
	s := newClientSession(t, ln.Addr().String())
	if _, act := sendMessage(t, s, "<a@corp.example>", []string{"<b@x.example>"}, nil, []byte("x\r\n")); act.Code != gomilter.ActContinue {
		t.Fatalf("message after accept errors: %+v", act)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v after accept errors", err)
	default:
	}
	if !strings.Contains(logs.String(), "too many open files") {
		t.Errorf("accept errors not logged:\n%s", logs.String())
	}
	ctx, cancel := contextWithTimeout(5 * time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	if err := <-served; err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
