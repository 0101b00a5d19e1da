package trust

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/crypto/smime/smimetest"
	"github.com/mailseal/mailseal/revocation"
)

func TestNewNamesBadAnchorFile(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{junk, filepath.Join(dir, "missing.pem")} {
		if _, err := New(Options{AnchorFiles: []string{f}}); err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("New(%s) = %v, want an error naming the file", f, err)
		}
	}
	if _, err := New(Options{Revocation: "sometimes"}); err == nil {
		t.Error("bad revocation mode accepted")
	}
	if _, err := New(Options{SystemRoots: true}); err != nil {
		t.Errorf("system roots: %v", err)
	}
}

// TestOwnCAAndSystemRoots: a signer under our own CA passes without any
// anchor file; a partner root in no anchor list stays untrusted even with
// the system roots.
func TestOwnCAAndSystemRoots(t *testing.T) {
	p := getPKI(t)
	alice := p.leaf(t, smimetest.Template{})
	msg := multipartSigned(header(""), testContent, sign(t, smimetest.Spec{Content: []byte(testContent), Detached: true,
		Certs: []*x509.Certificate{alice.Cert, p.inter.Cert}, Signers: []smimetest.Signer{{Cert: alice}}}))
	for _, tc := range []struct {
		name string
		o    Options
		want Result
	}{
		{"own", Options{Own: []*x509.Certificate{p.root.Cert}}, Pass},
		{"system only", Options{SystemRoots: true}, Fail},
		{"nothing", Options{}, Fail},
	} {
		v, err := New(tc.o)
		if err != nil {
			t.Fatal(err)
		}
		if vd := v.VerifyMessage(context.Background(), msg); vd.Result != tc.want {
			t.Errorf("%s: %s %s", tc.name, vd.Result, vd.Reason)
		}
	}
}

// TestAIAFetchesMissingIntermediate: a sender that leaves out the
// intermediate still verifies when the checker fetches it (AIA).
func TestAIAFetchesMissingIntermediate(t *testing.T) {
	p := getPKI(t)
	alice := p.leaf(t, smimetest.Template{CN: "AIA Alice"})
	msg := multipartSigned(header(""), testContent, sign(t, smimetest.Spec{Content: []byte(testContent), Detached: true,
		Certs: []*x509.Certificate{alice.Cert}, Signers: []smimetest.Signer{{Cert: alice}}}))
	with := &fakeChecker{issuers: map[string][]*x509.Certificate{"AIA Alice": {p.inter.Cert}}}
	for _, tc := range []struct {
		name    string
		checker RevocationChecker
		want    Result
	}{{"fetched", with, Pass}, {"no fetcher", nil, Fail}, {"fetch fails", &fakeChecker{}, Fail}} {
		v, err := New(Options{AnchorFiles: []string{p.anchorFile}, Checker: tc.checker})
		if err != nil {
			t.Fatal(err)
		}
		vd := v.VerifyMessage(context.Background(), msg)
		if vd.Result != tc.want {
			t.Errorf("%s: %s/%s %s", tc.name, vd.Result, vd.Code, vd.Reason)
		}
		if tc.want == Pass && len(vd.Signers[0].Chain) != 3 {
			t.Errorf("%s: chain of %d", tc.name, len(vd.Signers[0].Chain))
		}
	}
}

// TestRevocationChecksWholeChain: the leaf and the intermediate are both
// checked; a revoked intermediate fails the message; off checks nothing.
func TestRevocationChecksWholeChain(t *testing.T) {
	p := getPKI(t)
	alice := p.leaf(t, smimetest.Template{CN: "Chain Alice"})
	msg := multipartSigned(header(""), testContent, sign(t, smimetest.Spec{Content: []byte(testContent), Detached: true,
		Certs: []*x509.Certificate{alice.Cert, p.inter.Cert}, Signers: []smimetest.Signer{{Cert: alice}}}))
	for _, tc := range []struct {
		name    string
		mode    Mode
		status  map[string]revocation.Status
		result  Result
		code    string
		checked []string
	}{
		{"all good", RevocationRequire, nil, Pass, "", []string{"Chain Alice", "Partner Mail CA"}},
		{"intermediate revoked", RevocationPrefer, map[string]revocation.Status{"Partner Mail CA": {State: revocation.Revoked}}, Fail, "revoked", []string{"Chain Alice", "Partner Mail CA"}},
		{"intermediate unknown, require", RevocationRequire, map[string]revocation.Status{"Partner Mail CA": {State: revocation.Unknown, Problem: "no CRL"}}, TempError, "revocation-unknown", []string{"Chain Alice", "Partner Mail CA"}},
		{"off", RevocationOff, map[string]revocation.Status{"Chain Alice": {State: revocation.Revoked}}, Pass, "", nil},
	} {
		c := &fakeChecker{status: tc.status}
		v, err := New(Options{AnchorFiles: []string{p.anchorFile}, Revocation: tc.mode, Checker: c})
		if err != nil {
			t.Fatal(err)
		}
		vd := v.VerifyMessage(context.Background(), msg)
		if vd.Result != tc.result || vd.Code != tc.code || !slices.Equal(c.checked, tc.checked) {
			t.Errorf("%s: %s/%q checked %v (%s)", tc.name, vd.Result, vd.Code, c.checked, vd.Reason)
		}
		if tc.code == "revocation-unknown" && !strings.Contains(vd.Signers[0].Revocation.Problem, "no CRL") {
			t.Errorf("%s: problem %q", tc.name, vd.Signers[0].Revocation.Problem)
		}
	}
}

// TestVerifyAtInjectedTime: validity is judged at Options.Now, whatever
// the signer claims.
func TestVerifyAtInjectedTime(t *testing.T) {
	p := getPKI(t)
	alice := p.leaf(t, smimetest.Template{CN: "Clock Alice"})
	msg := multipartSigned(header(""), testContent, sign(t, smimetest.Spec{Content: []byte(testContent), Detached: true,
		Certs: []*x509.Certificate{alice.Cert, p.inter.Cert}, Signers: []smimetest.Signer{{Cert: alice}}}))
	for _, tc := range []struct {
		at   time.Time
		want string
	}{{time.Now(), ""}, {time.Now().Add(2 * 365 * 24 * time.Hour), "expired"}, {time.Now().Add(-2 * time.Hour), "not-yet-valid"}} {
		at := tc.at
		v, err := New(Options{AnchorFiles: []string{p.anchorFile}, Now: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		if vd := v.VerifyMessage(context.Background(), msg); vd.Code != tc.want {
			t.Errorf("at %v: %s/%q %s", at, vd.Result, vd.Code, vd.Reason)
		}
	}
}

// TestHostileStructure: deep nesting, huge header counts and many parts
// are answered (bounded work), never a crash.
func TestHostileStructure(t *testing.T) {
	p := getPKI(t)
	v, err := New(Options{AnchorFiles: []string{p.anchorFile}})
	if err != nil {
		t.Fatal(err)
	}
	alice := p.leaf(t, smimetest.Template{CN: "Deep Alice"})
	signed := multipartSigned(header(""), testContent, sign(t, smimetest.Spec{Content: []byte(testContent), Detached: true,
		Certs: []*x509.Certificate{alice.Cert, p.inter.Cert}, Signers: []smimetest.Signer{{Cert: alice}}}))
	deep := func(levels int, inner string) []byte {
		var b strings.Builder
		b.WriteString(header(""))
		for i := range levels {
			b.WriteString("Content-Type: multipart/mixed; boundary=\"b" + itoa(i) + "\"\r\n\r\n--b" + itoa(i) + "\r\n")
		}
		b.WriteString(inner)
		for i := levels - 1; i >= 0; i-- {
			b.WriteString("\r\n--b" + itoa(i) + "--\r\n")
		}
		return []byte(b.String())
	}
	many := func(n int, line string) []byte {
		return []byte(header("") + strings.Repeat(line, n) + "\r\nbody\r\n")
	}
	i := bytes.Index(signed, []byte("Content-Type: multipart/signed"))
	tests := []struct {
		name   string
		msg    []byte
		result Result
		code   string
	}{
		{"10000 levels of multipart", deep(10000, "Content-Type: text/plain\r\n\r\nx"), None, "unsigned"},
		{"signed part 3 levels down", deep(3, string(signed[i:])), Neutral, "partial"},
		{"signed part 10000 levels down", deep(10000, string(signed[i:])), None, "unsigned"},
		{"10000 levels of message/rfc822", []byte(strings.Repeat(header("")+"Content-Type: message/rfc822\r\n\r\n", 10000) + testContent), None, "unsigned"},
		{"100000 header fields", many(100000, "X-Junk: 1\r\n"), PermError, "malformed"},
		{"100000 continuation lines", many(100000, " folded\r\n"), None, "unsigned"},
		{"100000 parts", []byte(header("") + "Content-Type: multipart/mixed; boundary=m\r\n\r\n" + strings.Repeat("--m\r\n\r\nx\r\n", 100000) + "--m--\r\n"), None, "unsigned"},
		{"100000 From fields", many(100000, "From: alice@partner.example\r\n"), PermError, "malformed"},
		{"100000 signed-part delimiters", []byte(header("") + "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=s\r\n\r\n" + strings.Repeat("--s\r\n", 100000) + "--s--\r\n"), PermError, "malformed"},
		{"empty", nil, Fail, "from-mismatch"},
	}
	tests[len(tests)-1].result, tests[len(tests)-1].code = None, "unsigned"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vd := v.VerifyMessage(context.Background(), tc.msg)
			if vd.Result != tc.result || vd.Code != tc.code {
				t.Fatalf("%s/%q (%s), want %s/%q", vd.Result, vd.Code, vd.Reason, tc.result, tc.code)
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestNilCheckerPointer: a nil *Checker behind the interface means "off",
// not a crash on the first message.
func TestNilCheckerPointer(t *testing.T) {
	p := getPKI(t)
	alice := p.leaf(t, smimetest.Template{CN: "Nil Alice"})
	msg := multipartSigned(header(""), testContent, sign(t, smimetest.Spec{Content: []byte(testContent), Detached: true,
		Certs: []*x509.Certificate{alice.Cert, p.inter.Cert}, Signers: []smimetest.Signer{{Cert: alice}}}))
	var c *fakeChecker
	v, err := New(Options{AnchorFiles: []string{p.anchorFile}, Revocation: RevocationRequire, Checker: c})
	if err != nil {
		t.Fatal(err)
	}
	vd := v.VerifyMessage(context.Background(), msg)
	if vd.Result != Pass || vd.Signers[0].Revocation.Problem == "" {
		t.Fatalf("%s/%s %s; revocation %+v", vd.Result, vd.Code, vd.Reason, vd.Signers[0].Revocation)
	}
}

// TestSelfSignedAnchorSigner: a partner whose own self-signed certificate
// is the anchor verifies (a chain of one).
func TestSelfSignedAnchorSigner(t *testing.T) {
	self, err := smimetest.Issue(nil, smimetest.Template{CN: "Self", Emails: []string{"alice@partner.example"}, Key: smimetest.P256})
	if err != nil {
		t.Fatal(err)
	}
	msg := multipartSigned(header(""), testContent, sign(t, smimetest.Spec{Content: []byte(testContent), Detached: true, Signers: []smimetest.Signer{{Cert: self}}}))
	v, err := New(Options{Own: []*x509.Certificate{self.Cert}, Revocation: RevocationRequire, Checker: &fakeChecker{}})
	if err != nil {
		t.Fatal(err)
	}
	if vd := v.VerifyMessage(context.Background(), msg); vd.Result != Pass {
		t.Fatalf("%s/%s %s", vd.Result, vd.Code, vd.Reason)
	}
}

// TestConcurrentVerify: one Verifier serves many messages at once (run
// with -race).
func TestConcurrentVerify(t *testing.T) {
	p := getPKI(t)
	alice := p.leaf(t, smimetest.Template{CN: "Busy Alice", Key: smimetest.P256})
	msg := multipartSigned(header(""), testContent, sign(t, smimetest.Spec{Content: []byte(testContent), Detached: true,
		Certs: []*x509.Certificate{alice.Cert, p.inter.Cert}, Signers: []smimetest.Signer{{Cert: alice}}}))
	v, err := New(Options{AnchorFiles: []string{p.anchorFile}, Checker: &fakeChecker{}})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan string, 8)
	for range 8 {
		go func() {
			vd := v.VerifyMessage(context.Background(), msg)
			errs <- string(vd.Result)
		}()
	}
	for range 8 {
		if r := <-errs; r != string(Pass) {
			t.Errorf("result %s", r)
		}
	}
}

// BenchmarkVerifyMessage: a 100 KB message signed with RSA-2048, the whole
// check (parse, signature, chain, revocation answered from memory).
func BenchmarkVerifyMessage(b *testing.B) {
	p := getPKI(b)
	alice := p.leaf(b, smimetest.Template{CN: "Bench Alice"})
	content := "Content-Type: text/plain\r\n\r\n" + strings.Repeat("0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\r\n", 1300)
	msg := multipartSigned(header(""), content, sign(b, smimetest.Spec{Content: []byte(content), Detached: true,
		Certs: []*x509.Certificate{alice.Cert, p.inter.Cert}, Signers: []smimetest.Signer{{Cert: alice}}}))
	v, err := New(Options{AnchorFiles: []string{p.anchorFile}, Checker: &fakeChecker{}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if vd := v.VerifyMessage(context.Background(), msg); vd.Result != Pass {
			b.Fatal(vd.Reason)
		}
	}
}
