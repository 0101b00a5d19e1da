package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

const pdfText = "Grüße aus Zürich: Gehälter 2027.\r\nΚαλημέρα, τα στοιχεία είναι εμπιστευτικά.\r\nЗдравствуйте, это конфиденциально.\r\n"

// Confidential mail to a recipient without any key leaves as an AES-256
// (R6) encrypted PDF: the recipient's mail holds no trace of the content,
// the sender gets the password, and the PDF opens with it and nothing
// else, showing the text and carrying the original and every attachment.
func TestConfidentialMailToKeylessRecipientBecomesEncryptedPDF(t *testing.T) {
	d, pf := setupPolicy(t, "", map[string]string{"message_size_limit": "0"})
	attachment := randomBytes(t, 10<<20)
	msg := internalMail("alice@corp.example", "kim@nokey.example", "[secure] Salaries", attachment)
	msg = bytes.Replace(msg, []byte(utf8Text), []byte(pdfText), 1)
	if err := pf.Send(t, postfixtest.Mail{From: "alice@corp.example", To: []string{"kim@nokey.example"}, Data: msg, SourceIP: trustedIP}); err != nil {
		t.Fatal(err)
	}
	raw := pf.WaitDelivered(t, "kim@nokey.example", 1, deliveryTimeout)[0]
	notice := pf.WaitDelivered(t, "alice@corp.example", 1, deliveryTimeout)[0]

	pw := regexp.MustCompile(`Password: ([a-z0-9-]+)`).FindSubmatch(decodedText(t, notice))
	if pw == nil {
		t.Fatalf("the sender's notice has no password:\n%s", notice)
	}
	password := string(pw[1])
	if got := parseMail(t, notice).Header.Get("Auto-Submitted"); got != "auto-generated" {
		t.Errorf("notice Auto-Submitted %q", got)
	}

	m := parseMail(t, raw)
	if s := m.Header.Get("Subject"); strings.Contains(s, "Salaries") || strings.Contains(s, "secure") {
		t.Errorf("the recipient's Subject shows the content: %q", s)
	}
	content, signer := opensslVerify(t, d.CAFile(), raw)
	if signer.EmailAddresses[0] != "alice@corp.example" {
		t.Errorf("signed by %v", signer.EmailAddresses)
	}
	var pdf []byte
	for _, l := range leaves(t, content) {
		if l.ContentType == "application/pdf" {
			pdf = l.Data
		}
	}
	if pdf == nil {
		t.Fatalf("no application/pdf part:\n%s", head(content))
	}
	for _, secret := range [][]byte{[]byte("Gehälter"), []byte("Salaries"), []byte("конфиденциально"), []byte(password)} {
		if bytes.Contains(raw, secret) || bytes.Contains(content, secret) || bytes.Contains(pdf, secret) {
			t.Errorf("%q readable in the recipient's mail or the PDF's bytes", secret)
		}
	}

	dir := t.TempDir()
	in := filepath.Join(dir, "message.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, nil, "qpdf", "--show-encryption", "--password="+password, in)
	if err != nil || !strings.Contains(out, "R = 6") || !strings.Contains(out, "AESv3") {
		t.Fatalf("qpdf --show-encryption: %v\n%s", err, out)
	}
	if out, err := run(t, nil, "qpdf", "--password=wrong-password", "--decrypt", in, filepath.Join(dir, "x.pdf")); err == nil {
		t.Fatalf("a wrong password opened the PDF:\n%s", out)
	}
	plain := filepath.Join(dir, "plain.pdf")
	if out, err := run(t, nil, "qpdf", "--password="+password, "--decrypt", in, plain); err != nil {
		t.Fatalf("qpdf --decrypt: %v\n%s", err, out)
	}
	text, err := run(t, nil, "pdftotext", "-enc", "UTF-8", plain, "-")
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, text)
	}
	for _, want := range []string{"Grüße aus Zürich", "Καλημέρα", "Здравствуйте", "Salaries", "alice@corp.example"} {
		if !strings.Contains(text, want) {
			t.Errorf("pdftotext lacks %q:\n%s", want, text)
		}
	}
	saved := filepath.Join(dir, "saved")
	os.Mkdir(saved, 0o700)
	if out, err := run(t, nil, "pdfdetach", "-saveall", "-upw", password, "-o", saved, in); err != nil {
		t.Fatalf("pdfdetach: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(saved, "data.bin"))
	if err != nil || !bytes.Equal(got, attachment) {
		t.Errorf("the 10 MB attachment did not come back byte for byte (%v, %d bytes)", err, len(got))
	}
	eml, err := os.ReadFile(filepath.Join(saved, "message.eml"))
	if err != nil || !bytes.Contains(eml, []byte("Subject: Salaries")) {
		t.Errorf("the original message is not embedded (%v)", err)
	}
	expectDeliveries(t, pf, map[string]int{"kim@nokey.example": 1, "alice@corp.example": 1})
}

// decodedText returns the message's text with base64 or QP undone.
func decodedText(t *testing.T, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, l := range leaves(t, raw) {
		b.Write(l.Data)
	}
	return b.Bytes()
}
