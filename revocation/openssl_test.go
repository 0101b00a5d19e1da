package revocation

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// freePort returns a loopback TCP port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// indexEntry is one line of an `openssl ca` index file, which `openssl
// ocsp -index` answers from.
type indexEntry struct {
	cert      *x509.Certificate
	revokedAt time.Time // zero: valid
	reason    string    // e.g. keyCompromise
}

func opensslSerial(c *x509.Certificate) string {
	s := fmt.Sprintf("%X", c.SerialNumber)
	if len(s)%2 == 1 {
		s = "0" + s
	}
	return s
}

// opensslOCSP is a real `openssl ocsp` responder on a loopback port.
type opensslOCSP struct {
	url  string
	cmd  *exec.Cmd
	out  *syncBuffer
	once sync.Once
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startOpenSSLOCSP runs `openssl ocsp` in server mode on port, answering
// from entries, signing with rsigner/rkey (the CA itself or a delegated
// responder), nextUpdate nmin minutes ahead.
func startOpenSSLOCSP(t *testing.T, p *testPKI, port int, entries []indexEntry, rsigner *x509.Certificate, rkey crypto.Signer, nmin int, extra ...string) *opensslOCSP {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed: the OCSP responder under test is `openssl ocsp`")
	}
	dir := t.TempDir()
	var idx strings.Builder
	for _, e := range entries {
		exp := e.cert.NotAfter.UTC().Format("060102150405Z")
		if e.revokedAt.IsZero() {
			fmt.Fprintf(&idx, "V\t%s\t\t%s\tunknown\t/CN=%s\n", exp, opensslSerial(e.cert), e.cert.Subject.CommonName)
		} else {
			rev := e.revokedAt.UTC().Format("060102150405Z")
			if e.reason != "" {
				rev += "," + e.reason
			}
			fmt.Fprintf(&idx, "R\t%s\t%s\t%s\tunknown\t/CN=%s\n", exp, rev, opensslSerial(e.cert), e.cert.Subject.CommonName)
		}
	}
	index := filepath.Join(dir, "index.txt")
	if err := os.WriteFile(index, []byte(idx.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"ocsp", "-index", index, "-port", fmt.Sprint(port),
		"-CA", p.writePEM("ca.pem", p.ca),
		"-rsigner", p.writePEM(fmt.Sprintf("rsigner-%d.pem", port), rsigner),
		"-rkey", p.writePEM(fmt.Sprintf("rkey-%d.pem", port), rkey),
		"-nmin", fmt.Sprint(nmin), "-ignore_err"}
	args = append(args, extra...)
	o := &opensslOCSP{url: fmt.Sprintf("http://127.0.0.1:%d/", port), out: &syncBuffer{}}
	o.cmd = exec.Command("openssl", args...)
	o.cmd.Stdout, o.cmd.Stderr = o.out, o.out
	if err := o.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		o.stop()
		if t.Failed() {
			t.Logf("openssl ocsp output:\n%s", o.out.String())
		}
	})
	// Wait for its "waiting for connections" line: a probe connection
	// that closes without a request makes OpenSSL 3.0's responder hang.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(o.out.String(), "waiting for OCSP client connections") {
		if time.Now().After(deadline) {
			t.Fatalf("openssl ocsp did not start on port %d: %s", port, o.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return o
}

func (o *opensslOCSP) stop() {
	o.once.Do(func() {
		_ = o.cmd.Process.Kill()
		_ = o.cmd.Wait()
	})
}

// A real OCSP responder with a delegated responder certificate answers
// good, revoked (with time and reason) and unknown; a second check comes
// from the cache without asking the responder (which is gone by then).
func TestOCSPAgainstOpenSSLResponder(t *testing.T) {
	p := newTestPKI(t, "Partner CA")
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	good := p.leaf("good@partner.example", []string{url}, nil, nil)
	revoked := p.leaf("revoked@partner.example", []string{url}, nil, nil)
	stranger := p.leaf("stranger@partner.example", []string{url}, nil, nil)
	revokedAt := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
	rcert, rkey := p.responder(true)
	srv := startOpenSSLOCSP(t, p, port, []indexEntry{{cert: good}, {cert: revoked, revokedAt: revokedAt, reason: "keyCompromise"}}, rcert, rkey, 60)

	c := NewChecker(Options{Timeout: 20 * time.Second})
	ctx := context.Background()
	st := c.Check(ctx, good, p.ca)
	if st.State != Good || st.Source != "ocsp" || st.URL != url || st.Cached || st.Problem != "" {
		t.Fatalf("good: %+v", st)
	}
	if d := time.Since(st.CheckedAt); d < -time.Minute || d > time.Hour {
		t.Errorf("good: CheckedAt %s", st.CheckedAt)
	}
	st = c.Check(ctx, revoked, p.ca)
	if st.State != Revoked || st.Source != "ocsp" || !st.RevokedAt.Equal(revokedAt) || st.Reason != 1 {
		t.Fatalf("revoked: %+v (want revoked at %s, reason 1)", st, revokedAt)
	}
	st = c.Check(ctx, stranger, p.ca)
	if st.State != Unknown || !strings.Contains(st.Problem, "OCSP "+url+": the responder does not know the certificate") {
		t.Fatalf("unknown: %+v", st)
	}

	srv.stop()
	st = c.Check(ctx, good, p.ca)
	if st.State != Good || !st.Cached {
		t.Errorf("second check with the responder gone: %+v, want cached good", st)
	}
	st = c.Check(ctx, revoked, p.ca)
	if st.State != Revoked || !st.Cached {
		t.Errorf("second check of the revoked one: %+v, want cached revoked", st)
	}
	// A fresh checker has no cache and finds the responder gone.
	st = NewChecker(Options{Timeout: 20 * time.Second}).Check(ctx, good, p.ca)
	if st.State != Unknown || !strings.Contains(st.Problem, "OCSP "+url+": ") {
		t.Errorf("fresh checker with the responder gone: %+v", st)
	}
}

// Answers signed by the CA itself are accepted; answers signed by a
// responder the CA did not authorise, or by another CA, are not.
func TestOCSPResponderAuthorisation(t *testing.T) {
	p := newTestPKI(t, "Partner CA")
	other := newTestPKI(t, "Other CA")
	noEKU, noEKUKey := p.responder(false)
	foreign, foreignKey := other.responder(true)
	cases := []struct {
		name    string
		signer  *x509.Certificate
		key     crypto.Signer
		extra   []string
		state   State
		problem string
	}{
		{"CA signs", p.ca, p.key, nil, Good, ""},
		{"CA signs, no certificates", p.ca, p.key, []string{"-resp_no_certs"}, Good, ""},
		{"responder without OCSPSigning", noEKU, noEKUKey, nil, Unknown, "not authorised for OCSP signing"},
		{"responder of another CA", foreign, foreignKey, nil, Unknown, "responder certificate is not issued by the certificate's issuer"},
		{"another CA's key, no certificates", other.ca, other.key, []string{"-resp_no_certs"}, Unknown, "signature does not verify with the issuer's key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			url := fmt.Sprintf("http://127.0.0.1:%d/", port)
			leaf := p.leaf("a@partner.example", []string{url}, nil, nil)
			startOpenSSLOCSP(t, p, port, []indexEntry{{cert: leaf}}, tc.signer, tc.key, 60, tc.extra...)
			st := NewChecker(Options{Timeout: 20 * time.Second}).Check(context.Background(), leaf, p.ca)
			if st.State != tc.state || !strings.Contains(st.Problem, tc.problem) {
				t.Errorf("got %+v, want %s with problem %q", st, tc.state, tc.problem)
			}
		})
	}
}

// An answer past its nextUpdate is stale and not used; the CRL is asked next.
func TestOCSPStaleAnswerFallsBackToCRL(t *testing.T) {
	p := newTestPKI(t, "Partner CA")
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	crlSrv := serveBytes(t, nil)
	leaf := p.leaf("a@partner.example", []string{url}, []string{crlSrv.URL}, nil)
	leaf2 := p.leaf("b@partner.example", []string{url}, nil, nil)
	rcert, rkey := p.responder(true)
	startOpenSSLOCSP(t, p, port, []indexEntry{{cert: leaf}, {cert: leaf2}}, rcert, rkey, 1)
	later := time.Now().Add(30 * time.Minute)
	crlSrv.set(p.crl(nil, later.Add(-time.Minute), later.Add(time.Hour), nil))
	c := NewChecker(Options{Timeout: 20 * time.Second, Now: func() time.Time { return later }})
	st := c.Check(context.Background(), leaf, p.ca)
	if st.State != Good || st.Source != "crl" {
		t.Fatalf("got %+v, want good from the CRL", st)
	}
	// Without the CRL the stale OCSP answer is the problem reported.
	st = c.Check(context.Background(), leaf2, p.ca)
	if st.State != Unknown || !strings.Contains(st.Problem, "OCSP "+url+": answer is stale") {
		t.Fatalf("got %+v, want stale", st)
	}
}
