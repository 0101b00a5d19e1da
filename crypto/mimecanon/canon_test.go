package mimecanon

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"strings"
	"testing"

	"github.com/emersion/go-message"
)

// wireError reports why b would not survive 7-bit SMTP unchanged.
func wireError(b []byte) error {
	lineLen := 0
	for i, c := range b {
		switch {
		case c >= 0x80 || c == 0:
			return fmt.Errorf("byte 0x%02x at %d", c, i)
		case c == '\r' && (i+1 >= len(b) || b[i+1] != '\n'):
			return fmt.Errorf("bare CR at %d", i)
		case c == '\n' && (i == 0 || b[i-1] != '\r'):
			return fmt.Errorf("bare LF at %d", i)
		case c == '\n':
			lineLen = 0
		case c != '\r':
			if lineLen++; lineLen > MaxLineLength {
				return fmt.Errorf("line over %d octets at %d", MaxLineLength, i)
			}
		}
	}
	return nil
}

// leaf is what an independent parser (go-message) decodes from one leaf.
type leaf struct {
	ct, disp, body string
}

func leaves(t *testing.T, raw []byte) []leaf {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("go-message read: %v\n%s", err, raw)
	}
	var out []leaf
	err = e.Walk(func(_ []int, p *message.Entity, err error) error {
		if err != nil {
			return err
		}
		if p.MultipartReader() != nil {
			return nil
		}
		mt, params, _ := p.Header.ContentType()
		_, dparams, _ := p.Header.ContentDisposition()
		b, err := io.ReadAll(p.Body)
		if err != nil {
			return err
		}
		out = append(out, leaf{ct: mt + fmtParam(params, "name") + fmtParam(params, "charset"), disp: dparams["filename"], body: string(b)})
		return nil
	})
	if err != nil {
		t.Fatalf("walk: %v\n%s", err, raw)
	}
	return out
}

func fmtParam(p map[string]string, k string) string {
	if v, ok := p[k]; ok {
		return ";" + k + "=" + v
	}
	return ""
}

const utf8Text = "Grüße aus Köln – ✓\nZeile 2\n"

var crlfText = strings.ReplaceAll(utf8Text, "\n", "\r\n")

var binData = "\x00\x01\x02\xff\xfe\r\x80\n\nend\r\n"

func TestEntity(t *testing.T) {
	tests := []struct {
		name     string
		fields   []Field
		body     string
		want     string   // exact output, if set
		contains []string // substrings of the output
		absent   []string
		leaves   []leaf // decoded by go-message, if set
	}{
		{
			name:   "clean text LF becomes CRLF, nothing else changes",
			fields: []Field{{"Content-Type", "text/plain; charset=us-ascii"}, {"MIME-Version", "1.0"}, {"Subject", "ignored"}},
			body:   "Hello\nWorld\n",
			want:   "Content-Type: text/plain; charset=us-ascii\r\n\r\nHello\r\nWorld\r\n",
		},
		{
			name:   "folded fields from the milter",
			fields: []Field{{"Content-Type", "text/plain;\n\tcharset=us-ascii"}, {"Content-Transfer-Encoding", " 7bit"}},
			body:   "x",
			want:   "Content-Type: text/plain;\r\n\tcharset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\nx",
		},
		{
			name:   "injection through a folded value is defused",
			fields: []Field{{"Content-Type", "text/plain\nX-Evil: 1\n\nbody"}},
			body:   "x",
			want:   "Content-Type: text/plain\r\n X-Evil: 1\r\n body\r\n\r\nx",
		},
		{
			name: "no content type, 7-bit",
			body: "hi\n",
			want: "Content-Type: text/plain; charset=us-ascii\r\n\r\nhi\r\n",
		},
		{
			name:     "no content type, 8-bit",
			body:     utf8Text,
			leaves:   []leaf{{ct: "text/plain;charset=utf-8", body: crlfText}},
			contains: []string{"Content-Transfer-Encoding: quoted-printable", "Gr=C3=BC=C3=9Fe"},
		},
		{
			name:     "8-bit utf-8 text/plain",
			fields:   []Field{{"Content-Type", "text/plain; charset=utf-8"}, {"Content-Transfer-Encoding", "8bit"}},
			body:     utf8Text,
			leaves:   []leaf{{ct: "text/plain;charset=utf-8", body: crlfText}},
			contains: []string{"Content-Transfer-Encoding: quoted-printable\r\n"},
			absent:   []string{"8bit"},
		},
		{
			name:   "clean part declared 8bit is relabelled 7bit",
			fields: []Field{{"Content-Type", "text/plain"}, {"Content-Transfer-Encoding", "8bit"}},
			body:   "plain\n",
			want:   "Content-Type: text/plain\r\nContent-Transfer-Encoding: 7bit\r\n\r\nplain\r\n",
		},
		{
			name:     "long line",
			fields:   []Field{{"Content-Type", "text/plain"}},
			body:     strings.Repeat("abcdefghij", 150) + "\n",
			leaves:   []leaf{{ct: "text/plain", body: strings.Repeat("abcdefghij", 150) + "\r\n"}},
			contains: []string{"=\r\n"},
		},
		{
			name:   "line of exactly 998 octets is kept",
			fields: []Field{{"Content-Type", "text/plain"}},
			body:   strings.Repeat("a", 998) + "\n",
			want:   "Content-Type: text/plain\r\n\r\n" + strings.Repeat("a", 998) + "\r\n",
		},
		{
			name:     "bare CR and NUL in text",
			fields:   []Field{{"Content-Type", "text/plain"}},
			body:     "a\rb\x00c\r\nFrom me\ntrailing \n",
			leaves:   []leaf{{ct: "text/plain", body: "a\rb\x00c\r\nFrom me\r\ntrailing \r\n"}},
			contains: []string{"a=0Db=00c\r\n=46rom me\r\ntrailing=20\r\n"},
		},
		{
			name:   "multipart/mixed with 8-bit text and binary attachment",
			fields: []Field{{"Content-Type", `multipart/mixed; boundary="b1"`}, {"Content-Transfer-Encoding", "8bit"}},
			body: "This is MIME.\n--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + utf8Text +
				"\n--b1\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"Müller Ä.bin\"\nContent-Transfer-Encoding: binary\n\n" +
				binData + "\n--b1--\nepilogue\n",
			leaves: []leaf{
				{ct: "text/plain;charset=utf-8", body: crlfText},
				{ct: "application/octet-stream", disp: "Müller Ä.bin", body: binData},
			},
			contains: []string{"Content-Transfer-Encoding: 7bit\r\n\r\nThis is MIME.\r\n--b1\r\n", "Content-Transfer-Encoding: base64",
				"filename*=utf-8''M%C3%BCller%20%C3%84.bin", "\r\n--b1--\r\nepilogue\r\n",
				base64.StdEncoding.EncodeToString([]byte(binData))},
			absent: []string{"binary", "8bit"},
		},
		{
			name:   "already base64 and QP parts untouched",
			fields: []Field{{"Content-Type", "multipart/mixed; boundary=zz"}},
			body: "--zz\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n" +
				"--zz\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe  =\r\nx\r\n--zz--\r\n",
			want: "Content-Type: multipart/mixed; boundary=zz\r\n\r\n" +
				"--zz\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n" +
				"--zz\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe  =\r\nx\r\n--zz--\r\n",
		},
		{
			name:   "base64 in one endless line is rewrapped",
			fields: []Field{{"Content-Type", "application/pdf"}, {"Content-Transfer-Encoding", "base64"}},
			body:   base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("pdf!"), 500)),
			leaves: []leaf{{ct: "application/pdf", body: strings.Repeat("pdf!", 500)}},
		},
		{
			name:   "quoted-printable with raw 8-bit bytes is repaired",
			fields: []Field{{"Content-Type", "text/plain; charset=utf-8"}, {"Content-Transfer-Encoding", "quoted-printable"}},
			body:   "caf=C3=A9 und Grüße " + strings.Repeat("x=3D", 300) + "\n",
			leaves: []leaf{{ct: "text/plain;charset=utf-8", body: "café und Grüße " + strings.Repeat("x=", 300) + "\r\n"}},
		},
		{
			name:   "nested multiparts, LF only",
			fields: []Field{{"Content-Type", "multipart/mixed; boundary=outer"}},
			body: "--outer\nContent-Type: multipart/alternative; boundary=\"inner\"\n\n--inner\nContent-Type: text/plain; charset=utf-8\n\n" + utf8Text +
				"\n--inner\nContent-Type: text/html; charset=utf-8\n\n<p>" + utf8Text + "</p>\n--inner--\n" +
				"\n--outer\nContent-Type: text/plain\n\nclean\n--outer--\n",
			leaves: []leaf{
				{ct: "text/plain;charset=utf-8", body: crlfText},
				{ct: "text/html;charset=utf-8", body: "<p>" + crlfText + "</p>"},
				{ct: "text/plain", body: "clean"},
			},
			contains: []string{"--outer\r\nContent-Type: text/plain\r\n\r\nclean\r\n--outer--\r\n"},
		},
		{
			name:   "message/rfc822 with 8-bit headers and body is walked",
			fields: []Field{{"Content-Type", "multipart/mixed; boundary=m"}},
			body: "--m\nContent-Type: message/rfc822\nContent-Transfer-Encoding: 8bit\n\nFrom: Jörg <j@example.org>\nSubject: Grüße\nContent-Type: text/plain; charset=utf-8\n\n" +
				utf8Text + "--m--\n",
			contains: []string{"From: =?utf-8?q?J=C3=B6rg?= <j@example.org>", "Subject: =?utf-8?", "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n"},
		},
		{
			name:     "8-bit multipart without boundary becomes an attachment",
			fields:   []Field{{"Content-Type", "multipart/mixed"}},
			body:     utf8Text,
			leaves:   []leaf{{ct: "application/octet-stream", body: utf8Text}},
			contains: []string{"Content-Transfer-Encoding: base64"},
		},
		{
			name:   "8-bit preamble is dropped",
			fields: []Field{{"Content-Type", "multipart/mixed; boundary=p"}},
			body:   "Vorspann ü\n--p\n\nhi\n--p--\n",
			want:   "Content-Type: multipart/mixed; boundary=p\r\n\r\n\r\n--p\r\n\r\nhi\r\n--p--\r\n",
		},
		{
			name:     "8-bit description and very long parameter",
			fields:   []Field{{"Content-Type", "application/octet-stream; name=\"" + strings.Repeat("ä", 600) + "\""}, {"Content-Description", "Bericht für März"}},
			body:     "x",
			leaves:   []leaf{{ct: "application/octet-stream;name=" + strings.Repeat("ä", 600), body: "x"}},
			contains: []string{"Content-Description: =?utf-8?", "name*0*=utf-8''"},
		},
		{
			name:     "latin-1 header bytes",
			fields:   []Field{{"Content-Type", "text/plain"}, {"Content-Description", "M\xfcller"}},
			body:     "x",
			contains: []string{"Content-Description: =?iso-8859-1?b?TfxsbGVy?="},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Entity(tc.fields, []byte(tc.body))
			if err != nil {
				t.Fatalf("Entity: %v", err)
			}
			if err := wireError(out); err != nil {
				t.Fatalf("not wire safe: %v\n%s", err, out)
			}
			if tc.want != "" && string(out) != tc.want {
				t.Errorf("output\n got %q\nwant %q", out, tc.want)
			}
			for _, s := range tc.contains {
				if !bytes.Contains(out, []byte(s)) {
					t.Errorf("output lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.absent {
				if bytes.Contains(out, []byte(s)) {
					t.Errorf("output contains %q:\n%s", s, out)
				}
			}
			if tc.leaves != nil {
				got := leaves(t, out)
				if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.leaves) {
					t.Errorf("decoded leaves\n got %q\nwant %q\noutput:\n%s", got, tc.leaves, out)
				}
			}
		})
	}
}

func TestEntityIdempotent(t *testing.T) {
	in := "--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + utf8Text + strings.Repeat("y", 2000) + "\n--b--\n"
	first, err := Entity([]Field{{"Content-Type", "multipart/mixed; boundary=b"}}, []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	hdrEnd := bytes.Index(first, []byte("\r\n\r\n"))
	second, err := Entity([]Field{{"Content-Type", "multipart/mixed; boundary=b"}}, first[hdrEnd+4:])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Errorf("second pass changed the entity\nfirst  %q\nsecond %q", first, second)
	}
}

func TestEntityDepthLimit(t *testing.T) {
	var b strings.Builder
	for i := range MaxDepth + 5 {
		fmt.Fprintf(&b, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i, i+1)
	}
	_, err := Entity([]Field{{"Content-Type", "multipart/mixed; boundary=b0"}}, []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "nested") {
		t.Fatalf("error %v, want nesting error", err)
	}
}

func TestParamsRoundTrip(t *testing.T) {
	for _, v := range []string{"Müller.pdf", strings.Repeat("€", 100), `a "quoted" name;x`, "plain"} {
		out := formatParams("attachment", []param{{"filename", v}})
		_, ps, err := mime.ParseMediaType(out)
		if err != nil || ps["filename"] != v {
			t.Errorf("formatParams(%q) = %q, parsed %q, %v", v, out, ps["filename"], err)
		}
	}
}
