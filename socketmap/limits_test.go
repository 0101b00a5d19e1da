package socketmap

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestServerConnectionCap: beyond MaxConnections a client waits in the
// listen queue; it is answered once a connection closes.
func TestServerConnectionCap(t *testing.T) {
	ts := startServer(t, testMaps(), Options{MaxConnections: 2})
	a, b := ts.dial(t), ts.dial(t)
	if got := a.query("tlspolicy partner.example"); got != "OK encrypt" {
		t.Fatalf("a: %q", got)
	}
	if got := b.query("tlspolicy partner.example"); got != "OK encrypt" {
		t.Fatalf("b: %q", got)
	}
	c := ts.dial(t)
	answered := make(chan string, 1)
	go func() { // no t.Fatal off the test goroutine: report the outcome
		if err := WriteNetstring(c.nc, []byte("tlspolicy partner.example")); err != nil {
			answered <- "write: " + err.Error()
			return
		}
		reply, err := ReadNetstring(c.r, maxReply)
		if err != nil {
			answered <- "read: " + err.Error()
			return
		}
		answered <- string(reply)
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case got := <-answered:
		t.Fatalf("a third connection was served beyond the cap of 2: %q", got)
	default:
	}
	if n := ts.srv.Connections(); n != 2 {
		t.Fatalf("%d connections served, want 2", n)
	}
	a.nc.Close()
	if got := <-answered; got != "OK encrypt" {
		t.Fatalf("third connection after a slot freed: %q", got)
	}
}

// errListener fails its first Accept calls with errors that are not
// "temporary", as EMFILE wrapped by some listeners or a closed-then-reopened
// socket may be.
type errListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *errListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, errors.New("accept4: too many open files")
	}
	return l.Listener.Accept()
}

// TestServerSurvivesAcceptErrors: no accept error ends Serve; only
// Shutdown (or a closed listener) does.
func TestServerSurvivesAcceptErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	el := &errListener{Listener: ln}
	el.fails.Store(4)
	ts := &testServer{srv: New(testMaps(), Options{}), addr: ln.Addr().String(), serveCh: make(chan error, 1)}
	go func() { ts.serveCh <- ts.srv.Serve(el) }()
	if got := ts.dial(t).query("tlspolicy partner.example"); got != "OK encrypt" {
		t.Fatalf("lookup after accept errors: %q", got)
	}
	select {
	case err := <-ts.serveCh:
		t.Fatalf("Serve returned %v after accept errors", err)
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-ts.serveCh; err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

// TestAnnouncedRequestHoldsOnlyWhatArrived: a client that announces a
// request of 99999 bytes and sends ten does not make the server allocate
// the whole request.
func TestAnnouncedRequestHoldsOnlyWhatArrived(t *testing.T) {
	in := append([]byte("99999:"), bytes.Repeat([]byte("x"), 10)...)
	r := bufio.NewReader(bytes.NewReader(in))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := ReadNetstring(r, 0); err != io.ErrUnexpectedEOF {
		t.Fatalf("err %v, want unexpected EOF", err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 32<<10 {
		t.Fatalf("a 10-byte start of an announced 99999-byte request allocated %d bytes", got)
	}
}
