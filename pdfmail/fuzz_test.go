package pdfmail

import (
	"testing"
)

// FuzzRender feeds arbitrary bytes as a message: errors are fine, a panic is not.
func FuzzRender(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nbody\r\n"))
	f.Add(textMail(sampleDE + "\n中😀\x00\x01\t\f\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\n\n<a href=x>y</a><table><td>\n--b\nContent-Disposition: attachment; filename=\"../x\"\nContent-Transfer-Encoding: base64\n\n!!!!\n--b"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=\"\"\n\n"))
	f.Add([]byte("Subject: =?x-unknown?b?////?=\nContent-Type: text/plain; charset=utf-7\nContent-Transfer-Encoding: quoted-printable\n\n=ZZ=\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		doc, err := Render(msg, Options{Now: testNow, MaxTextBytes: 4096})
		if err != nil {
			return
		}
		if doc.Pages < 1 || len(doc.pdf) == 0 {
			t.Fatalf("Render succeeded with %d pages, %d bytes", doc.Pages, len(doc.pdf))
		}
	})
}
