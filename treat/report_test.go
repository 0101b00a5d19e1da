package treat

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"testing"
)

func TestAttachReport(t *testing.T) {
	signedBody := []byte("--sig\r\nContent-Type: text/plain\r\n\r\nHallo\r\n--sig\r\nContent-Type: application/pkcs7-signature\r\n\r\nAAAA\r\n--sig--\r\n")
	fields := []Field{{"MIME-Version", "1.0"}, {"Content-Type", "multipart/signed; protocol=\"application/pkcs7-signature\";\n\tmicalg=sha-256; boundary=\"sig\""}}
	report := "Signaturprüfbericht\nFrom the gateway: alles gut\n"
	e, err := AttachReport(fields, signedBody, report, "Signaturpruefbericht.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range e.Body {
		if c >= 0x80 {
			t.Fatal("body is not 7-bit")
		}
	}
	if bytes.Contains(e.Body, []byte("\nFrom ")) {
		t.Error("a line starts with From ")
	}
	mt, params, err := mime.ParseMediaType(e.ContentType())
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q: %v", e.ContentType(), err)
	}
	r := multipart.NewReader(bytes.NewReader(e.Body), params["boundary"])
	first, err := r.NextRawPart()
	if err != nil {
		t.Fatal(err)
	}
	if got := first.Header.Get("Content-Type"); !strings.HasPrefix(got, "multipart/signed") {
		t.Errorf("first part type %q", got)
	}
	got, _ := io.ReadAll(first)
	if !bytes.Equal(got, signedBody) {
		t.Errorf("signed body changed:\n%q\nwant\n%q", got, signedBody)
	}
	// Byte for byte in the raw body, too (the reader above could hide
	// differences in line ends).
	if !bytes.Contains(e.Body, append([]byte("\r\n\r\n"), signedBody...)) {
		t.Error("raw signed body not found")
	}
	second, err := r.NextPart() // decodes quoted-printable
	if err != nil {
		t.Fatal(err)
	}
	if d := second.Header.Get("Content-Disposition"); d != `attachment; filename="Signaturpruefbericht.txt"` {
		t.Errorf("disposition %q", d)
	}
	text, _ := io.ReadAll(second)
	if string(text) != strings.ReplaceAll(report, "\n", "\r\n") {
		t.Errorf("report %q", text)
	}
	if _, err := r.NextPart(); err != io.EOF {
		t.Errorf("more parts: %v", err)
	}
}
