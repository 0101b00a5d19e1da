package protect

import (
	"bytes"
	"testing"

	"github.com/mailseal/mailseal/crypto/mimecanon"
)

// FuzzWrap feeds outside header values, content types and bodies to Wrap:
// it must never panic, and what it returns must be a 7-bit clean entity
// whose header block ends before the body and names hp="cipher" once.
func FuzzWrap(f *testing.F) {
	f.Add("Grüße", "Bob <b@x.example>", "text/plain; charset=utf-8", []byte("body\n"))
	f.Add("a\n\tb", "=?utf-8?q?x?= <a@b>", `multipart/mixed; boundary="b"`, []byte("--b\r\n\r\nx\r\n--b--\r\n"))
	f.Add("", "", `text/plain; hp="clear"`, []byte{0, 0xff, '\r'})
	f.Add("\r\n", ":", "text/plain; hp=cipher; x=\"", []byte(""))
	f.Fuzz(func(t *testing.T, subject, to, ct string, body []byte) {
		res, err := Wrap(
			[]Field{{"Subject", subject}, {"To", to}, {"From", to}},
			[]Field{{"Content-Type", ct}},
			body, Options{})
		if err != nil {
			return
		}
		if !mimecanon.Is7BitClean(res.Entity) {
			t.Fatalf("entity not 7-bit clean: %q", res.Entity)
		}
		end := bytes.Index(res.Entity, []byte("\r\n\r\n"))
		if end < 0 {
			t.Fatalf("no header block: %q", res.Entity)
		}
		if !bytes.Contains(res.Entity[:end], []byte("cipher")) {
			t.Fatalf("no hp=cipher in header: %q", res.Entity[:end])
		}
	})
}
