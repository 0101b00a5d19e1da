package smime

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestSignEntityReader: the entity read from a reader is signed exactly as it is,
// non-canonical entities and a wrong size are refused.
func TestSignEntityReader(t *testing.T) {
	p := getPKI(t)
	now := time.Now()
	good := "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0yLjAK\r\n--b--\r\n"
	cases := []struct {
		name    string
		entity  string
		size    int64
		wantErr error
	}{
		{"canonical", good, int64(len(good)), nil},
		{"bare LF", strings.ReplaceAll(good, "\r\n", "\n"), int64(len(strings.ReplaceAll(good, "\r\n", "\n"))), ErrMalformed},
		{"8-bit", strings.Replace(good, "JVBE", "Grüß", 1), int64(len(good) + 2), ErrMalformed},
		{"shorter than said", good, int64(len(good) + 1), ErrMalformed},
		{"longer than said", good, int64(len(good) - 3), ErrMalformed}, // the cut entity lacks its last CRLF
		{"negative size", good, -1, ErrTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := p.signer(t, "rsa", WithClock(func() time.Time { return now }))
			signed, err := s.SignEntityReader(strings.NewReader(c.entity), c.size)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, content := verifyGo(t, p, signed, now)
			if !bytes.Equal(content, []byte(c.entity)) {
				t.Fatalf("signed content differs from the entity:\n%q\n%q", content, c.entity)
			}
		})
	}
}
