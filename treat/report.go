package treat

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime/quotedprintable"
	"strings"
)

// AttachReport wraps a signed entity and a text report into
// multipart/mixed: the entity first, byte for byte (its header fields as
// given, its body untouched), so the recipient's client still verifies its
// signature; the report second, as a UTF-8 text/plain attachment named
// filename (ASCII), quoted-printable so it stays 7-bit. fields are the
// entity's Content-* fields (MIME-Version is dropped: the new entity has
// its own), body its body as received (CRLF).
func AttachReport(fields []Field, body []byte, report, filename string) (*Entity, error) {
	boundary, err := newBoundary(body)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(body) + len(report)*2 + 1024)
	b.WriteString("--" + boundary + "\r\n")
	for _, f := range fields {
		if strings.EqualFold(f.Name, "MIME-Version") {
			continue
		}
		writeField(&b, f)
	}
	b.WriteString("\r\n")
	b.Write(body)
	// The CRLF before a delimiter belongs to the delimiter (RFC 2046 5.1.1):
	// the signed entity's body keeps every byte it had.
	b.WriteString("\r\n--" + boundary + "\r\n")
	writeField(&b, Field{"Content-Type", "text/plain; charset=utf-8"})
	writeField(&b, Field{"Content-Transfer-Encoding", "quoted-printable"})
	writeField(&b, Field{"Content-Disposition", fmt.Sprintf("attachment; filename=%q", filename)})
	b.WriteString("\r\n")
	b.Write(quotedPrintable(report))
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return &Entity{
		Fields: []Field{
			{"MIME-Version", "1.0"},
			{"Content-Type", fmt.Sprintf("multipart/mixed;\n\tboundary=\"%s\"", boundary)},
		},
		Body: b.Bytes(),
	}, nil
}

// newBoundary returns a boundary that occurs nowhere in body.
func newBoundary(body []byte) (string, error) {
	for range 8 {
		var r [12]byte
		if _, err := rand.Read(r[:]); err != nil {
			return "", fmt.Errorf("treat: boundary: %w", err)
		}
		b := "=_mailseal_report_" + hex.EncodeToString(r[:])
		if !bytes.Contains(body, []byte("--"+b)) {
			return b, nil
		}
	}
	return "", fmt.Errorf("treat: no boundary free in the body")
}

// quotedPrintable encodes text (LF or CRLF lines) with CRLF line ends; a
// line starting "From " is written "=46rom " so mbox delivery cannot change
// it.
func quotedPrintable(text string) []byte {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\n", "\r\n")))
	w.Close()
	out := b.Bytes()
	if bytes.HasPrefix(out, []byte("From ")) {
		out = append([]byte("=46"), out[1:]...)
	}
	return bytes.ReplaceAll(out, []byte("\r\nFrom "), []byte("\r\n=46rom "))
}
