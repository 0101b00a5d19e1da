package admin

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/revocation"
	"golang.org/x/crypto/ocsp"
)

// caServer is the admin handler of a real certs.Manager on a loopback port,
// its CA naming the handler's /ocsp and /ca.crl in new certificates.
type caServer struct {
	t   *testing.T
	dir string
	url string
	m   *certs.Manager
}

func newCAServer(t *testing.T) *caServer {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed: it is the OCSP client and CRL checker under test")
	}
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	m, err := certs.Open(context.Background(), certs.Options{
		StateDir: filepath.Join(dir, "state"), KeyType: certs.KeyECDSAP256,
		CRLURL: srv.URL + "/ca.crl", OCSPURL: srv.URL + "/ocsp", Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	h = Handler(m, NewMetrics(), func(context.Context) error { return nil }, log)
	s := &caServer{t: t, dir: dir, url: srv.URL, m: m}
	s.writePEM("ca.pem", m.CACertificate())
	return s
}

func (s *caServer) writePEM(name string, c *x509.Certificate) string {
	s.t.Helper()
	p := filepath.Join(s.dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return p
}

func (s *caServer) issue(email string) (*x509.Certificate, string) {
	s.t.Helper()
	id, err := s.m.Issue(context.Background(), email)
	if err != nil {
		s.t.Fatal(err)
	}
	return id.Cert, s.writePEM(strings.Split(email, "@")[0]+".pem", id.Cert)
}

func openssl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	return string(out), err
}

func mustContain(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: output lacks %q:\n%s", what, w, out)
		}
	}
}

// `openssl ocsp` accepts the responder's answers for a good and a revoked
// certificate, over POST and GET; our own revocation client agrees.
func TestOCSPResponderWithOpenSSL(t *testing.T) {
	s := newCAServer(t)
	alice, alicePEM := s.issue("alice@corp.example")
	bob, bobPEM := s.issue("bob@corp.example")
	ca := filepath.Join(s.dir, "ca.pem")
	if len(alice.OCSPServer) != 1 || alice.OCSPServer[0] != s.url+"/ocsp" {
		t.Fatalf("AIA OCSP %v", alice.OCSPServer)
	}
	ask := func(pemFile string, nonce bool) string {
		args := []string{"ocsp", "-issuer", ca, "-cert", pemFile, "-url", s.url + "/ocsp", "-CAfile", ca, "-resp_text"}
		if !nonce {
			args = append(args, "-no_nonce")
		}
		out, err := openssl(t, args...)
		if err != nil {
			t.Fatalf("openssl ocsp: %v\n%s", err, out)
		}
		return out
	}
	mustContain(t, "alice good", ask(alicePEM, false), "Response verify OK", alicePEM+": good", "Next Update:")
	mustContain(t, "bob good, with nonce", ask(bobPEM, true), "Response verify OK", bobPEM+": good")

	if err := s.m.Revoke(context.Background(), "alice@corp.example", 1); err != nil {
		t.Fatal(err)
	}
	out := ask(alicePEM, false)
	mustContain(t, "alice revoked", out, "Response verify OK", alicePEM+": revoked", "Reason: keyCompromise", "Revocation Time:")
	mustContain(t, "bob still good", ask(bobPEM, false), bobPEM+": good")

	// GET: the base64 request URL-escaped in the path; openssl checks the answer.
	req, err := ocsp.CreateRequest(alice, s.m.CACertificate(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(s.url + "/ocsp/" + url.PathEscape(base64.StdEncoding.EncodeToString(req)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/ocsp-response" {
		t.Fatalf("GET: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	respFile := filepath.Join(s.dir, "get.der")
	if err := os.WriteFile(respFile, body, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = openssl(t, "ocsp", "-respin", respFile, "-issuer", ca, "-cert", alicePEM, "-CAfile", ca)
	if err != nil {
		t.Fatalf("openssl ocsp -respin: %v\n%s", err, out)
	}
	mustContain(t, "GET alice", out, "Response verify OK", alicePEM+": revoked")

	// Our own client reads the same responder through the certificates' AIA.
	c := revocation.NewChecker(revocation.Options{Timeout: 20 * time.Second})
	if st := c.Check(context.Background(), alice, s.m.CACertificate()); st.State != revocation.Revoked || st.Source != "ocsp" || st.Reason != 1 {
		t.Errorf("checker, alice: %+v", st)
	}
	if st := c.Check(context.Background(), bob, s.m.CACertificate()); st.State != revocation.Good || st.Source != "ocsp" || st.URL != s.url+"/ocsp" {
		t.Errorf("checker, bob: %+v", st)
	}

	// Malformed requests get a malformedRequest answer, not a crash.
	for _, r := range []*http.Request{
		httptest.NewRequest("POST", s.url+"/ocsp", strings.NewReader("junk")),
		httptest.NewRequest("GET", s.url+"/ocsp/!!!!", nil),
		httptest.NewRequest("GET", s.url+"/ocsp/bm90IG9jc3A=", nil),
	} {
		r.RequestURI = ""
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if _, err := ocsp.ParseResponse(b, nil); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("%s %s: %v", r.Method, r.URL, err)
		}
	}
}

// /ca.crl lists a certificate right after it is revoked; openssl reads the
// CRL and `openssl verify -crl_check` refuses the revoked certificate only.
func TestCRLAfterRevokeWithOpenSSL(t *testing.T) {
	s := newCAServer(t)
	alice, alicePEM := s.issue("alice@corp.example")
	_, bobPEM := s.issue("bob@corp.example")
	ca := filepath.Join(s.dir, "ca.pem")
	fetch := func() string {
		resp, err := http.Get(s.url + "/ca.crl")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		p := filepath.Join(s.dir, "ca.crl")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fetch() // cached before the revocation
	if err := s.m.Revoke(context.Background(), "alice@corp.example", 1); err != nil {
		t.Fatal(err)
	}
	crl := fetch()
	out, err := openssl(t, "crl", "-inform", "DER", "-in", crl, "-text", "-noout")
	if err != nil {
		t.Fatalf("openssl crl: %v\n%s", err, out)
	}
	mustContain(t, "openssl crl", out, "Serial Number: "+opensslHex(alice), "Key Compromise")
	crlPEM := filepath.Join(s.dir, "crl.pem")
	if out, err := openssl(t, "crl", "-inform", "DER", "-in", crl, "-out", crlPEM); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err = openssl(t, "verify", "-crl_check", "-CAfile", ca, "-CRLfile", crlPEM, "-purpose", "smimesign", alicePEM)
	if err == nil || !strings.Contains(out, "certificate revoked") {
		t.Errorf("openssl verify of the revoked certificate: %v\n%s", err, out)
	}
	out, err = openssl(t, "verify", "-crl_check", "-CAfile", ca, "-CRLfile", crlPEM, "-purpose", "smimesign", bobPEM)
	if err != nil || !strings.Contains(out, "OK") {
		t.Errorf("openssl verify of the good certificate: %v\n%s", err, out)
	}
}

// opensslHex is a serial as openssl prints it: whole octets, upper case.
func opensslHex(c *x509.Certificate) string {
	s := strings.ToUpper(c.SerialNumber.Text(16))
	if len(s)%2 == 1 {
		s = "0" + s
	}
	return s
}

// A GET path is base64, which may hold "//" and "+": it reaches the
// responder as is (no redirect by the mux's path cleaning).
func TestOCSPGetPathIsNotCleaned(t *testing.T) {
	var got []byte
	h := Handler(fakeOCSPCA{func(req []byte) { got = req }}, NewMetrics(), func(context.Context) error { return nil }, slog.New(slog.DiscardHandler))
	for _, tc := range []struct{ path, want string }{
		{"/ocsp/MAo//+w==", "\x30\x0a\x3f\xff\xec"},
		{"/ocsp/MAo%2F%2F%2Bw%3D%3D", "\x30\x0a\x3f\xff\xec"},
		{"/ocsp/MAo__-w", "\x30\x0a\x3f\xff\xec"},
	} {
		got = nil
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		if rec.Code != 200 || string(got) != tc.want || rec.Header().Get("Content-Type") != "application/ocsp-response" {
			t.Errorf("%s: %d, request %x", tc.path, rec.Code, got)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("PUT", "/ocsp", strings.NewReader("x")))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/ocsp", strings.NewReader(strings.Repeat("x", maxOCSPRequest+1))))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized POST: %d", rec.Code)
	}
}

type fakeOCSPCA struct{ saw func([]byte) }

func (fakeOCSPCA) CACertificate() *x509.Certificate    { return &x509.Certificate{} }
func (fakeOCSPCA) CRL(context.Context) ([]byte, error) { return nil, nil }
func (f fakeOCSPCA) OCSPResponse(_ context.Context, req []byte) ([]byte, error) {
	f.saw(req)
	return ocsp.MalformedRequestErrorResponse, nil
}
