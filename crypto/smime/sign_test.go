package smime

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type msgCase struct {
	name   string
	fields []HeaderField
	body   string
	want   []string // decoded text of the leaves, in order
}

var utf8Text = "Grüße aus Köln – naïve café ✓\nZweite Zeile\n"

var msgCases = []msgCase{
	{
		name:   "ascii text",
		fields: []HeaderField{{"Content-Type", "text/plain; charset=us-ascii"}},
		body:   "Hello,\r\n\r\nthis is a test.\r\n",
		want:   []string{"Hello,\r\n\r\nthis is a test.\r\n"},
	},
	{
		name:   "8-bit utf-8 LF only, folded field",
		fields: []HeaderField{{"Content-Type", "text/plain;\n\tcharset=utf-8"}, {"Content-Transfer-Encoding", "8bit"}, {"MIME-Version", "1.0"}},
		body:   utf8Text,
		want:   []string{strings.ReplaceAll(utf8Text, "\n", "\r\n")},
	},
	{
		name: "no content type",
		body: "plain old mail\n",
		want: []string{"plain old mail\r\n"},
	},
	{
		name:   "multipart mixed with binary attachment",
		fields: []HeaderField{{"Content-Type", `multipart/mixed; boundary="XYZ"`}, {"Content-Transfer-Encoding", "8bit"}},
		body: "preamble\n--XYZ\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + utf8Text +
			"\n--XYZ\nContent-Type: application/octet-stream; name=\"Müller.bin\"\nContent-Disposition: attachment; filename=\"Müller.bin\"\nContent-Transfer-Encoding: binary\n\n\x00\x01\x02\xff\xfe\r\x80end" +
			"\n--XYZ--\n",
		want: []string{strings.ReplaceAll(utf8Text, "\n", "\r\n"), "\x00\x01\x02\xff\xfe\r\x80end"},
	},
	{
		// mbox delivery quotes lines starting "From ": none may be signed.
		name:   "From lines in 7-bit, quoted-printable and soft-broken parts",
		fields: []HeaderField{{"Content-Type", `multipart/mixed; boundary="F"`}},
		body: "--F\nContent-Type: text/plain\n\nHi\nFrom the start\n--F\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nx=\nFrom QP\n" +
			"--F\nContent-Type: text/plain; charset=utf-8\n\n" + strings.Repeat("ü", 25) + "From soft\n--F--\n",
		want: []string{"Hi\r\nFrom the start", "xFrom QP", strings.Repeat("ü", 25) + "From soft"},
	},
	{
		name:   "forwarded message with a latin-1 From and a group",
		fields: []HeaderField{{"Content-Type", "message/rfc822"}},
		body:   "From: J\xf6rg M\xfcller <joerg@example.de> (Vertrieb)\nTo: undisclosed-recipients: ;\n\nText\n",
		want:   []string{"From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de> (Vertrieb)\r\nTo: undisclosed-recipients: ;\r\n\r\nText\r\n"},
	},
	{
		name:   "part header line without a colon",
		fields: []HeaderField{{"Content-Type", "multipart/mixed; boundary=G"}},
		body:   "--G\nContent-Type: text/plain; charset=utf-8\nno colon\nContent-Transfer-Encoding: 8bit\n\nGrüße\n--G--\n",
		want:   []string{"no colon\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße"},
	},
	{
		name:   "long line",
		fields: []HeaderField{{"Content-Type", "text/plain"}},
		body:   strings.Repeat("0123456789", 300) + "\n",
		want:   []string{strings.Repeat("0123456789", 300) + "\r\n"},
	},
}

func TestSignRoundTripGo(t *testing.T) {
	p := getPKI(t)
	for _, kind := range []string{"rsa", "ecdsa"} {
		at := time.Now().Add(-time.Minute).Truncate(time.Second)
		s := p.signer(t, kind, WithClock(func() time.Time { return at }))
		for _, tc := range msgCases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				signed, err := s.Sign(tc.fields, strings.NewReader(tc.body))
				if err != nil {
					t.Fatalf("Sign: %v", err)
				}
				_, content := verifyGo(t, p, signed, at)
				got := decodeEntity(t, content)
				if strings.Join(got, "\x00|") != strings.Join(tc.want, "\x00|") {
					t.Errorf("decoded leaves\n got %q\nwant %q", got, tc.want)
				}
			})
		}
	}
}

// opensslPath returns openssl; a missing openssl fails the test (CI
// installs it), it does not skip.
func opensslPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl not found (required): %v", err)
	}
	return path
}

func TestSignOpenSSL(t *testing.T) {
	openssl := opensslPath(t)
	p := getPKI(t)
	dir := t.TempDir()
	caFile := p.writeRoot(t, dir)
	for _, kind := range []string{"rsa", "ecdsa"} {
		s := p.signer(t, kind)
		for i, tc := range msgCases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				signed, err := s.Sign(tc.fields, strings.NewReader(tc.body))
				if err != nil {
					t.Fatalf("Sign: %v", err)
				}
				eml := filepath.Join(dir, kind+"-"+string(rune('a'+i))+".eml")
				msg := "Content-Type: " + signed.ContentType + "\r\nMIME-Version: 1.0\r\n\r\n" + string(signed.Body)
				if strings.Contains(msg, "\nFrom ") {
					t.Errorf("a line starts with \"From \" (mbox delivery would quote it):\n%s", msg)
				}
				if err := os.WriteFile(eml, []byte(msg), 0o600); err != nil {
					t.Fatal(err)
				}
				out := eml + ".out"
				cmd := exec.Command(openssl, "cms", "-verify", "-purpose", "smimesign", "-CAfile", caFile, "-in", eml, "-out", out)
				if b, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("openssl cms -verify: %v\n%s\n--- message ---\n%s", err, b, msg)
				}
				got, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				content, _, err := splitSigned(signed)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, content) {
					t.Errorf("openssl content differs from the signed part\n got %q\nwant %q", got, content)
				}
				if leaves := decodeEntity(t, got); strings.Join(leaves, "\x00|") != strings.Join(tc.want, "\x00|") {
					t.Errorf("decoded openssl output\n got %q\nwant %q", leaves, tc.want)
				}
				dump, err := exec.Command(openssl, "cms", "-cmsout", "-print", "-in", eml).CombinedOutput()
				if err != nil {
					t.Fatalf("openssl cms -cmsout -print: %v\n%s", err, dump)
				}
				d := string(dump)
				for _, want := range []string{"algorithm: sha256", "signingTime", "S/MIME Capabilities", "aes-256-cbc", "aes-192-cbc", "aes-128-cbc"} {
					if !strings.Contains(d, want) {
						t.Errorf("cms dump lacks %q", want)
					}
				}
				if strings.Contains(d, "sha1") {
					t.Errorf("cms dump mentions sha1:\n%s", d)
				}
			})
		}
	}
}

// TestSignOpenSSLDetectsTampering makes sure openssl really checks: a
// changed byte in the signed part must fail verification.
func TestSignOpenSSLDetectsTampering(t *testing.T) {
	openssl := opensslPath(t)
	p := getPKI(t)
	dir := t.TempDir()
	caFile := p.writeRoot(t, dir)
	signed, err := p.signer(t, "ecdsa").Sign(nil, strings.NewReader("pay 100 EUR\n"))
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Replace(signed.Body, []byte("pay 100"), []byte("pay 900"), 1)
	eml := filepath.Join(dir, "t.eml")
	os.WriteFile(eml, []byte("Content-Type: "+signed.ContentType+"\r\nMIME-Version: 1.0\r\n\r\n"+string(body)), 0o600)
	if b, err := exec.Command(openssl, "cms", "-verify", "-purpose", "smimesign", "-CAfile", caFile, "-in", eml, "-out", eml+".out").CombinedOutput(); err == nil {
		t.Fatalf("openssl accepted a tampered message:\n%s", b)
	}
}

func TestSignDeterministic(t *testing.T) {
	p := getPKI(t)
	at := time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)
	sign := func() *Signed {
		s, err := NewSigner(p.rsaKey, p.rsaCert, p.chain(),
			WithClock(func() time.Time { return time.Now() }), WithRand(bytes.NewReader(bytes.Repeat([]byte{7}, 1000))))
		if err != nil {
			t.Fatal(err)
		}
		s.now = func() time.Time { return at } // past the validity check
		s.cert = p.rsaCert
		out, err := s.detachedSignature([]byte("x"), at)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.boundary([]byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		return &Signed{ContentType: b, Body: out}
	}
	a, b := sign(), sign()
	if a.ContentType != b.ContentType || !bytes.Equal(a.Body, b.Body) {
		t.Errorf("same clock and randomness gave different results")
	}
	if !strings.HasPrefix(a.ContentType, "=_mailseal_") {
		t.Errorf("boundary %q", a.ContentType)
	}
}

func TestSignConcurrent(t *testing.T) {
	p := getPKI(t)
	signers := []*Signer{p.signer(t, "rsa"), p.signer(t, "ecdsa")}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tc := msgCases[i%len(msgCases)]
			signed, err := signers[i%2].Sign(tc.fields, strings.NewReader(tc.body))
			if err != nil {
				errs <- err
				return
			}
			if _, _, err := splitSigned(signed); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestSignErrors(t *testing.T) {
	p := getPKI(t)
	s := p.signer(t, "ecdsa", WithMaxSize(10))
	if _, err := s.Sign(nil, strings.NewReader(strings.Repeat("x", 11))); !errorsIs(err, ErrTooLarge) {
		t.Errorf("oversized body: %v, want ErrTooLarge", err)
	}
	if _, err := s.Sign(nil, strings.NewReader(strings.Repeat("x", 10))); err != nil {
		t.Errorf("body at the limit: %v", err)
	}
	late := p.signer(t, "ecdsa")
	late.now = func() time.Time { return time.Now().Add(48 * time.Hour) }
	if _, err := late.Sign(nil, strings.NewReader("x")); !errorsIs(err, ErrCertificateNotValid) {
		t.Errorf("expired certificate: %v, want ErrCertificateNotValid", err)
	}
}

// writeRoot writes the test root CA as PEM into dir for openssl's -CAfile.
func (p *testPKI) writeRoot(t *testing.T, dir string) string {
	t.Helper()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pemCert(p.root), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile
}

// The body is built around a random boundary before the content is known;
// content that happens to contain it gets the message rebuilt around
// another one.
func TestSignBoundaryInContent(t *testing.T) {
	p := getPKI(t)
	first, second := bytes.Repeat([]byte{7}, 18), bytes.Repeat([]byte{8}, 18)
	collide := "=_mailseal_" + strings.Repeat("07", 18)
	tests := []struct {
		name, body   string
		wantBoundary string
	}{
		{"no collision keeps the first boundary", "hello\r\n", collide},
		{"collision takes the next one", "quoting a boundary: --" + collide + "\r\n", "=_mailseal_" + strings.Repeat("08", 18)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := p.signer(t, "ecdsa", WithRand(bytes.NewReader(append(append([]byte{}, first...), second...))))
			at := time.Now().Truncate(time.Second)
			s.now = func() time.Time { return at }
			signed, err := s.Sign([]HeaderField{{"Content-Type", "text/plain; charset=us-ascii"}}, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(signed.ContentType, `boundary="`+tt.wantBoundary+`"`) {
				t.Errorf("Content-Type %q, want boundary %s", signed.ContentType, tt.wantBoundary)
			}
			_, content := verifyGo(t, p, signed, at)
			if !bytes.Contains(content, []byte(tt.body)) {
				t.Errorf("signed content %q lacks the body", content)
			}
		})
	}
}
