package revocation

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// bytesServer serves one body over HTTP on loopback and counts requests.
type bytesServer struct {
	*httptest.Server
	mu    sync.Mutex
	body  []byte
	hits  atomic.Int64
	delay time.Duration
}

func serveBytes(t *testing.T, body []byte) *bytesServer {
	t.Helper()
	s := &bytesServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		b, d := s.body, s.delay
		s.mu.Unlock()
		time.Sleep(d)
		_, _ = w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *bytesServer) set(b []byte) {
	s.mu.Lock()
	s.body = b
	s.mu.Unlock()
}

func TestCRLOverHTTP(t *testing.T) {
	p := newTestPKI(t, "Partner CA")
	other := newTestPKI(t, "Other CA")
	now := time.Now()
	cases := []struct {
		name    string
		crl     func(good, revoked *x509.Certificate) []byte
		state   State // of the revoked certificate
		problem string
	}{
		{"lists the revoked one", func(g, r *x509.Certificate) []byte {
			return p.crl(map[*x509.Certificate]int{r: 1}, now.Add(-time.Minute), now.Add(time.Hour), nil)
		}, Revoked, ""},
		{"PEM", func(g, r *x509.Certificate) []byte {
			der := p.crl(map[*x509.Certificate]int{r: 1}, now.Add(-time.Minute), now.Add(time.Hour), nil)
			return []byte("-----BEGIN X509 CRL-----\n" + b64(der) + "\n-----END X509 CRL-----\n")
		}, Revoked, ""},
		{"bad signature", func(g, r *x509.Certificate) []byte {
			der := p.crl(map[*x509.Certificate]int{r: 1}, now.Add(-time.Minute), now.Add(time.Hour), nil)
			der[len(der)-3] ^= 0x55
			return der
		}, Unknown, ": signature does not verify"},
		{"another CA's CRL", func(g, r *x509.Certificate) []byte {
			return other.crl(nil, now.Add(-time.Minute), now.Add(time.Hour), nil)
		}, Unknown, "issued by another CA"},
		{"stale", func(g, r *x509.Certificate) []byte {
			return p.crl(map[*x509.Certificate]int{r: 1}, now.Add(-48*time.Hour), now.Add(-24*time.Hour), nil)
		}, Unknown, "answer is stale"},
		{"from the future", func(g, r *x509.Certificate) []byte {
			return p.crl(nil, now.Add(time.Hour), now.Add(2*time.Hour), nil)
		}, Unknown, "dated in the future"},
		{"garbage", func(g, r *x509.Certificate) []byte { return []byte("<html>not found</html>") }, Unknown, "malformed CRL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := serveBytes(t, nil)
			good := p.leaf("good@partner.example", nil, []string{srv.URL + "/ca.crl"}, nil)
			revoked := p.leaf("revoked@partner.example", nil, []string{srv.URL + "/ca.crl"}, nil)
			srv.set(tc.crl(good, revoked))
			c := NewChecker(Options{})
			st := c.Check(context.Background(), revoked, p.ca)
			if st.State != tc.state || !strings.Contains(st.Problem, tc.problem) {
				t.Fatalf("revoked: %+v, want %s with problem %q", st, tc.state, tc.problem)
			}
			if tc.state == Revoked {
				if st.Reason != 1 || st.Source != "crl" || st.URL != srv.URL+"/ca.crl" || st.RevokedAt.IsZero() {
					t.Errorf("revoked: %+v", st)
				}
				if st := c.Check(context.Background(), good, p.ca); st.State != Good || !st.Cached {
					t.Errorf("good after the CRL is cached: %+v", st)
				}
				if n := srv.hits.Load(); n != 1 {
					t.Errorf("CRL fetched %d times, want once", n)
				}
			}
			if tc.state == Unknown {
				if !strings.HasPrefix(st.Problem, "CRL "+srv.URL+"/ca.crl: ") {
					t.Errorf("problem %q does not name the source", st.Problem)
				}
				// The failure is remembered for FailureTTL: no second fetch.
				c.Check(context.Background(), revoked, p.ca)
				if n := srv.hits.Load(); n != 1 {
					t.Errorf("failed CRL fetched %d times, want once", n)
				}
			}
		})
	}
}

// The cached CRL is used until its nextUpdate, then fetched anew.
func TestCRLCachedUntilNextUpdate(t *testing.T) {
	p := newTestPKI(t, "Partner CA")
	srv := serveBytes(t, nil)
	leaf := p.leaf("a@partner.example", nil, []string{srv.URL}, nil)
	start := time.Now()
	var clock atomic.Int64
	clock.Store(start.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	srv.set(p.crl(nil, start.Add(-time.Minute), start.Add(10*time.Minute), nil))
	c := NewChecker(Options{Now: now})
	if st := c.Check(context.Background(), leaf, p.ca); st.State != Good || st.Cached {
		t.Fatalf("first: %+v", st)
	}
	clock.Store(start.Add(9 * time.Minute).UnixNano())
	if st := c.Check(context.Background(), leaf, p.ca); st.State != Good || !st.Cached {
		t.Fatalf("before nextUpdate: %+v", st)
	}
	srv.set(p.crl(map[*x509.Certificate]int{leaf: 4}, start.Add(9*time.Minute), start.Add(time.Hour), nil))
	clock.Store(start.Add(11 * time.Minute).UnixNano())
	if st := c.Check(context.Background(), leaf, p.ca); st.State != Revoked || st.Cached || st.Reason != 4 {
		t.Fatalf("after nextUpdate: %+v", st)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

// Concurrent checks of certificates behind one CRL share one download.
func TestConcurrentChecksShareOneFetch(t *testing.T) {
	p := newTestPKI(t, "Partner CA")
	srv := serveBytes(t, nil)
	srv.delay = 300 * time.Millisecond
	var leaves []*x509.Certificate
	for i := range 8 {
		leaves = append(leaves, p.leaf(fmt.Sprintf("u%d@partner.example", i), nil, []string{srv.URL}, nil))
	}
	srv.set(p.crl(map[*x509.Certificate]int{leaves[3]: 0}, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), nil))
	c := NewChecker(Options{})
	var wg sync.WaitGroup
	states := make([]State, 32)
	for i := range states {
		wg.Add(1)
		go func() {
			defer wg.Done()
			states[i] = c.Check(context.Background(), leaves[i%len(leaves)], p.ca).State
		}()
	}
	wg.Wait()
	for i, s := range states {
		want := Good
		if i%len(leaves) == 3 {
			want = Revoked
		}
		if s != want {
			t.Errorf("check %d: %s, want %s", i, s, want)
		}
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("CRL fetched %d times by 32 concurrent checks, want once", n)
	}
}

// A responder that never answers costs one timeout; the problem says so.
func TestTimeoutAndLimits(t *testing.T) {
	p := newTestPKI(t, "Partner CA")
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the request so the server notices the client hanging up;
		// give up by itself so that Close does not wait long.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer hang.Close()
	big := serveBytes(t, make([]byte, 4096))
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	}))
	defer redirect.Close()
	leaf := p.leaf("a@partner.example", []string{hang.URL, "ldap://ldap.partner.example/cn=x"},
		[]string{big.URL, redirect.URL, "file:///etc/ca.crl"}, nil)
	c := NewChecker(Options{Timeout: 300 * time.Millisecond, MaxCRLSize: 1024})
	st := c.Check(context.Background(), leaf, p.ca)
	for _, want := range []string{
		"OCSP " + hang.URL + ": timeout",
		"OCSP ldap://ldap.partner.example/cn=x: ldap URLs are not fetched",
		"CRL " + big.URL + ": answer larger than the limit of 1024 bytes",
		"CRL " + redirect.URL + ": ",
		"CRL file:///etc/ca.crl: file URLs are not fetched",
	} {
		if !strings.Contains(st.Problem, want) {
			t.Errorf("problem %q lacks %q", st.Problem, want)
		}
	}
	if st.State != Unknown {
		t.Errorf("state %s", st.State)
	}
	// A caller's own deadline ends the wait too.
	leaf2 := p.leaf("b@partner.example", []string{hang.URL + "/other"}, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if st := NewChecker(Options{Timeout: time.Minute}).Check(ctx, leaf2, p.ca); st.State != Unknown || !strings.Contains(st.Problem, "timeout") {
		t.Errorf("caller deadline: %+v", st)
	}
}

func TestNothingToCheck(t *testing.T) {
	p := newTestPKI(t, "Partner CA")
	other := newTestPKI(t, "Other CA")
	leaf := p.leaf("a@partner.example", nil, nil, nil)
	c := NewChecker(Options{})
	if st := c.Check(context.Background(), leaf, p.ca); st.State != Unknown || !strings.Contains(st.Problem, "names no OCSP responder and no CRL") {
		t.Errorf("no URLs: %+v", st)
	}
	if st := c.Check(context.Background(), leaf, other.ca); st.State != Unknown || !strings.Contains(st.Problem, "not the certificate's issuer") {
		t.Errorf("wrong issuer: %+v", st)
	}
	if st := c.Check(context.Background(), nil, nil); st.State != Unknown || st.Problem == "" {
		t.Errorf("nil: %+v", st)
	}
}
