package socketmap

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// testMaps is the map set used by most server tests.
func testMaps() map[string]Lookup {
	return map[string]Lookup{
		"tlspolicy": func(ctx context.Context, key string) (string, bool, error) {
			switch key {
			case "partner.example", ".example":
				return "encrypt", true, nil
			case "broken.example":
				return "", false, errors.New("database down\r\nsecret")
			case "panic.example":
				panic("boom")
			case "crlf.example":
				return "encrypt\r\nOK injected", true, nil
			case "nul.example":
				return "encr\x00ypt", true, nil
			case "empty.example":
				return "", true, nil
			}
			if strings.HasPrefix(key, "echo:") {
				return key, true, nil
			}
			return "", false, nil
		},
	}
}

type testServer struct {
	srv     *Server
	addr    string
	serveCh chan error
}

func startServer(t *testing.T, maps map[string]Lookup, opts Options) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{srv: New(maps, opts), addr: ln.Addr().String(), serveCh: make(chan error, 1)}
	go func() { ts.serveCh <- ts.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ts.srv.Shutdown(ctx)
	})
	return ts
}

type client struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func (ts *testServer) dial(t *testing.T) *client {
	t.Helper()
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: t, nc: nc, r: bufio.NewReader(nc)}
}

// query sends one request and returns the reply payload.
func (c *client) query(req string) string {
	c.t.Helper()
	if err := WriteNetstring(c.nc, []byte(req)); err != nil {
		c.t.Fatalf("write %q: %v", req, err)
	}
	reply, err := ReadNetstring(c.r, maxReply)
	if err != nil {
		c.t.Fatalf("read reply to %q: %v", req, err)
	}
	return string(reply)
}

// expectClosed asserts that the server closes the connection, after at most
// one (PERM) reply.
func (c *client) expectClosed() {
	c.t.Helper()
	for i := 0; ; i++ {
		reply, err := ReadNetstring(c.r, maxReply)
		if err == nil {
			if i > 0 || !strings.HasPrefix(string(reply), "PERM ") {
				c.t.Fatalf("unexpected reply %q before close", reply)
			}
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
			strings.Contains(err.Error(), "connection reset") {
			return
		}
		c.t.Fatalf("expected connection close, got %v", err)
	}
}

func TestServerLookupsOneConnection(t *testing.T) {
	ts := startServer(t, testMaps(), Options{})
	c := ts.dial(t)
	cases := []struct{ name, req, want string }{
		{"found", "tlspolicy partner.example", "OK encrypt"},
		{"not found", "tlspolicy other.example", "NOTFOUND "},
		{"parent domain", "tlspolicy .example", "OK encrypt"},
		{"mixed case key lower-cased", "tlspolicy PaRtNeR.Example", "OK encrypt"},
		{"key with spaces kept", "tlspolicy echo:A B", "OK echo:a b"},
		{"bracketed next hop", "tlspolicy echo:[MX.Partner.example]:25", "OK echo:[mx.partner.example]:25"},
		{"lookup error is TEMP, sanitised", "tlspolicy broken.example", "TEMP database down  secret"},
		{"panic is TEMP", "tlspolicy panic.example", "TEMP internal error"},
		{"still works after panic", "tlspolicy partner.example", "OK encrypt"},
		{"CRLF in value is TEMP", "tlspolicy crlf.example", "TEMP invalid value for crlf.example"},
		{"NUL in value is TEMP", "tlspolicy nul.example", "TEMP invalid value for nul.example"},
		{"empty value", "tlspolicy empty.example", "OK "},
		{"unknown map", "nosuchmap partner.example", "PERM unknown map nosuchmap"},
		{"map names are case-sensitive", "TLSPOLICY partner.example", "PERM unknown map TLSPOLICY"},
		{"no key", "tlspolicy", "PERM malformed request: expected NAME KEY"},
		{"empty request", "", "PERM malformed request: expected NAME KEY"},
		{"empty key", "tlspolicy ", "NOTFOUND "},
		{"works at the end", "tlspolicy partner.example", "OK encrypt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			if got := c.query(tc.req); got != tc.want {
				t.Fatalf("query %q = %q, want %q", tc.req, got, tc.want)
			}
		})
	}
}

func TestServerPipelinedRequests(t *testing.T) {
	ts := startServer(t, testMaps(), Options{})
	c := ts.dial(t)
	var batch strings.Builder
	for i := range 50 {
		WriteNetstring(&batch, fmt.Appendf(nil, "tlspolicy echo:%d", i))
	}
	if _, err := io.WriteString(c.nc, batch.String()); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		reply, err := ReadNetstring(c.r, 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("OK echo:%d", i); string(reply) != want {
			t.Fatalf("reply %d = %q, want %q", i, reply, want)
		}
	}
}

func TestServerConcurrentConnections(t *testing.T) {
	ts := startServer(t, testMaps(), Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := range 10 {
		wg.Go(func() {
			nc, err := net.Dial("tcp", ts.addr)
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			r := bufio.NewReader(nc)
			for j := range 20 {
				want := fmt.Sprintf("OK echo:%d-%d", i, j)
				WriteNetstring(nc, fmt.Appendf(nil, "tlspolicy ECHO:%d-%d", i, j))
				got, err := ReadNetstring(r, 0)
				if err != nil || string(got) != want {
					errs <- fmt.Errorf("got %q, %v; want %q", got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestServerMalformedRequestClosesConnection(t *testing.T) {
	cases := []struct{ name, raw string }{
		{"non-digit length", "abc:tlspolicy x,"},
		{"missing comma", "11:tlspolicy x;"},
		{"leading zero", "011:tlspolicy x,"},
		{"empty length", ":tlspolicy x,"},
		{"exceeds MaxRequest", "64:tlspolicy " + strings.Repeat("a", 54) + ","},
		{"huge length prefix", "99999999999999999999:x,"},
		{"truncated then EOF", "30:tlspolicy x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, testMaps(), Options{MaxRequest: 32})
			c := ts.dial(t)
			if got := c.query("tlspolicy partner.example"); got != "OK encrypt" {
				t.Fatalf("first query = %q", got)
			}
			if _, err := io.WriteString(c.nc, tc.raw); err != nil {
				t.Fatal(err)
			}
			if tc.name == "truncated then EOF" {
				c.nc.(*net.TCPConn).CloseWrite()
			}
			c.expectClosed()
			// The server keeps serving other connections.
			if got := ts.dial(t).query("tlspolicy partner.example"); got != "OK encrypt" {
				t.Fatalf("query on new connection = %q", got)
			}
		})
	}
}

func TestServerIdleTimeout(t *testing.T) {
	ts := startServer(t, testMaps(), Options{ReadTimeout: 100 * time.Millisecond})
	c := ts.dial(t)
	if got := c.query("tlspolicy partner.example"); got != "OK encrypt" {
		t.Fatalf("query = %q", got)
	}
	start := time.Now()
	c.expectClosed()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("idle connection closed after %v", d)
	}
}

func TestServerShutdown(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	maps := testMaps()
	maps["slow"] = func(ctx context.Context, key string) (string, bool, error) {
		close(entered)
		<-release
		return "done", true, nil
	}
	ts := startServer(t, maps, Options{})

	idle := ts.dial(t)
	if got := idle.query("tlspolicy partner.example"); got != "OK encrypt" {
		t.Fatalf("query = %q", got)
	}
	busy := ts.dial(t)
	WriteNetstring(busy.nc, []byte("slow key"))
	<-entered

	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- ts.srv.Shutdown(context.Background()) }()

	// Idle connections are closed promptly, and Serve returns nil.
	idle.expectClosed()
	select {
	case err := <-ts.serveCh:
		if err != nil {
			t.Fatalf("Serve returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
	// No new connections are accepted.
	if nc, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		nc.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := nc.Read(make([]byte, 1)); err == nil {
			t.Fatal("new connection served after Shutdown")
		}
		nc.Close()
	}
	// Shutdown waits for the in-flight lookup.
	select {
	case err := <-shutdownErr:
		t.Fatalf("Shutdown returned %v before in-flight lookup finished", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	reply, err := ReadNetstring(busy.r, 0)
	if err != nil || string(reply) != "OK done" {
		t.Fatalf("in-flight reply = %q, %v", reply, err)
	}
	busy.expectClosed()
	select {
	case err := <-shutdownErr:
		if err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	// Serve after Shutdown returns nil at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.Serve(ln); err != nil {
		t.Fatalf("Serve after Shutdown = %v", err)
	}
}

func TestServerShutdownContextExpires(t *testing.T) {
	entered := make(chan struct{})
	cancelled := make(chan struct{})
	maps := map[string]Lookup{
		"stuck": func(ctx context.Context, key string) (string, bool, error) {
			close(entered)
			<-ctx.Done()
			close(cancelled)
			return "", false, ctx.Err()
		},
	}
	ts := startServer(t, maps, Options{})
	c := ts.dial(t)
	WriteNetstring(c.nc, []byte("stuck key"))
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("lookup context not cancelled by forced shutdown")
	}
	c.expectClosed()
}
