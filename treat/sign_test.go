package treat

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"crypto/x509"

	"github.com/mailseal/mailseal/crypto/smime"
)

func TestSign(t *testing.T) {
	p := newTestPKI(t)
	cases := []struct {
		name    string
		kind    string
		content []Field
		body    string
		want    string // text the verified content must contain
		wantErr error
	}{
		{"plain text rsa", "rsa2048", nil, "Hello Bob\r\n", "Hello Bob", nil},
		{"utf-8 ecdsa", "p256", []Field{{"Content-Type", "text/plain; charset=utf-8"}, {"Content-Transfer-Encoding", "8bit"}}, "Grüße\n", "Content-Transfer-Encoding: quoted-printable", nil},
		{"too large", "rsa2048", nil, strings.Repeat("x", 2000) + "\r\n", "", ErrTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cert, key := p.user("alice@corp.example", c.kind)
			s, err := smime.NewSigner(key, cert, []*x509.Certificate{p.caCert}, smime.WithMaxSize(1024))
			if err != nil {
				t.Fatal(err)
			}
			e, err := Sign(s, c.content, strings.NewReader(c.body))
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) || !IsPermanent(err) {
					t.Fatalf("err = %v, want %v (permanent)", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(e.ContentType(), "multipart/signed;") {
				t.Fatalf("content type %q", e.ContentType())
			}
			dir := t.TempDir()
			ca := writePEM(t, dir, "ca.pem", nil, p.caCert)
			msg := append([]byte("MIME-Version: 1.0\r\n"), e.Bytes()...)
			out := run(t, msg, "openssl", "cms", "-verify", "-purpose", "smimesign", "-CAfile", ca)
			if !bytes.Contains(out, []byte(c.want)) {
				t.Fatalf("verified content lacks %q:\n%s", c.want, out)
			}
		})
	}
}
