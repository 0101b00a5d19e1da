package pdfmail

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These helpers drive the real qpdf and poppler tools (scripts/install-deps.sh
// installs them): the PDF must be read by what recipients use, not by our own code.

func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: run scripts/install-deps.sh (packages qpdf, poppler-utils)", name)
	}
	return p
}

func run(t testing.TB, dir, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(needTool(t, name), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var testNow = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// buildPDF renders and encrypts msg with fresh random passwords.
func buildPDF(t testing.TB, msg []byte, opts Options) (pdf []byte, doc *Document, pw string) {
	t.Helper()
	if opts.Now.IsZero() {
		opts.Now = testNow
	}
	pw, err := NewPassword(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := NewOwnerPassword(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	doc, err = Render(msg, opts)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	pdf, err = Encrypt(doc, pw, owner)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	return pdf, doc, pw
}

func writeTemp(t testing.TB, name string, b []byte) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

// decryptedText decrypts with qpdf and extracts the text with pdftotext.
func decryptedText(t testing.TB, pdf []byte, pw string) string {
	t.Helper()
	dir, in := writeTemp(t, "in.pdf", pdf)
	out := filepath.Join(dir, "out.pdf")
	if o, err := run(t, dir, "qpdf", "--password="+pw, "--decrypt", in, out); err != nil {
		t.Fatalf("qpdf --decrypt: %v\n%s", err, o)
	}
	txt := filepath.Join(dir, "out.txt")
	if o, err := run(t, dir, "pdftotext", "-enc", "UTF-8", out, txt); err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, o)
	}
	b, err := os.ReadFile(txt)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// detached saves every embedded file with pdfdetach and returns them by name.
func detached(t testing.TB, pdf []byte, pw string) map[string][]byte {
	t.Helper()
	dir, in := writeTemp(t, "in.pdf", pdf)
	outDir := filepath.Join(dir, "files")
	if err := os.Mkdir(outDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if o, err := run(t, outDir, "pdfdetach", "-saveall", "-upw", pw, in); err != nil {
		t.Fatalf("pdfdetach: %v\n%s", err, o)
	}
	files := map[string][]byte{}
	ents, err := os.ReadDir(outDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(outDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	return files
}

// squash folds all white space to single spaces, as text extraction reflows lines.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n"))
}

func mustContain(t testing.TB, hay []byte, needle string) {
	t.Helper()
	if !bytes.Contains(hay, []byte(needle)) {
		t.Errorf("missing %q", needle)
	}
}
