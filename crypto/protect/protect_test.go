package protect

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/mail"
	"strings"
	"testing"

	"github.com/mailseal/mailseal/crypto/mimecanon"
)

var outerHeader = []Field{
	{"Received", "from client.corp.example by mx.corp.example"},
	{"From", "Alice Example <alice@corp.example>"},
	{"To", "Bob <bob@partner.example>,\n\tCarol <carol@partner.example>"},
	{"Cc", "dave@partner.example"},
	{"Bcc", "eve@corp.example"},
	{"Subject", "Quarterly figures"},
	{"Date", "Sun, 29 Nov 2026 21:00:00 +0000"},
	{"Message-ID", "<abc@corp.example>"},
	{"X-Mailer", "Test 1.0"},
	{"MIME-Version", "1.0"},
	{"Content-Type", "text/plain"},
}

var textContent = []Field{
	{"Content-Type", "text/plain; charset=utf-8"},
	{"Content-Transfer-Encoding", "8bit"},
}

// parse reads an inner entity back as a reader would.
func parse(t *testing.T, entity []byte) *mail.Message {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(entity))
	if err != nil {
		t.Fatalf("inner entity does not parse: %v\n%s", err, entity)
	}
	return m
}

func TestWrapCopiesProtectedFieldsAndRecordsOuterValues(t *testing.T) {
	res, err := Wrap(outerHeader, textContent, []byte("Grüße\nzweite Zeile\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.HasSubject || res.OuterSubject != "..." {
		t.Errorf("outer subject = %q (has %v), want \"...\"", res.OuterSubject, res.HasSubject)
	}
	if !mimecanon.Is7BitClean(res.Entity) || bytes.Contains(bytes.ReplaceAll(res.Entity, []byte("\r\n"), nil), []byte("\n")) {
		t.Errorf("entity is not 7-bit CRLF:\n%s", res.Entity)
	}
	m := parse(t, res.Entity)
	for _, tc := range []struct{ name, want string }{
		{"Subject", "Quarterly figures"},
		{"From", "Alice Example <alice@corp.example>"},
		{"To", "Bob <bob@partner.example>, Carol <carol@partner.example>"},
		{"Cc", "dave@partner.example"},
		{"Date", "Sun, 29 Nov 2026 21:00:00 +0000"},
		{"Message-Id", "<abc@corp.example>"},
	} {
		if got := m.Header.Get(tc.name); got != tc.want {
			t.Errorf("inner %s = %q, want %q", tc.name, got, tc.want)
		}
	}
	for _, absent := range []string{"Bcc", "Received", "X-Mailer", "Mime-Version"} {
		if v := m.Header.Get(absent); v != "" {
			t.Errorf("inner header has %s: %q; it must not be copied", absent, v)
		}
	}
	hpOuter := m.Header["Hp-Outer"]
	wantOuter := []string{
		"From: Alice Example <alice@corp.example>",
		"To: Bob <bob@partner.example>, Carol <carol@partner.example>",
		"Cc: dave@partner.example",
		"Subject: ...",
		"Date: Sun, 29 Nov 2026 21:00:00 +0000",
		"Message-ID: <abc@corp.example>",
	}
	if strings.Join(hpOuter, "|") != strings.Join(wantOuter, "|") {
		t.Errorf("HP-Outer = %q\nwant       %q", hpOuter, wantOuter)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "text/plain" || params["hp"] != "cipher" || params["protected-headers"] != "v1" || params["charset"] != "utf-8" {
		t.Errorf("inner Content-Type = %q (%v)", m.Header.Get("Content-Type"), err)
	}
	if cte := m.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Errorf("8-bit body not made 7-bit: Content-Transfer-Encoding %q", cte)
	}
	body, _ := io.ReadAll(m.Body)
	if string(body) != "Gr=C3=BC=C3=9Fe\r\nzweite Zeile\r\n" {
		t.Errorf("body = %q", body)
	}
}

func TestWrapOptionsAndEdgeCases(t *testing.T) {
	tests := []struct {
		name        string
		header      []Field
		content     []Field
		opts        Options
		wantSubject bool
		outer       string // wanted outer subject
		contains    []string
		absent      []string
	}{
		{
			name:        "no subject: nothing to replace",
			header:      []Field{{"From", "a@corp.example"}},
			content:     textContent,
			contains:    []string{"From: a@corp.example\r\n", "HP-Outer: From: a@corp.example\r\n"},
			absent:      []string{"Subject"},
			wantSubject: false, outer: "...",
		},
		{
			name:        "RFC 9788 placeholder",
			header:      []Field{{"Subject", "secret"}},
			content:     textContent,
			opts:        Options{SubjectReplacement: "[...]"},
			contains:    []string{"\r\nSubject: secret\r\n", "HP-Outer: Subject: [...]\r\n"},
			wantSubject: true, outer: "[...]",
		},
		{
			name:        "8-bit values are encoded on their own, behind the name",
			header:      []Field{{"Subject", "Grüße"}, {"To", "Jörg <j@partner.example>"}},
			content:     textContent,
			contains:    []string{"Subject: =?utf-8?", "HP-Outer: To: =?utf-8?", "HP-Outer: Subject: ...\r\n"},
			wantSubject: true, outer: "...",
		},
		{
			name:        "existing hp parameter is replaced, not doubled",
			header:      []Field{{"Subject", "s"}},
			content:     []Field{{"Content-Type", `text/plain; hp="clear"; charset=us-ascii`}},
			contains:    []string{"hp=cipher", "protected-headers=v1"},
			absent:      []string{"clear"},
			wantSubject: true, outer: "...",
		},
		{
			name:        "missing Content-Type gets the default one, marked",
			header:      []Field{{"Subject", "s"}},
			content:     nil,
			contains:    []string{"Content-Type: text/plain; charset=us-ascii;\r\n protected-headers=\"v1\"; hp=\"cipher\"\r\n"},
			wantSubject: true, outer: "...",
		},
		{
			name:        "chosen fields only",
			header:      outerHeader,
			content:     textContent,
			opts:        Options{Fields: []string{"subject", "content-type"}},
			contains:    []string{"Subject: Quarterly figures\r\n"},
			absent:      []string{"From:", "HP-Outer: Content-Type"},
			wantSubject: true, outer: "...",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Wrap(tc.header, tc.content, []byte("hello\r\n"), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.HasSubject != tc.wantSubject || res.OuterSubject != tc.outer {
				t.Errorf("HasSubject %v OuterSubject %q, want %v %q", res.HasSubject, res.OuterSubject, tc.wantSubject, tc.outer)
			}
			s := string(res.Entity)
			for _, c := range tc.contains {
				if !strings.Contains(s, c) {
					t.Errorf("entity lacks %q:\n%s", c, s)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(s, a) {
					t.Errorf("entity has %q:\n%s", a, s)
				}
			}
			if n := strings.Count(strings.ToLower(s), "hp=") + strings.Count(strings.ToLower(s), "hp =") - strings.Count(strings.ToLower(s), "-hp="); n != 1 {
				t.Errorf("entity has %d hp parameters:\n%s", n, s)
			}
			parse(t, res.Entity)
		})
	}
}

func TestWrapDecodesEncodedSubject(t *testing.T) {
	res, err := Wrap([]Field{{"Subject", "Grüße aus Köln"}}, textContent, []byte("x\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := parse(t, res.Entity)
	got, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil || got != "Grüße aus Köln" {
		t.Errorf("inner Subject decodes to %q (%v)", got, err)
	}
}

func TestWrapKeepsMultipartIntact(t *testing.T) {
	body := "--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b1--\r\n"
	res, err := Wrap([]Field{{"Subject", "s"}}, []Field{{"Content-Type", "multipart/mixed; boundary=b1"}}, []byte(body), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := parse(t, res.Entity)
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || params["boundary"] != "b1" || params["hp"] != "cipher" {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	got, _ := io.ReadAll(m.Body)
	if string(got) != body {
		t.Errorf("multipart body changed:\n%q\nwant\n%q", got, body)
	}
}

func TestWrapRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		header  []Field
		content []Field
		opts    Options
	}{
		{"line break in replacement", nil, textContent, Options{SubjectReplacement: "a\r\nBcc: x@y"}},
		{"unparsable content type naming hp", nil, []Field{{"Content-Type", `text/plain; hp=cipher; charset="unterminated`}}, Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Wrap(tc.header, tc.content, []byte("x"), tc.opts); !errors.Is(err, ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed", err)
			}
		})
	}
}
