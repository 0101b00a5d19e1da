package treat

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/mailseal/mailseal/crypto/smime"
	"github.com/mailseal/mailseal/pdfmail"
)

// pdfTestMail is a message with a text body and one random binary attachment of
// n bytes (base64).
func pdfTestMail(t testing.TB, n int) (msg, blob []byte) {
	blob = make([]byte, n)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("From: Alice <alice@corp.example>\r\nTo: bob@partner.example\r\nSubject: [secure] Gehälter\r\n")
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\nDie Gehälter im Anhang.\r\n--b1\r\n")
	b.WriteString("Content-Type: application/octet-stream; name=\"scan.bin\"\r\nContent-Transfer-Encoding: base64\r\n")
	b.WriteString("Content-Disposition: attachment; filename=\"scan.bin\"\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(blob)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--b1--\r\n")
	return b.Bytes(), blob
}

// TestPDFSigned: the content, built in memory or (SpoolAbove) in a temporary file,
// is a signed multipart/mixed that openssl verifies; its PDF opens with the password
// and gives back the attachment and the original message byte for byte.
func TestPDFSigned(t *testing.T) {
	p := newTestPKI(t)
	cert, key := p.user("alice@corp.example", "p256")
	s, err := smime.NewSigner(key, cert, []*x509.Certificate{p.caCert})
	if err != nil {
		t.Fatal(err)
	}
	msg, blob := pdfTestMail(t, 200<<10)
	for _, spoolAbove := range []int64{0, 1} {
		t.Run(fmt.Sprintf("spoolAbove=%d", spoolAbove), func(t *testing.T) {
			dir := t.TempDir()
			pm, err := PDF(msg, "alice@corp.example", PDFOptions{Signer: s, TempDir: dir, SpoolAbove: spoolAbove})
			if err != nil {
				t.Fatal(err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("temporary files left behind: %v", left)
			}
			if !strings.HasPrefix(pm.Content.ContentType(), "multipart/signed;") {
				t.Fatalf("content type %q", pm.Content.ContentType())
			}
			if bytes.Contains(pm.Content.Body, []byte("Gehälter")) || bytes.Contains(pm.Content.Body, []byte(pm.Password)) {
				t.Fatal("content shows the message or the password")
			}
			ca := writePEM(t, dir, "ca.pem", nil, p.caCert)
			inner := run(t, append([]byte("MIME-Version: 1.0\r\n"), pm.Content.Bytes()...), "openssl", "cms", "-verify", "-purpose", "smimesign", "-CAfile", ca)
			pdf := pdfPart(t, inner)
			file := filepath.Join(dir, "m.pdf")
			if err := os.WriteFile(file, pdf, 0o600); err != nil {
				t.Fatal(err)
			}
			if out := run(t, nil, "qpdf", "--show-encryption", "--password="+pm.Password, file); !bytes.Contains(out, []byte("R = 6")) {
				t.Errorf("qpdf: %s", out)
			}
			out := filepath.Join(dir, "out")
			os.Mkdir(out, 0o700)
			run(t, nil, "pdfdetach", "-upw", pm.Password, "-saveall", "-o", out, file)
			for name, want := range map[string][]byte{"scan.bin": blob, "message.eml": msg} {
				got, err := os.ReadFile(filepath.Join(out, name))
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes (%v), want the original %d", name, len(got), err, len(want))
				}
			}
		})
	}
}

// pdfPart returns the decoded application/pdf part of a multipart/mixed entity.
func pdfPart(t *testing.T, entity []byte) []byte {
	t.Helper()
	head, body, ok := bytes.Cut(entity, []byte("\r\n\r\n"))
	if !ok {
		head, body, _ = bytes.Cut(entity, []byte("\n\n"))
	}
	ct := ""
	for _, l := range strings.Split(string(head), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Content-Type:"); ok {
			ct = strings.TrimSpace(v)
		}
	}
	_, params, err := mime.ParseMediaType(ct)
	if err != nil {
		t.Fatalf("content type %q: %v", ct, err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err != nil {
			t.Fatalf("no PDF part: %v", err)
		}
		if strings.HasPrefix(part.Header.Get("Content-Type"), "application/pdf") {
			b, _ := io.ReadAll(part)
			pdf, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pdf
		}
	}
}

const pdfRSSChildEnv = "MAILSEAL_TREAT_PDF_RSS_CHILD"

// TestPDFPeakRSS builds the signed PDF content for a message with a 25 MB
// attachment read from a file, as the milter reads its spool, in a child process.
// The content itself is about twice the message (the original compressed and the
// attachment, in base64) and must be in memory once; the process may grow by at
// most half the message besides (before streaming it grew by over 5 times).
func TestPDFPeakRSS(t *testing.T) {
	if file := os.Getenv(pdfRSSChildEnv); file != "" {
		pdfRSSChild(t, file)
		return
	}
	if testing.Short() {
		t.Skip("25 MB message in a child process")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory inflates the resident set")
	}
	msg, _ := pdfTestMail(t, 18<<20)
	file := filepath.Join(t.TempDir(), "msg.eml")
	if err := os.WriteFile(file, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPDFPeakRSS$", "-test.v")
	cmd.Env = append(os.Environ(), pdfRSSChildEnv+"="+file)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var peak, base, content int64
	for _, l := range strings.Split(string(out), "\n") {
		if _, after, ok := strings.Cut(l, "RSS peak="); ok {
			fmt.Sscanf(after, "%d base=%d content=%d", &peak, &base, &content)
		}
	}
	if peak == 0 {
		t.Fatalf("child printed no RSS:\n%s", out)
	}
	m := float64(len(msg))
	t.Logf("message %d bytes, content %d (%.2f x), peak RSS %d (%.2f x), %d before", len(msg), content, float64(content)/m, peak, float64(peak)/m, base)
	if grown := float64(peak-base-content) / m; grown >= 0.5 {
		t.Errorf("besides the content, the process grew by %.2f times the message, want under 0.5", grown)
	}
}

func pdfRSSChild(t *testing.T, file string) {
	p := newTestPKI(t)
	cert, key := p.user("alice@corp.example", "rsa3072")
	s, err := smime.NewSigner(key, cert, []*x509.Certificate{p.caCert})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	var open pdfmail.Source = func() (io.Reader, error) {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { f.Close() })
		return f, nil
	}
	runtime.GC()
	debug.FreeOSMemory()
	base := statusBytes(t, "VmRSS")
	// Reset the peak to the current size (Linux 4.0+): test setup does not count.
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("reset peak RSS: %v", err)
	}
	pm, err := PDFFrom(open, st.Size(), "alice@corp.example", PDFOptions{Signer: s, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	peak := statusBytes(t, "VmHWM")
	fmt.Printf("RSS peak=%d base=%d content=%d\n", peak, base, len(pm.Content.Body))
}

// statusBytes reads a size field (kB) of /proc/self/status, in bytes.
func statusBytes(t *testing.T, field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}
