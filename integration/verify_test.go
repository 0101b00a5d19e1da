package integration

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// parsedMail is a delivered message split into header and raw body.
type parsedMail struct {
	Header textproto.MIMEHeader
	Body   []byte
	Raw    []byte
}

func parseMail(t *testing.T, raw []byte) *parsedMail {
	t.Helper()
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw)))
	h, err := r.ReadMIMEHeader()
	if err != nil {
		t.Fatalf("parse delivered header: %v\n%s", err, head(raw))
	}
	i := bytes.Index(raw, []byte("\r\n\r\n"))
	return &parsedMail{Header: h, Body: raw[i+4:], Raw: raw}
}

func head(b []byte) string {
	if len(b) > 3000 {
		b = b[:3000]
	}
	return string(b)
}

// signedParts returns the exact signed bytes (first part) and the DER
// signature of a multipart/signed message, checking its outer structure.
func signedParts(t *testing.T, m *parsedMail) (content, signature []byte) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/signed" {
		t.Fatalf("Content-Type %q, want multipart/signed (err %v)\n%s", m.Header.Get("Content-Type"), err, head(m.Raw))
	}
	if params["protocol"] != "application/pkcs7-signature" || params["micalg"] != "sha-256" {
		t.Fatalf("multipart/signed params %v", params)
	}
	delim := []byte("--" + params["boundary"])
	body := m.Body
	start := bytes.Index(body, append(append([]byte{}, delim...), '\r', '\n'))
	if start < 0 {
		t.Fatal("first boundary not found")
	}
	body = body[start+len(delim)+2:]
	end := bytes.Index(body, append([]byte("\r\n"), delim...))
	content = body[:end]
	rest := body[end+2+len(delim):]
	if !bytes.HasPrefix(rest, []byte("\r\n")) {
		t.Fatal("no second part")
	}
	rest = rest[2:]
	sigEnd := bytes.Index(rest, append(append([]byte("\r\n"), delim...), '-', '-'))
	if sigEnd < 0 {
		t.Fatal("closing boundary not found")
	}
	sigPart := rest[:sigEnd]
	hdrEnd := bytes.Index(sigPart, []byte("\r\n\r\n"))
	sigHeader, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(sigPart[:hdrEnd+4]))).ReadMIMEHeader()
	if err != nil {
		t.Fatal(err)
	}
	if ct := sigHeader.Get("Content-Type"); !strings.HasPrefix(ct, "application/pkcs7-signature") {
		t.Fatalf("signature part type %q", ct)
	}
	signature, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(sigPart[hdrEnd+4:])), ""))
	if err != nil {
		t.Fatalf("signature is not base64: %v", err)
	}
	return content, signature
}

func run(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// opensslVerify runs `openssl cms -verify -purpose smimesign` on the whole
// delivered message and returns the signed content it outputs and the signer.
func opensslVerify(t *testing.T, caFile string, raw []byte) (content []byte, signer *x509.Certificate) {
	t.Helper()
	dir := t.TempDir()
	in, out, signerFile := filepath.Join(dir, "in.eml"), filepath.Join(dir, "out.eml"), filepath.Join(dir, "signer.pem")
	if err := os.WriteFile(in, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := run(t, nil, "openssl", "cms", "-verify", "-purpose", "smimesign", "-CAfile", caFile,
		"-in", in, "-out", out, "-signer", signerFile)
	if err != nil || !strings.Contains(res, "Verification successful") {
		t.Fatalf("openssl cms -verify failed: %v\n%s", err, res)
	}
	content, _ = os.ReadFile(out)
	pemBytes, _ := os.ReadFile(signerFile)
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		t.Fatal("openssl wrote no signer certificate")
	}
	signer, err = x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return content, signer
}

// gpgsmVerify checks the detached signature with GnuPG's gpgsm, trusting only
// the mailseal CA, in a throw-away GNUPGHOME.
func gpgsmVerify(t *testing.T, caFile string, content, signature []byte) string {
	t.Helper()
	home := t.TempDir()
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{"GNUPGHOME=" + home}
	defer exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
	if out, err := run(t, env, "gpgsm", "--batch", "--disable-crl-checks", "--import", caFile); err != nil {
		t.Fatalf("gpgsm --import: %v\n%s", err, out)
	}
	pemBytes, _ := os.ReadFile(caFile)
	block, _ := pem.Decode(pemBytes)
	fpr := sha1Colon(block.Bytes)
	if err := os.WriteFile(filepath.Join(home, "trustlist.txt"), []byte(fpr+" S relax\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dataFile, sigFile := filepath.Join(home, "data"), filepath.Join(home, "sig.p7s")
	os.WriteFile(dataFile, content, 0o600)
	os.WriteFile(sigFile, signature, 0o600)
	out, err := run(t, env, "gpgsm", "--batch", "--disable-crl-checks", "--disable-policy-checks", "--verify", sigFile, dataFile)
	if err != nil || !strings.Contains(out, "Good signature") {
		t.Fatalf("gpgsm --verify failed: %v\n%s", err, out)
	}
	return out
}

func sha1Colon(der []byte) string {
	h := sha1.Sum(der)
	parts := make([]string, len(h))
	for i, b := range h {
		parts[i] = strings.ToUpper(hex.EncodeToString([]byte{b}))
	}
	return strings.Join(parts, ":")
}

// leafParts decodes a MIME entity (headers + body) into its leaf parts'
// decoded bodies, in order, keyed by content type.
type leaf struct {
	ContentType string
	Filename    string
	Data        []byte
}

func leaves(t *testing.T, entity []byte) []leaf {
	t.Helper()
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(entity)))
	h, err := r.ReadMIMEHeader()
	if err != nil {
		t.Fatalf("parse entity header: %v", err)
	}
	i := bytes.Index(entity, []byte("\r\n\r\n"))
	if i < 0 {
		i = bytes.Index(entity, []byte("\n\n")) - 2
	}
	return walk(t, h, entity[i+4:])
}

func walk(t *testing.T, h textproto.MIMEHeader, body []byte) []leaf {
	t.Helper()
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		var out []leaf
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("multipart: %v", err)
			}
			b, err := io.ReadAll(p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, walk(t, p.Header, b)...)
		}
		return out
	}
	var data []byte
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "base64":
		data, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(body)), ""))
	case "quoted-printable":
		data, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
	default:
		data = body
	}
	if err != nil {
		t.Fatalf("decode %s part: %v", mt, err)
	}
	_, dp, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	return []leaf{{ContentType: mt, Filename: dp["filename"], Data: data}}
}

// checkSevenBit fails when any byte of b is 8-bit or a line exceeds 998 octets.
func checkSevenBit(t *testing.T, what string, b []byte) {
	t.Helper()
	for i, c := range b {
		if c >= 0x80 || c == 0 {
			t.Fatalf("%s has 8-bit byte 0x%02x at %d", what, c, i)
		}
	}
	for n, line := range bytes.Split(b, []byte("\r\n")) {
		if len(line) > 998 {
			t.Fatalf("%s line %d is %d octets", what, n+1, len(line))
		}
	}
}

func mustContain(t *testing.T, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%q not found in:\n%s", sub, head([]byte(s)))
	}
}

func serialOf(c *x509.Certificate) string { return fmt.Sprintf("%x", c.SerialNumber) }
