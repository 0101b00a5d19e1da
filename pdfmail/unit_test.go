package pdfmail

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
)

func TestHTMLToText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`<p>Hallo <b>Welt</b></p><p>zwei</p>`, "Hallo Welt\n\nzwei"},
		{`a<br>b<br/>c`, "a\nb\nc"},
		{`<a href="https://x.example/">Klick</a> hier`, "Klick <https://x.example/> hier"},
		{`<a href="https://x.example/">https://x.example/</a>`, "https://x.example/"},
		{`<a href="mailto:a@b.example">a@b.example</a>`, "a@b.example"},
		{`<a href="#top">oben</a>`, "oben"},
		{`<a href="javascript:evil()">x</a>`, "x"},
		{`<a href="https://i.example/"><img src="i.png" alt="Logo"></a>`, "[Logo] <https://i.example/>"},
		{`<script>var x=1;</script><style>p{}</style>Text`, "Text"},
		{`<ul><li>eins</li><li>zwei</li></ul>`, "• eins\n• zwei"},
		{`<pre>  a
    b</pre>`, "a\n    b"},
		{`<table><tr><td>1</td><td>2</td></tr><tr><td>3</td></tr></table>`, "1 2\n3"},
		{`Gr&uuml;&szlig;e &amp; &lt;mehr&gt;`, "Grüße & <mehr>"},
		{`<div>x</div><div>y</div>`, "x\ny"},
		{``, ""},
		{`<<<>>>`, "<<<>>>"},
	} {
		if got := htmlToText(tc.in); got != tc.want {
			t.Errorf("htmlToText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNewPassword(t *testing.T) {
	shape := regexp.MustCompile(`^[a-km-np-z2-9]{4}(-[a-km-np-z2-9]{4}){3}$`)
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		pw, err := NewPassword(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if !shape.MatchString(pw) {
			t.Fatalf("password %q has the wrong shape", pw)
		}
		if strings.ContainsAny(pw, "01loOIL") {
			t.Fatalf("password %q has an ambiguous character", pw)
		}
		if seen[pw] {
			t.Fatalf("password %q repeated", pw)
		}
		seen[pw] = true
	}
	if PasswordBits < 80 || len(passwordAlphabet) != 32 {
		t.Errorf("PasswordBits = %d with %d symbols", PasswordBits, len(passwordAlphabet))
	}
	// Every symbol is reachable: the mapping uses all 32.
	all, _ := NewPassword(bytes.NewReader([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}))
	if all != "abcd-efgh-ijkm-npqr" {
		t.Errorf("deterministic password %q", all)
	}
	if _, err := NewPassword(iotest.ErrReader(errors.New("no entropy"))); err == nil {
		t.Error("NewPassword with a failing reader: no error")
	}
	o1, _ := NewOwnerPassword(rand.Reader)
	o2, _ := NewOwnerPassword(rand.Reader)
	if len(o1) < 50 || o1 == o2 {
		t.Errorf("owner passwords %q, %q", o1, o2)
	}
	if _, err := NewOwnerPassword(iotest.ErrReader(errors.New("no entropy"))); err == nil {
		t.Error("NewOwnerPassword with a failing reader: no error")
	}
}

func TestUniqueNames(t *testing.T) {
	in := []string{"a.txt", "A.TXT", "a.txt", "", "..", "x/y\\z:w", "message.eml", "bad\x00name", ".hidden", strings.Repeat("ä", 200) + ".pdf"}
	var aa []attachment
	for _, n := range in {
		aa = append(aa, attachment{Name: n})
	}
	var got []string
	for _, a := range uniqueNames(aa) {
		got = append(got, a.Name)
	}
	want := []string{"a.txt", "A (2).TXT", "a (3).txt", "attachment", "attachment (2)", "x_y_z_w", "message (2).eml", "bad_name", "hidden", strings.Repeat("ä", 116) + ".pdf"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("uniqueNames:\n got %q\nwant %q", got, want)
	}
}

func TestWrapKeepsEveryCharacter(t *testing.T) {
	cov, err := fontCoverage()
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPage(cov, "Page")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"",
		"kurz",
		"    eingerückt und dann ein sehr langer Satz, der über die Zeile hinausgeht und umbrechen muss, wieder und wieder und wieder.",
		strings.Repeat("W", 300),
		strings.Repeat("Ωμέγα ", 60) + strings.Repeat("Щ", 150),
		"a" + strings.Repeat(" ", 500) + "b",
	} {
		for _, maxW := range []float64{5, 80, 495} {
			lines, err := p.wrap(s, maxW)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.ReplaceAll(strings.Join(lines, ""), " ", ""); got != strings.ReplaceAll(s, " ", "") {
				t.Errorf("wrap(%.20q, %v) lost text: %q", s, maxW, lines)
			}
			for _, l := range lines {
				w, _ := p.width(l)
				if w > maxW && len([]rune(strings.TrimSpace(l))) > 1 {
					t.Errorf("wrap(%.20q, %v): line %q is %v wide", s, maxW, l, w)
				}
			}
		}
	}
}

func TestShowable(t *testing.T) {
	cov, err := fontCoverage()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in, want string
		n        int
	}{
		{"Grüße Ωμέγα Щука", "Grüße Ωμέγα Щука", 0},
		{"a\tb", "a   b", 0},
		{"ab\tc", "ab  c", 0},
		{"x\x01y", "x\uFFFD[U+0001]y", 1},
		{"中", "\uFFFD[U+4E2D]", 1},
		{"bad\xffutf8", "bad\uFFFDutf8", 0},
	} {
		got, n := cov.showable(tc.in)
		if got != tc.want || n != tc.n {
			t.Errorf("showable(%q) = %q, %d; want %q, %d", tc.in, got, n, tc.want, tc.n)
		}
	}
}

func TestParseMessage(t *testing.T) {
	for _, tc := range []struct {
		name, msg, body string
		html            bool
		atts            int
	}{
		{"latin1 body", "Subject: x\nContent-Type: text/plain; charset=iso-8859-1\n\nGr\xfc\xdfe\n", "Grüße\n", false, 0},
		{"no charset 8bit", "Subject: x\n\nGr\xfc\xdfe\n", "Grüße\n", false, 0},
		{"unknown charset utf8", "Content-Type: text/plain; charset=x-nonsense\n\nGrüße\n", "Grüße\n", false, 0},
		{"alternative prefers plain", "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/html\n\n<p>H</p>\n--b\nContent-Type: text/plain\n\nP\n--b--\n", "P", false, 0},
		{"html only", "Content-Type: text/html\n\n<p>H</p>", "H", true, 0},
		{"unknown encoding kept", "Content-Type: application/x-y\nContent-Disposition: attachment; filename=a\nContent-Transfer-Encoding: x-weird\n\nraw", "", false, 1},
		{"no body", "Subject: x\n", "", false, 0},
		{"bad parameter keeps type", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nT\n--b\nContent-Type: application/pdf; name=\"x\n\n%PDF\n--b--\n", "T", false, 1},
		{"inline image", "Content-Type: multipart/related; boundary=b\n\n--b\nContent-Type: text/plain\n\nT\n--b\nContent-Type: image/png\nContent-ID: <i>\n\nPNG\n--b--\n", "T", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseMessage([]byte(tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			if p.Body != tc.body || p.FromHTML != tc.html || len(p.Attachments) != tc.atts {
				t.Errorf("body %q html %v atts %d; want %q %v %d", p.Body, p.FromHTML, len(p.Attachments), tc.body, tc.html, tc.atts)
			}
		})
	}
}

func TestNotices(t *testing.T) {
	for _, lang := range []string{"de", "en"} {
		r := RecipientNotice(lang, DeliverySender, "Jürgen <j@corp.example>", "Vertrag")
		s := SenderNotice(lang, "eleni@partner.example", "Vertrag", "kfp3-x7qa-m9dt-hw2e")
		for _, want := range []string{"Jürgen <j@corp.example>", "Vertrag.pdf", "by phone"} {
			if !strings.Contains(r.Body, want) {
				t.Errorf("%s recipient notice lacks %q:\n%s", lang, want, r.Body)
			}
		}
		if !strings.Contains(r.Subject, "Vertrag") || strings.Contains(r.Body, "kfp3") {
			t.Errorf("%s recipient notice: %+v", lang, r)
		}
		for _, want := range []string{"eleni@partner.example", "Vertrag", "kfp3-x7qa-m9dt-hw2e"} {
			if !strings.Contains(s.Body, want) {
				t.Errorf("%s sender notice lacks %q:\n%s", lang, want, s.Body)
			}
		}
		if !strings.Contains(s.Subject, "eleni@partner.example") {
			t.Errorf("%s sender notice subject %q", lang, s.Subject)
		}
	}
	for d, want := range map[PasswordDelivery]string{DeliverySMS: "SMS", DeliveryFixed: "vereinbarte", "unknown": "telefonisch"} {
		if got := RecipientNotice("de", d, "a", "b").Body; !strings.Contains(got, want) {
			t.Errorf("delivery %q: notice lacks %q:\n%s", d, want, got)
		}
	}
	if !strings.Contains(SenderNotice("de", "x", "y", "z").Body, "Passwort") ||
		!strings.Contains(SenderNotice("en", "x", "y", "z").Body, "Password") {
		t.Error("languages mixed up")
	}
	if got := PDFFileName("../a/b"); got != "_a_b.pdf" {
		t.Errorf("PDFFileName = %q", got)
	}
	if got := PDFFileName(""); got != "message.pdf" {
		t.Errorf("PDFFileName(\"\") = %q", got)
	}
}

func TestLongTextIsCutWithNote(t *testing.T) {
	body := strings.Repeat("Zeile mit Text äöü.\n", 300)
	subject := strings.Repeat("Betreff ", 2000)
	msg := []byte("Subject: " + subject + "\nContent-Type: text/plain; charset=utf-8\n\n" + body)
	pdf, doc, pw := buildPDF(t, msg, Options{Lang: "en", MaxTextBytes: 1000})
	txt := squash(decryptedText(t, pdf, pw))
	cutBody := len(strings.TrimRight(body, "\n ")) - 1000
	for _, want := range []string{
		fmt.Sprintf("%d more bytes are in the embedded original message (message.eml)", cutBody),
		fmt.Sprintf("%d more bytes are in the embedded original message (message.eml)", len(strings.TrimSpace(subject))-maxHeaderBytes),
	} {
		if !strings.Contains(txt, want) {
			t.Errorf("text lacks %q", want)
		}
	}
	if doc.Pages > 10 {
		t.Errorf("%d pages for a cut text", doc.Pages)
	}
	if files := detached(t, pdf, pw); !bytes.Equal(files["message.eml"], msg) {
		t.Error("message.eml is not the whole original")
	}
}

func TestBrokenHeaderShowsRawMessage(t *testing.T) {
	msg := []byte("this is no header line\nSubject: x\n\nKörper\n")
	pdf, _, pw := buildPDF(t, msg, Options{Lang: "en"})
	txt := squash(decryptedText(t, pdf, pw))
	for _, want := range []string{"this is no header line Subject: x Körper", "could not be read"} {
		if !strings.Contains(txt, want) {
			t.Errorf("text lacks %q:\n%s", want, txt)
		}
	}
}

// TestConcurrentBuilds: the milter builds PDFs for several messages at once.
func TestConcurrentBuilds(t *testing.T) {
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func(i int) {
			body := fmt.Sprintf("Nachricht %d: %s\n", i, sampleDE)
			_, err := Build(textMail(body), Options{Lang: "de"}, fmt.Sprintf("user-%d", i), "owner")
			errs <- err
		}(i)
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestTextBudget: text parts are read into memory only up to the budget; the rest
// is counted for the page note, and attachments are unaffected.
func TestTextBudget(t *testing.T) {
	msg := multipart(t, strings.Repeat("abcdefghij", 100)+"\n", []part{{name: "a.bin", ctype: "application/octet-stream", data: []byte(strings.Repeat("x", 500))}})
	p, err := parseFrom(BytesSource(msg), 300)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Body) != 300 || p.TextLeftOut < 700 || p.TextLeftOut > 702 {
		t.Errorf("body %d bytes, %d left out; want 300 and the rest of 1000 (+ line end)", len(p.Body), p.TextLeftOut)
	}
	if len(p.Attachments) != 1 || p.Attachments[0].Size != 500 {
		t.Errorf("attachments %+v", p.Attachments)
	}
	lb := labelsFor("en")
	if got := cutTextMore("short", 100, 42, lb); !strings.Contains(got, fmt.Sprintf(lb.Truncated, 42)) {
		t.Errorf("note for text never read: %q", got)
	}
	if got := cutTextMore(strings.Repeat("y", 200), 100, 42, lb); !strings.Contains(got, fmt.Sprintf(lb.Truncated, 142)) {
		t.Errorf("note for text cut and never read: %q", got)
	}
}
