package pdfmail

import (
	"os"
	"strings"
	"testing"
)

// pdfjsPath is pdf.js as Debian's libjs-pdf installs it (the engine of Firefox's
// PDF viewer).
const pdfjsPath = "/usr/share/javascript/pdf/build/pdf.js"

const pdfjsScript = `
const pdfjs = require(process.argv[1]);
const fs = require('fs');
(async () => {
  try {
    const doc = await pdfjs.getDocument({data: new Uint8Array(fs.readFileSync(process.argv[2])), password: process.argv[3]}).promise;
    const tc = await (await doc.getPage(1)).getTextContent();
    console.log('TEXT ' + tc.items.map(i => i.str).join(' '));
    const att = await doc.getAttachments();
    for (const k of Object.keys(att || {})) console.log('ATT ' + att[k].filename + ' ' + att[k].content.length);
  } catch (e) { console.log('ERR ' + e.name); process.exit(1); }
})();
`

// TestOtherReadersOpen opens the PDF with MuPDF and pdf.js, two engines besides
// poppler and qpdf, with the right and a wrong password.
func TestOtherReadersOpen(t *testing.T) {
	msg := multipart(t, sampleDE+"\n"+sampleEL+"\n"+sampleRU+"\n", []part{{name: "a.bin", ctype: "application/octet-stream", data: []byte("12345")}})
	pdf, _, pw := buildPDF(t, msg, Options{})
	dir, in := writeTemp(t, "in.pdf", pdf)

	t.Run("mupdf", func(t *testing.T) {
		out, err := run(t, dir, "mutool", "draw", "-q", "-p", pw, "-F", "txt", "-o", "-", in)
		if err != nil {
			t.Fatalf("mutool: %v\n%s", err, out)
		}
		for _, w := range []string{sampleDE, sampleEL, sampleRU} {
			if !strings.Contains(squash(out), w) {
				t.Errorf("mutool text lacks %q:\n%s", w, out)
			}
		}
		if out, err := run(t, dir, "mutool", "draw", "-q", "-p", "wrong-pass-word", "-F", "txt", "-o", "-", in); err == nil {
			t.Errorf("mutool opened it with a wrong password:\n%s", out)
		}
	})
	t.Run("pdf.js", func(t *testing.T) {
		if _, err := os.Stat(pdfjsPath); err != nil {
			t.Fatalf("pdf.js not found: run scripts/install-deps.sh (package libjs-pdf): %v", err)
		}
		out, err := run(t, dir, "node", "-e", pdfjsScript, pdfjsPath, in, pw)
		if err != nil {
			t.Fatalf("pdf.js: %v\n%s", err, out)
		}
		for _, w := range []string{sampleDE, sampleEL, sampleRU, "ATT message.eml", "ATT a.bin 5"} {
			if !strings.Contains(squash(out), w) {
				t.Errorf("pdf.js output lacks %q:\n%s", w, out)
			}
		}
		out, err = run(t, dir, "node", "-e", pdfjsScript, pdfjsPath, in, "wrong-pass-word")
		if err == nil || !strings.Contains(out, "ERR PasswordException") {
			t.Errorf("pdf.js with a wrong password: %v\n%s", err, out)
		}
	})
}
