package mimecanon

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"
)

// FuzzEntity checks that Entity never panics and always returns wire-safe
// output with no line that mbox delivery would quote ("From "), and that a
// second pass over its output changes neither body nor field values.
func FuzzEntity(f *testing.F) {
	f.Add("multipart/mixed; boundary=b", "8bit", []byte("--b\nContent-Type: text/plain\n\n\xff\n--b--\n"))
	f.Add("message/rfc822", "", []byte("Subject: \xe4\n\nbody\r\x00"))
	f.Add("text/plain", "quoted-printable", []byte("=C3=A4\xe4=\n=="))
	f.Add("", "", []byte("plain"))
	f.Add("text/plain", "7bit", []byte("a\nFrom b\n"+strings.Repeat("\xfc", 25)+"From c\n"))
	f.Add("text/plain", "quoted-printable", []byte("x=\r\nFrom y\r\n"))
	f.Add("multipart/mixed; boundary=b", "", []byte("From pre\n--b\nContent-Type: text/plain\nno colon\nContent-Transfer-Encoding: 8bit\n\n\xe4\n--b--\nFrom epi\n"))
	f.Add("message/rfc822", "", []byte("From: J\xf6rg (M\xfcller) <j@example.de>, g: ;\nContent-ID: <"+strings.Repeat("i", 1000)+">\n\nx"))
	f.Fuzz(func(t *testing.T, ct, cte string, body []byte) {
		fields := []Field{{"Content-Type", ct}, {"Content-Transfer-Encoding", cte}}
		out, err := Entity(fields, body)
		if err != nil {
			return
		}
		if err := wireError(out); err != nil {
			t.Fatalf("not wire safe: %v\n%q", err, out)
		}
		if at := fromLineAt(out); at >= 0 {
			t.Fatalf("line starting \"From \" at %d:\n%q", at, out)
		}
		h, rest, _ := parseHeader(out)
		again := make([]Field, len(h))
		for i, f := range h {
			again[i] = Field{f.name, string(f.raw[bytes.IndexByte(f.raw, ':')+1:])}
		}
		out2, err := Entity(again, rest)
		if err != nil {
			t.Fatalf("second pass: %v\n%q", err, out)
		}
		// Compared: the body bytes and the unfolded field values (how a
		// milter-delivered value is refolded is fieldFromValue's business).
		h2, rest2, _ := parseHeader(out2)
		if !bytes.Equal(rest2, rest) || len(h2) != len(h) {
			t.Fatalf("second pass changed the entity\nfirst  %q\nsecond %q", out, out2)
		}
		for i := range h {
			if h[i].name != h2[i].name || h[i].value() != h2[i].value() {
				t.Fatalf("second pass changed field %q: %q → %q", h[i].name, h[i].value(), h2[i].value())
			}
		}
	})
}

// FuzzAddressList checks that rewriting an address field never panics,
// yields 7-bit text, and keeps every address net/mail could read before.
func FuzzAddressList(f *testing.F) {
	f.Add("J\xf6rg M\xfcller <joerg@example.de>")
	f.Add(`"Müller, Jörg" <j@example.de>, undisclosed: ;, a@b (K\xe4the \(x\))`)
	f.Add("Dr. J\xf6rg (p) M\xfcller <j@example.de>, G\xe4ste: a@b, c@d;")
	f.Add("<\"a>b\"@x> (((\xe4")
	f.Fuzz(func(t *testing.T, v string) {
		got := rewriteValue("To", v)
		if needsWords(got) {
			t.Fatalf("not 7-bit: %q", got)
		}
		before, err := mail.ParseAddressList(v)
		if err != nil {
			return
		}
		for _, a := range before {
			if needsWords(a.Address) {
				return // an internationalised address has no 7-bit form
			}
		}
		after, err := mail.ParseAddressList(got)
		if err != nil {
			t.Fatalf("net/mail read %q but not its rewrite %q: %v", v, got, err)
		}
		if len(after) != len(before) {
			t.Fatalf("%q: %d addresses, rewrite %q has %d", v, len(before), got, len(after))
		}
		for i := range before {
			if before[i].Address != after[i].Address {
				t.Fatalf("%q: address %q became %q (%q)", v, before[i].Address, after[i].Address, got)
			}
		}
	})
}
