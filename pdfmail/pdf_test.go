package pdfmail

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const (
	sampleDE = "Größere Übungen wären schön, sagte Jürgen auf der Straße."
	sampleEL = "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία."
	sampleRU = "Съешь же ещё этих мягких французских булок, да выпей чаю."
)

func textMail(body string) []byte {
	return crlf("From: =?iso-8859-1?q?J=FCrgen_M=FCller?= <juergen@corp.example>\n" +
		"To: Ελένη <eleni@partner.example>\n" +
		"Cc: Борис <boris@partner.example>\n" +
		"Date: Sun, 29 Nov 2026 10:15:00 +0100\n" +
		"Subject: =?utf-8?q?Vertrag_f=C3=BCr_=CE=95=CE=BB=CE=AD=CE=BD=CE=B7?=\n" +
		"MIME-Version: 1.0\n" +
		"Content-Type: text/plain; charset=utf-8\n" +
		"Content-Transfer-Encoding: 8bit\n\n" + body)
}

func TestEncryptionIsAES256Revision6(t *testing.T) {
	pdf, _, pw := buildPDF(t, textMail("Hallo.\n"), Options{})
	dir, in := writeTemp(t, "in.pdf", pdf)
	out, err := run(t, dir, "qpdf", "--show-encryption", "--password="+pw, in)
	if err != nil {
		t.Fatalf("qpdf --show-encryption: %v\n%s", err, out)
	}
	for _, want := range []string{
		"R = 6",
		"Supplied password is user password",
		"stream encryption method: AESv3",
		"string encryption method: AESv3",
		"file encryption method: AESv3",
		"print high resolution: allowed",
		"modify anything: not allowed",
		"modify annotations: not allowed",
		"modify forms: not allowed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("qpdf --show-encryption lacks %q:\n%s", want, out)
		}
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-2.0")) {
		t.Errorf("header %q, want %%PDF-2.0", pdf[:8])
	}
}

func TestWrongPasswordFails(t *testing.T) {
	pdf, _, pw := buildPDF(t, textMail(sampleDE+"\n"), Options{})
	dir, in := writeTemp(t, "in.pdf", pdf)
	for _, wrong := range []string{"", "aaaa-bbbb-cccc-dddd", strings.ToUpper(pw), pw[:len(pw)-1]} {
		out, err := run(t, dir, "qpdf", "--password="+wrong, "--decrypt", in, filepath.Join(dir, "out.pdf"))
		var ee *exec.ExitError
		if err == nil || !errorsAs(err, &ee) || !strings.Contains(out, "invalid password") {
			t.Errorf("qpdf with password %q: err=%v, output %q; want invalid password", wrong, err, out)
		}
		if out, err := run(t, dir, "pdftotext", "-upw", wrong, in, "-"); err == nil {
			t.Errorf("pdftotext with password %q succeeded:\n%s", wrong, out)
		}
	}
	// The right password works, so the failures above are about the password.
	if txt := decryptedText(t, pdf, pw); !strings.Contains(squash(txt), sampleDE) {
		t.Errorf("right password: text lacks the body:\n%s", txt)
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

func TestTextShowsHeaderAndScripts(t *testing.T) {
	for _, lang := range []string{"de", "en"} {
		t.Run(lang, func(t *testing.T) {
			body := sampleDE + "\n" + sampleEL + "\n" + sampleRU + "\n"
			pdf, _, pw := buildPDF(t, textMail(body), Options{Lang: lang})
			txt := squash(decryptedText(t, pdf, pw))
			want := []string{sampleDE, sampleEL, sampleRU,
				"Jürgen Müller <juergen@corp.example>", "Ελένη <eleni@partner.example>",
				"Борис <boris@partner.example>", "Sun, 29 Nov 2026 10:15:00 +0100",
				"Vertrag für Ελένη"}
			if lang == "de" {
				want = append(want, "Von:", "An:", "Kopie:", "Datum:", "Betreff:", "Seite 1")
			} else {
				want = append(want, "From:", "To:", "Cc:", "Date:", "Subject:", "Page 1")
			}
			for _, w := range want {
				if !strings.Contains(txt, w) {
					t.Errorf("text lacks %q:\n%s", w, txt)
				}
			}
		})
	}
}

func TestLongBodyPaginatesWithoutLoss(t *testing.T) {
	var lines []string
	for i := 1; i <= 200; i++ {
		l := fmt.Sprintf("Zeile %03d: %s", i, []string{sampleDE, sampleEL, sampleRU}[i%3])
		if i%17 == 0 { // a paragraph far wider than the page
			l += strings.Repeat(fmt.Sprintf(" Fortsetzung-%03d", i), 20)
		}
		lines = append(lines, l)
	}
	longWord := strings.Repeat("Donaudampfschifffahrtsgesellschaft", 8)
	lines = append(lines, "    eingerückt: "+longWord, "Ende.")
	pdf, doc, pw := buildPDF(t, textMail(strings.Join(lines, "\n")+"\n"), Options{})
	if doc.Pages < 4 {
		t.Errorf("%d pages, want several", doc.Pages)
	}
	raw := decryptedText(t, pdf, pw)
	if got := strings.Count(raw, "\f"); got != doc.Pages {
		t.Errorf("pdftotext saw %d pages, Render reports %d", got, doc.Pages)
	}
	if !strings.Contains(raw, "Page 4") {
		t.Errorf("no page number 4")
	}
	// A paragraph may continue on the next page: drop the page footers first.
	txt := squash(regexp.MustCompile(`(?m)^Page \d+$`).ReplaceAllString(raw, ""))
	for _, l := range lines[:200] {
		if !strings.Contains(txt, squash(l)) {
			t.Errorf("line lost: %q", l)
		}
	}
	// The long word is cut across lines, but every letter is there in order.
	nospace := strings.Join(strings.Fields(txt), "")
	if !strings.Contains(nospace, "eingerückt:"+longWord+"Ende.") {
		t.Errorf("long word lost or reordered")
	}
}

func TestAttachmentsComeBackByteForByte(t *testing.T) {
	latin1 := []byte("Name;Stadt\r\nJ\xfcrgen;K\xf6ln\r\n") // windows-1252 bytes must stay
	pdfBytes := []byte("%PDF-1.4 not really\n\x00\x01\x02")
	tiny := []byte("x")
	msg := multipart(t, "Anbei die Unterlagen.\n", []part{
		{name: "tabelle.csv", ctype: "text/csv; charset=iso-8859-1", data: latin1},
		{name: "=?utf-8?q?Gr=C3=B6=C3=9Fe.pdf?=", ctype: "application/pdf", data: pdfBytes},
		{name: "../../etc/passwd", ctype: "application/octet-stream", data: tiny},
		{name: "tabelle.csv", ctype: "application/octet-stream", data: []byte("second")},
		{name: "message.eml", ctype: "message/rfc822", data: []byte("Subject: inner\r\n\r\nhi\r\n")},
	})
	pdf, doc, pw := buildPDF(t, msg, Options{})
	wantNames := []string{"tabelle.csv", "Größe.pdf", "_.._etc_passwd", "tabelle (2).csv", "message (2).eml"}
	if strings.Join(doc.Attachments, "|") != strings.Join(wantNames, "|") {
		t.Errorf("attachments %q, want %q", doc.Attachments, wantNames)
	}
	files := detached(t, pdf, pw)
	want := map[string][]byte{
		"message.eml": msg, "tabelle.csv": latin1, "Größe.pdf": pdfBytes,
		"_.._etc_passwd": tiny, "tabelle (2).csv": []byte("second"),
		"message (2).eml": []byte("Subject: inner\r\n\r\nhi\r\n"),
	}
	if len(files) != len(want) {
		t.Errorf("pdfdetach saved %d files, want %d: %v", len(files), len(want), keys(files))
	}
	for name, w := range want {
		if got, ok := files[name]; !ok {
			t.Errorf("%s not embedded (have %v)", name, keys(files))
		} else if !bytes.Equal(got, w) {
			t.Errorf("%s differs: %d bytes, want %d", name, len(got), len(w))
		}
	}
	txt := squash(decryptedText(t, pdf, pw))
	for _, w := range []string{"Anbei die Unterlagen.", "tabelle.csv (text/csv, 25 B)", "Größe.pdf (application/pdf"} {
		if !strings.Contains(txt, w) {
			t.Errorf("text lacks %q:\n%s", w, txt)
		}
	}
}

func TestTenMegabyteBinaryAttachment(t *testing.T) {
	blob := make([]byte, 10<<20)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	msg := multipart(t, "Große Datei anbei.\n", []part{{name: "daten.bin", ctype: "application/octet-stream", data: blob}})
	pdf, _, pw := buildPDF(t, msg, Options{MaxSize: 20 << 20})
	files := detached(t, pdf, pw)
	if !bytes.Equal(files["daten.bin"], blob) {
		t.Errorf("daten.bin: %d bytes back, differ from the 10 MiB sent", len(files["daten.bin"]))
	}
	if !bytes.Equal(files["message.eml"], msg) {
		t.Errorf("message.eml differs from the original")
	}
}

func TestPlainBytesHideContentAndPassword(t *testing.T) {
	secret := "Quasselstrippe7421"
	msg := multipart(t, "Geheim: "+secret+" bleibt unter uns.\n", []part{
		{name: "notiz-" + secret + ".txt", ctype: "text/plain; charset=utf-8", data: []byte("Notiz " + secret + "\n")},
	})
	pdf, _, pw := buildPDF(t, msg, Options{})
	for _, s := range []string{secret, pw, strings.ReplaceAll(pw, "-", ""), "Geheim", "notiz-"} {
		if bytes.Contains(pdf, []byte(s)) {
			t.Errorf("encrypted PDF contains %q in the clear", s)
		}
	}
	// Control: decrypted (qpdf keeps our uncompressed attachment stream as it is),
	// the same bytes do show the word, so the check above can fail.
	dir, in := writeTemp(t, "in.pdf", pdf)
	out := filepath.Join(dir, "plain.pdf")
	if o, err := run(t, dir, "qpdf", "--password="+pw, "--decrypt", "--stream-data=preserve", in, out); err != nil {
		t.Fatalf("qpdf: %v\n%s", err, o)
	}
	plain := readFile(t, out)
	if !bytes.Contains(plain, []byte(secret)) {
		t.Errorf("control failed: the decrypted PDF does not contain %q either", secret)
	}
}

func TestHTMLOnlyMailShowsLinkTargets(t *testing.T) {
	html := `<html><head><title>T</title><style>p{color:red}</style></head><body>
<h1>Einladung</h1><p>Bitte <a href="https://partner.example/anmeldung?id=7">hier anmelden</a>
bis Freitag.</p><script>alert("geheimesSkript")</script>
<ul><li>Punkt eins</li><li>Punkt zwei</li></ul><p>Gr&uuml;&szlig;e<br>Jürgen</p></body></html>`
	msg := crlf("From: a@corp.example\nTo: b@partner.example\nSubject: HTML\nMIME-Version: 1.0\n" +
		"Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" +
		qp(html))
	pdf, _, pw := buildPDF(t, msg, Options{})
	txt := squash(decryptedText(t, pdf, pw))
	for _, w := range []string{"Einladung", "Bitte hier anmelden <https://partner.example/anmeldung?id=7> bis Freitag.",
		"• Punkt eins", "• Punkt zwei", "Grüße Jürgen"} {
		if !strings.Contains(txt, w) {
			t.Errorf("text lacks %q:\n%s", w, txt)
		}
	}
	for _, bad := range []string{"geheimesSkript", "color:red", "<p>"} {
		if strings.Contains(txt, bad) {
			t.Errorf("text shows %q:\n%s", bad, txt)
		}
	}
}

func TestUncoveredRunesAreReplacedVisibly(t *testing.T) {
	pdf, doc, pw := buildPDF(t, textMail("Vorher 中 dazwischen 😀 nachher.\n"), Options{})
	if doc.Replaced != 2 {
		t.Errorf("Replaced = %d, want 2", doc.Replaced)
	}
	txt := squash(decryptedText(t, pdf, pw))
	want := regexp.MustCompile(`Vorher \x{FFFD}\[U\+4E2D\] dazwischen \x{FFFD}\[U\+1F600\] nachher\.`)
	if !want.MatchString(txt) {
		t.Errorf("no visible replacement in:\n%s", txt)
	}
}

func TestTooLargeIsRefused(t *testing.T) {
	msg := textMail(strings.Repeat("x", 2000))
	if _, err := Render(msg, Options{MaxSize: 1000}); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Fatalf("Render over MaxSize: %v, want ErrTooLarge", err)
	}
}

func TestEncryptRejectsBadPasswords(t *testing.T) {
	doc, err := Render(textMail("x\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("p", 128)
	for _, pw := range [][2]string{{"", "o"}, {"u", ""}, {"same", "same"}, {long, "o"}, {"u", long}} {
		if _, err := Encrypt(doc, pw[0], pw[1]); err != ErrPassword {
			t.Errorf("Encrypt(%q, %q) = %v, want ErrPassword", pw[0], pw[1], err)
		}
	}
}

type part struct {
	name, ctype string
	data        []byte
}

// multipart builds a multipart/mixed message with a text part and base64 attachments.
func multipart(t testing.TB, body string, parts []part) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("From: Jürgen <juergen@corp.example>\r\nTo: partner@partner.example\r\n" +
		"Subject: Unterlagen\r\nDate: Sun, 29 Nov 2026 10:15:00 +0100\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b0undary\"\r\n\r\n--b0undary\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.Write(crlf(body))
	for _, p := range parts {
		fmt.Fprintf(&b, "--b0undary\r\nContent-Type: %s\r\nContent-Disposition: attachment; filename=\"%s\"\r\n"+
			"Content-Transfer-Encoding: base64\r\n\r\n", p.ctype, p.name)
		enc := base64.StdEncoding.EncodeToString(p.data)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--b0undary--\r\n")
	return b.Bytes()
}

// TestManyAttachmentsWithCyrillicNames: the embedded-files name tree keeps all of them
// (added in reverse order) and non-Latin names survive.
func TestManyAttachmentsWithCyrillicNames(t *testing.T) {
	var parts []part
	for i := 0; i < 120; i++ {
		parts = append(parts, part{name: fmt.Sprintf("Файл-%03d.txt", 119-i), ctype: "text/plain", data: []byte(fmt.Sprint(i))})
	}
	pdf, doc, pw := buildPDF(t, multipart(t, "Viele Anhänge.\n", parts), Options{})
	if len(doc.Attachments) != 120 {
		t.Fatalf("%d attachments listed", len(doc.Attachments))
	}
	files := detached(t, pdf, pw)
	if len(files) != 121 {
		t.Errorf("pdfdetach saved %d files, want 121", len(files))
	}
	for i := 0; i < 120; i++ {
		name := fmt.Sprintf("Файл-%03d.txt", 119-i)
		if got := string(files[name]); got != fmt.Sprint(i) {
			t.Errorf("%s = %q, want %q", name, got, fmt.Sprint(i))
		}
	}
}
