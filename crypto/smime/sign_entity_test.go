package smime

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignEntity(t *testing.T) {
	p := getPKI(t)
	now := time.Now()
	good := "Content-Type: text/plain; charset=us-ascii; hp=\"cipher\"\r\nSubject: Offer\r\nHP-Outer: Subject: ...\r\n\r\nHello\r\n"
	cases := []struct {
		name    string
		entity  string
		wantErr error
	}{
		{"protected headers kept", good, nil},
		{"bare LF", strings.ReplaceAll(good, "\r\n", "\n"), ErrMalformed},
		{"8-bit", strings.Replace(good, "Hello", "Grüße", 1), ErrMalformed},
		{"From line", strings.Replace(good, "Hello", "From here", 1), ErrMalformed},
		{"long line", strings.Replace(good, "Hello", strings.Repeat("x", 999), 1), ErrMalformed},
		{"no body separator", "Content-Type: text/plain\r\n", ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := p.signer(t, "rsa", WithClock(func() time.Time { return now }))
			signed, err := s.SignEntity([]byte(c.entity))
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
