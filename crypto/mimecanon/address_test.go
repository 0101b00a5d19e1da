package mimecanon

import (
	"errors"
	"mime"
	"net/mail"
	"strings"
	"testing"
)

func TestAddressFieldRewrite(t *testing.T) {
	tests := []struct {
		name, field, in, want string
		addrs                 []mail.Address // what net/mail reads from the result, if set
	}{
		{
			name: "latin-1 display name", field: "From",
			in:    "J\xf6rg M\xfcller <joerg@example.de>",
			want:  "=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de>",
			addrs: []mail.Address{{Name: "Jörg Müller", Address: "joerg@example.de"}},
		},
		{
			name: "cp1252 quotes and euro sign", field: "Reply-To",
			in:    "\x93Caf\xe9\x94 \x80 <cafe@example.fr>",
			want:  "=?utf-8?q?=E2=80=9CCaf=C3=A9=E2=80=9D_=E2=82=AC?= <cafe@example.fr>",
			addrs: []mail.Address{{Name: "“Café” €", Address: "cafe@example.fr"}},
		},
		{
			name: "utf-8 quoted string with specials", field: "To",
			in:    `"Müller, Jörg (Vertrieb)" <j@example.de>, plain@example.org`,
			want:  "=?utf-8?q?M=C3=BCller=2C_J=C3=B6rg_=28Vertrieb=29?= <j@example.de>, plain@example.org",
			addrs: []mail.Address{{Name: "Müller, Jörg (Vertrieb)", Address: "j@example.de"}, {Address: "plain@example.org"}},
		},
		{
			name: "ASCII words around stay readable", field: "From",
			in:   "Dr. J\xf6rg Meier <j@example.de>",
			want: "Dr. =?utf-8?q?J=C3=B6rg?= Meier <j@example.de>",
		},
		{
			name: "groups kept", field: "To",
			in:   "undisclosed-recipients: ;, Empf\xe4nger: a@example.org, \"B\xe4r\" <b@example.org>;",
			want: "undisclosed-recipients: ;, =?utf-8?q?Empf=C3=A4nger?=: a@example.org, =?utf-8?q?B=C3=A4r?= <b@example.org>;",
		},
		{
			name: "comments kept, their 8-bit words encoded", field: "Cc",
			in:    "joerg@example.de (J\xf6rg (M\xfcller) Team), K\xe4the <k@example.org> (Gesch\xe4ftsf\xfchrung\\(alt\\))",
			want:  "joerg@example.de (=?utf-8?q?J=C3=B6rg?= (=?utf-8?q?M=C3=BCller?=) Team), =?utf-8?q?K=C3=A4the?= <k@example.org> (=?utf-8?q?Gesch=C3=A4ftsf=C3=BChrung=28alt=29?=)",
			addrs: []mail.Address{{Name: "Jörg (Müller) Team", Address: "joerg@example.de"}, {Name: "Käthe", Address: "k@example.org"}},
		},
		{
			name: "quoted local part with > and a domain literal", field: "To",
			in:   "J\xf6rg <\"odd>name\"@example.de>, K\xe4the <k@[192.0.2.1]>",
			want: "=?utf-8?q?J=C3=B6rg?= <\"odd>name\"@example.de>, =?utf-8?q?K=C3=A4the?= <k@[192.0.2.1]>",
		},
		{
			name: "comment inside a display name", field: "From",
			in:   "J\xf6rg (privat) M\xfcller <j@example.de>",
			want: "=?utf-8?q?J=C3=B6rg?= (privat) =?utf-8?q?M=C3=BCller?= <j@example.de>",
		},
		{
			name: "long latin-1 subject: several encoded words", field: "Subject",
			in:   strings.Repeat("\xe4", 100),
			want: "=?iso-8859-1?b?" + strings.Repeat("5OTk", 14) + "?= =?iso-8859-1?b?" + strings.Repeat("5OTk", 14) + "?= =?iso-8859-1?b?" + strings.Repeat("5OTk", 5) + "5A==?=",
		},
		{
			name: "long name: several encoded words", field: "From",
			in:    strings.Repeat("Ä", 30) + " <long@example.org>",
			want:  "=?utf-8?q?" + strings.Repeat("=C3=84", 10) + "?= =?utf-8?q?" + strings.Repeat("=C3=84", 10) + "?= =?utf-8?q?" + strings.Repeat("=C3=84", 10) + "?= <long@example.org>",
			addrs: []mail.Address{{Name: strings.Repeat("Ä", 30), Address: "long@example.org"}},
		},
		{
			name: "internationalised address: whole value encoded", field: "From",
			in:   "J\xf6rg <j\xf6rg@example.de>",
			want: "=?iso-8859-1?b?",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := rewriteValue(tc.field, tc.in)
			if needsWords(got) {
				t.Fatalf("result not 7-bit: %q", got)
			}
			if !strings.HasPrefix(got, tc.want) || (!strings.HasSuffix(tc.want, "?b?") && got != tc.want) {
				t.Errorf("rewriteValue\n got %q\nwant %q", got, tc.want)
			}
			for _, w := range strings.Fields(got) {
				if strings.HasPrefix(w, "=?") && len(strings.Trim(w, "(),;")) > ewMax {
					t.Errorf("encoded word over %d characters: %q", ewMax, w)
				}
			}
			if tc.addrs == nil {
				return
			}
			as, err := mail.ParseAddressList(got)
			if err != nil {
				t.Fatalf("net/mail cannot read %q: %v", got, err)
			}
			dec := new(mime.WordDecoder)
			for i, a := range as {
				name, _ := dec.DecodeHeader(a.Name) // net/mail leaves words in comments encoded
				if i >= len(tc.addrs) || name != tc.addrs[i].Name || a.Address != tc.addrs[i].Address {
					t.Errorf("address %d: %q <%s>, want %v", i, name, a.Address, tc.addrs)
				}
			}
		})
	}
}

func TestEntityForwardedMessageKeepsAddresses(t *testing.T) {
	body := "--m\nContent-Type: message/rfc822\n\n" +
		"From: J\xf6rg M\xfcller <joerg@example.de> (Vertrieb)\nTo: undisclosed-recipients: ;\nCc: \"Caf\xe9\" <cafe@example.fr>\nSubject: Gr\xfc\xdfe\n\nText\n--m--\n"
	out, err := Entity([]Field{{"Content-Type", "multipart/mixed; boundary=m"}}, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\r\nFrom: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de> (Vertrieb)\r\n",
		"\r\nTo: undisclosed-recipients: ;\r\n",
		"\r\nCc: =?utf-8?q?Caf=C3=A9?= <cafe@example.fr>\r\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestFoldOnlyAtWhiteSpace(t *testing.T) {
	longID := "<" + strings.Repeat("a1b2c3d4", 130) + "@example.org>" // 1054 octets
	fitID := "<" + strings.Repeat("x", 970) + "@example.org>"         // fits on a line of its own
	words := strings.Repeat("Beschreibung mit Leerzeichen ", 60)
	tests := []struct {
		name    string
		fields  []Field
		wantErr string
		value   map[string]string // field name → unfolded value in the output
		param   [2]string         // field name, its decoded filename
	}{
		{name: "content-id over 998 octets is refused", fields: []Field{{"Content-Type", "text/plain"}, {"Content-ID", longID}},
			wantErr: "Content-ID has a word longer than 998 octets"},
		{name: "content-id that fits is folded before it, not cut", fields: []Field{{"Content-Type", "text/plain"}, {"Content-ID", fitID}},
			value: map[string]string{"Content-ID": fitID}},
		{name: "long latin-1 text folds between encoded words", fields: []Field{{"Content-Type", "text/plain"}, {"Content-Description", strings.Repeat("\xe4", 2000)}}},
		{name: "long RFC 2231 value becomes continuations", fields: []Field{{"Content-Type", "text/plain"}, {"Content-Disposition", "attachment; filename*=utf-8''" + strings.Repeat("%C3%A4", 400)}},
			param: [2]string{"Content-Disposition", strings.Repeat("ä", 400)}},
		{name: "long text folds at spaces", fields: []Field{{"Content-Type", "text/plain"}, {"Content-Description", words}},
			value: map[string]string{"Content-Description": strings.TrimSpace(words)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Entity(tc.fields, []byte("x\n"))
			if tc.wantErr != "" {
				if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want ErrMalformed with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := wireError(out); err != nil {
				t.Fatalf("not wire safe: %v", err)
			}
			h, _, _ := parseHeader(out)
			if tc.param[0] != "" {
				v, _ := h.get(tc.param[0])
				if _, ps, err := mime.ParseMediaType(v); err != nil || ps["filename"] != tc.param[1] {
					t.Errorf("%s: filename %q, %v", tc.param[0], ps["filename"], err)
				}
			}
			for name, want := range tc.value {
				got, _ := h.get(name)
				if strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(want), " ") || strings.ReplaceAll(got, " ", "") != strings.ReplaceAll(want, " ", "") {
					t.Errorf("%s changed:\n got %q\nwant %q", name, got, want)
				}
			}
		})
	}
}

// TestPartHeaderLineWithoutColon: a line that is no field ends the header
// section, as readers see it; the part stays intact when clean, and a field
// we add never lands after that line.
func TestPartHeaderLineWithoutColon(t *testing.T) {
	clean := "--b\r\nContent-Type: text/plain\r\nno colon here\r\nContent-Transfer-Encoding: 7bit\r\n\r\nhello\r\n--b--\r\n"
	out, err := Entity([]Field{{"Content-Type", "multipart/mixed; boundary=b"}}, []byte(clean))
	if err != nil {
		t.Fatal(err)
	}
	if want := "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + clean; string(out) != want {
		t.Errorf("clean part changed\n got %q\nwant %q", out, want)
	}

	dirty := "--b\nContent-Type: text/plain; charset=utf-8\nno colon here\nContent-Transfer-Encoding: 8bit\n\nGr\xc3\xbc\xc3\x9fe\n--b--\n"
	out, err = Entity([]Field{{"Content-Type", "multipart/mixed; boundary=b"}}, []byte(dirty))
	if err != nil {
		t.Fatal(err)
	}
	want := "--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nno colon here\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr=C3=BC=C3=9Fe\r\n--b--\r\n"
	if !strings.HasSuffix(string(out), want) {
		t.Errorf("8-bit part\n got %q\nwant …%q", out, want)
	}
	got := leaves(t, out)
	if len(got) != 1 || got[0].body != "no colon here\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße" {
		t.Errorf("decoded %q", got)
	}
}
