package pdfmail

import (
	"io"
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

// FuzzParseMessage runs the MIME walk alone (much faster than Render), so the fuzzer
// reaches deeper into odd structures.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: multipart/alternative; boundary=c\n\n--c\nContent-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: base64\n\n8vXT08vJyg==\n--c--\n--b\nContent-Type: message/rfc822\n\nSubject: x\n\ny\n--b--\n"))
	f.Add([]byte("Content-Type: text/html\n\n<a href=\"https://x\">y</a>"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		p, err := parseMessage(msg)
		if err != nil {
			return
		}
		var leaves []int
		for _, a := range p.Attachments {
			if a.Size < 0 || a.leaf < 1 {
				t.Fatalf("attachment %q: size %d, leaf %d", a.Name, a.Size, a.leaf)
			}
			leaves = append(leaves, a.leaf)
		}
		// The second walk, which streams the attachments into the PDF, finds
		// every one of them again, with the size the first walk measured.
		got := 0
		err = eachAttachment(BytesSource(msg), leaves, func(i int, r io.Reader) error {
			n, err := io.Copy(io.Discard, r)
			if n != p.Attachments[i].Size {
				t.Fatalf("attachment %d: %d bytes, measured %d", i, n, p.Attachments[i].Size)
			}
			got++
			return err
		})
		if err != nil || got != len(leaves) {
			t.Fatalf("second walk: %v, %d of %d attachments", err, got, len(leaves))
		}
	})
}

// FuzzHTMLToText feeds any markup to the converter. htmlToText recovers from a panic
// itself (it then shows the raw markup), so this guards against hangs and crashes
// outside its recover.
func FuzzHTMLToText(f *testing.F) {
	f.Add("<p>a<br>b</p><ul><li>x</li></ul><a href=u>t</a><pre> p </pre>")
	f.Fuzz(func(t *testing.T, s string) {
		_ = htmlToText(s)
	})
}
