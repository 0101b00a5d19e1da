package mimecanon

import (
	"bytes"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
)

// fromLineAt returns the offset of a line of b that starts with "From " (as
// mbox delivery would quote it), or -1.
func fromLineAt(b []byte) int {
	if bytes.HasPrefix(b, fromLine) {
		return 0
	}
	if i := bytes.Index(b, []byte("\nFrom ")); i >= 0 {
		return i + 1
	}
	return -1
}

// TestWriteQPSoftBreakBeforeFrom puts "From " at every offset around the
// soft break: no output line may start with it, and decoding gives the
// input back.
func TestWriteQPSoftBreakBeforeFrom(t *testing.T) {
	prefixes := map[string]string{"ascii": "x", "escaped": "\xe4", "mixed": "a=b\xfc"}
	for name, unit := range prefixes {
		for n := range 90 {
			in := []byte(strings.Repeat(unit, n) + "From here to there\xe4\nFrom the start\n")
			var w bytes.Buffer
			writeQP(&w, in)
			if at := fromLineAt(w.Bytes()); at >= 0 {
				t.Fatalf("%s/%d: line starting \"From \" at %d:\n%s", name, n, at, w.Bytes())
			}
			got, err := io.ReadAll(quotedprintable.NewReader(&w))
			if err != nil || !bytes.Equal(got, bytes.ReplaceAll(in, []byte("\n"), []byte("\r\n"))) {
				t.Fatalf("%s/%d: decoded %q, %v", name, n, got, err)
			}
		}
	}
}

// TestRepairQPFromLines: an already encoded part keeps its decoded text;
// literal "From " at a line start (after a hard or soft break) is escaped.
func TestRepairQPFromLines(t *testing.T) {
	for _, in := range []string{
		"From me=\r\nFrom you\r\n",
		"abc=\r\nFrom the soft break\r\n",
		strings.Repeat("y", 74) + "From " + strings.Repeat("z", 30) + "\xe4\r\n",
		"From " + strings.Repeat("=C3=A4", 30) + "\r\n",
	} {
		var w bytes.Buffer
		repairQP(&w, []byte(in))
		if at := fromLineAt(w.Bytes()); at >= 0 {
			t.Errorf("%q: line starting \"From \" at %d:\n%s", in, at, w.Bytes())
		}
		want, _ := io.ReadAll(quotedprintable.NewReader(strings.NewReader(in)))
		got, err := io.ReadAll(quotedprintable.NewReader(&w))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%q: decoded %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestEntityMboxSafe(t *testing.T) {
	tests := []struct {
		name     string
		fields   []Field
		body     string
		contains []string
		leaves   []leaf
	}{
		{
			name:     "7-bit text part becomes quoted-printable",
			fields:   []Field{{"Content-Type", "text/plain; charset=us-ascii"}, {"Content-Transfer-Encoding", "7bit"}},
			body:     "Hello\nFrom the start of a line.\n",
			contains: []string{"Content-Transfer-Encoding: quoted-printable\r\n\r\nHello\r\n=46rom the start of a line.\r\n"},
			leaves:   []leaf{{ct: "text/plain;charset=us-ascii", body: "Hello\r\nFrom the start of a line.\r\n"}},
		},
		{
			name:     "7-bit non-text part becomes quoted-printable",
			fields:   []Field{{"Content-Type", "application/pgp-keys"}},
			body:     "From x\n",
			contains: []string{"Content-Transfer-Encoding: quoted-printable\r\n\r\n=46rom x\r\n"},
			leaves:   []leaf{{ct: "application/pgp-keys", body: "From x\r\n"}},
		},
		{
			name:     "already quoted-printable part",
			fields:   []Field{{"Content-Type", "text/plain"}, {"Content-Transfer-Encoding", "quoted-printable"}},
			body:     "Gr=C3=BC=C3=9Fe\r\nFrom Bob=\r\nFrom soft\r\n",
			contains: []string{"Gr=C3=BC=C3=9Fe\r\n=46rom Bob=\r\n=46rom soft\r\n"},
			leaves:   []leaf{{ct: "text/plain", body: "Grüße\r\nFrom BobFrom soft\r\n"}},
		},
		{
			name:     "our own QP output after a soft break",
			fields:   []Field{{"Content-Type", "text/plain; charset=utf-8"}, {"Content-Transfer-Encoding", "8bit"}},
			body:     strings.Repeat("ü", 25) + "From here\n",
			contains: []string{"=\r\n=46rom here\r\n"},
			leaves:   []leaf{{ct: "text/plain;charset=utf-8", body: strings.Repeat("ü", 25) + "From here\r\n"}},
		},
		{
			name:     "preamble, epilogue and a header line",
			fields:   []Field{{"Content-Type", "multipart/mixed; boundary=b"}},
			body:     "From the preamble\n--b\nContent-Type: message/rfc822\n\nFrom : a@example.org\nSubject: x\n\nhi\n--b--\nFrom the epilogue\n",
			contains: []string{"--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: a@example.org\r\nSubject: x\r\n\r\nhi\r\n--b--\r\n"},
		},
		{
			name:     "envelope line of a forwarded message is dropped",
			fields:   []Field{{"Content-Type", "message/rfc822"}},
			body:     "From joerg@example.de Wed Nov 25 09:00:00 2026\nFrom: j@example.de\nSubject: s\n\nbody\n",
			contains: []string{"Content-Type: message/rfc822\r\n\r\nFrom: j@example.de\r\nSubject: s\r\n\r\nbody\r\n"},
		},
		{
			name:     "base64 part with a stray From line",
			fields:   []Field{{"Content-Type", "image/png"}, {"Content-Transfer-Encoding", "base64"}},
			body:     "aGVsbG8g\nFrom d29ybGQ=\n",
			contains: []string{"aGVsbG8gFromd29ybGQ=\r\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Entity(tc.fields, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if err := wireError(out); err != nil {
				t.Fatalf("not wire safe: %v\n%s", err, out)
			}
			if at := fromLineAt(out); at >= 0 {
				t.Fatalf("line starting \"From \" at %d:\n%s", at, out)
			}
			for _, s := range tc.contains {
				if !bytes.Contains(out, []byte(s)) {
					t.Errorf("output lacks %q:\n%q", s, out)
				}
			}
			if tc.leaves != nil {
				if got := leaves(t, out); len(got) != len(tc.leaves) || got[0] != tc.leaves[0] {
					t.Errorf("decoded leaves %q, want %q", got, tc.leaves)
				}
			}
		})
	}
}
