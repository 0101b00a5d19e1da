package integration

import (
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// partner is a recipient outside with a key pair of its own, made by the
// test with the real tools, as a partner's admin would.
type partner struct {
	addr     string
	certFile string // S/MIME certificate (PEM)
	keyFile  string // its private key (PEM)
}

// newSMIMEPartner makes a self-signed S/MIME certificate with openssl:
// kind is "rsa" (RSA-2048, keyEncipherment) or "ec" (P-256, keyAgreement).
func newSMIMEPartner(t *testing.T, addr, kind string) partner {
	t.Helper()
	dir := t.TempDir()
	p := partner{addr: addr, certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem")}
	args := []string{"req", "-x509", "-nodes", "-days", "30", "-subj", "/CN=" + addr,
		"-addext", "subjectAltName=email:" + addr, "-addext", "extendedKeyUsage=emailProtection", "-addext", "basicConstraints=critical,CA:FALSE",
		"-keyout", p.keyFile, "-out", p.certFile}
	if kind == "ec" {
		args = append(args, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-addext", "keyUsage=digitalSignature,keyAgreement")
	} else {
		args = append(args, "-newkey", "rsa:2048", "-addext", "keyUsage=digitalSignature,keyEncipherment")
	}
	if out, err := run(t, nil, "openssl", args...); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	return p
}

// opensslDecrypt decrypts a delivered message as the partner with
// `openssl cms -decrypt` and returns the decrypted entity.
func opensslDecrypt(t *testing.T, p partner, raw []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.eml"), filepath.Join(dir, "out.eml")
	if err := os.WriteFile(in, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if res, err := run(t, nil, "openssl", "cms", "-decrypt", "-recip", p.certFile, "-inkey", p.keyFile, "-in", in, "-out", out); err != nil {
		t.Fatalf("openssl cms -decrypt as %s: %v\n%s", p.addr, err, res)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gpgsmDecrypt decrypts a delivered message as the partner with GnuPG's
// gpgsm, the partner's key imported from a PKCS#12 file into a throw-away
// GNUPGHOME.
func gpgsmDecrypt(t *testing.T, p partner, raw []byte) []byte {
	t.Helper()
	home := t.TempDir()
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	defer exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
	env := []string{"GNUPGHOME=" + home}
	if err := os.WriteFile(filepath.Join(home, "gpg-agent.conf"), []byte("allow-loopback-pinentry\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gpgsm := func(args ...string) *exec.Cmd {
		cmd := exec.Command("gpgsm", append([]string{"--batch", "--pinentry-mode", "loopback", "--passphrase-fd", "0",
			"--disable-crl-checks", "--disable-policy-checks"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdin = strings.NewReader("test\n")
		return cmd
	}
	// gpgsm 2.2 cannot read OpenSSL 3's default PKCS#12 encryption, and
	// now and then fails on one 3DES export ("encryptedData error at
	// outer.outer.seq"): a fresh export (new salt) reads. This is about
	// getting the partner's key into gpgsm, not about mailseal's output.
	p12 := filepath.Join(home, "partner.p12")
	var out []byte
	var err error
	for try := 0; try < 3; try++ {
		if res, err := run(t, nil, "openssl", "pkcs12", "-export", "-in", p.certFile, "-inkey", p.keyFile, "-out", p12, "-passout", "pass:test",
			"-certpbe", "PBE-SHA1-3DES", "-keypbe", "PBE-SHA1-3DES", "-macalg", "sha1"); err != nil {
			t.Fatalf("openssl pkcs12: %v\n%s", err, res)
		}
		if out, err = gpgsm("--import", p12).CombinedOutput(); err == nil && strings.Contains(string(out), "secret keys imported: 1") {
			break
		}
	}
	if err != nil || !strings.Contains(string(out), "secret keys imported: 1") {
		t.Fatalf("gpgsm --import: %v\n%s", err, out)
	}
	// gpgsm reads the CMS structure: the base64 body of the pkcs7-mime entity, decoded.
	m := parseMail(t, raw)
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(m.Body)), ""))
	if err != nil {
		t.Fatalf("pkcs7-mime body: %v", err)
	}
	in := filepath.Join(home, "msg.p7m")
	if err := os.WriteFile(in, der, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := gpgsm("--decrypt", in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gpgsm --decrypt as %s: %v\n%s", p.addr, err, stderr.String())
	}
	return stdout.Bytes()
}

// checkSameContent compares what the recipient reads after decryption with
// what was sent: every leaf part's decoded bytes.
func checkSameContent(t *testing.T, who string, sent, got []byte) {
	t.Helper()
	want, have := leaves(t, sent), leaves(t, got)
	if len(want) != len(have) {
		t.Fatalf("%s: %d parts after decryption, sent %d", who, len(have), len(want))
	}
	for i := range want {
		if want[i].ContentType != have[i].ContentType || !bytes.Equal(want[i].Data, have[i].Data) {
			t.Errorf("%s: part %d differs: sent %s (%d bytes), got %s (%d bytes)", who, i,
				want[i].ContentType, len(want[i].Data), have[i].ContentType, len(have[i].Data))
		}
	}
}

// bodyOf is the message as the client sent it, minus the outer header:
// the content the encrypted entity must carry.
func contentOf(msg []byte) []byte {
	i := bytes.Index(msg, []byte("\r\n\r\n"))
	var ct []string
	for _, l := range strings.Split(string(msg[:i]), "\r\n") {
		if strings.HasPrefix(strings.ToLower(l), "content-") {
			ct = append(ct, l)
		}
	}
	return []byte(strings.Join(ct, "\r\n") + "\r\n\r\n" + string(msg[i+4:]))
}

const smimeRules = `policy:
  rules:
    - {name: gcm, recipients: ["*@gcm.example"], smime_cipher: aes256-gcm}
    - {name: oaep, recipients: ["*@oaep.example"], smime_key_transport: rsa-oaep}
`

// S/MIME encryption through a real Postfix: each partner decrypts its copy
// with openssl (and gpgsm for CBC), the inner signature verifies, the
// content is what was sent, and the real subject is only inside.
func TestSMIMEEncryptedMailDecryptsWithOpenSSLAndGpgsm(t *testing.T) {
	d, pf := setupPolicy(t, smimeRules, map[string]string{"message_size_limit": "0"})
	partners := map[string]partner{
		"cbc":  newSMIMEPartner(t, "bob@cbc.example", "rsa"),
		"gcm":  newSMIMEPartner(t, "carol@gcm.example", "rsa"),
		"oaep": newSMIMEPartner(t, "dave@oaep.example", "rsa"),
		"ecdh": newSMIMEPartner(t, "erin@ecdh.example", "ec"),
	}
	var files []string
	for _, p := range partners {
		files = append(files, p.certFile)
	}
	if out, err := d.CLI(append([]string{"certs", "import"}, files...)...); err != nil {
		t.Fatalf("certs import: %v\n%s", err, out)
	}
	explain, err := d.CLI("policy", "explain", "--from", "alice@corp.example", "--to", "carol@gcm.example")
	if err != nil {
		t.Fatalf("policy explain: %v\n%s", err, explain)
	}
	mustContain(t, explain, "cipher aes256-gcm")
	mustContain(t, explain, "certificate SHA-256 ") // the key it would use, with provenance
	mustContain(t, explain, "(imported, unverified")

	const subject = "Quarterly figures, do not read on the wire"
	var to []string
	for _, p := range partners {
		to = append(to, p.addr)
	}
	msg := internalMail("alice@corp.example", strings.Join(to, ">, <"), subject, randomBytes(t, 3<<20))
	if err := pf.Send(t, postfixtest.Mail{From: "alice@corp.example", To: to, Data: msg, SourceIP: trustedIP}); err != nil {
		t.Fatal(err)
	}
	wantType := map[string]string{"cbc": "enveloped-data", "gcm": "authEnveloped-data", "oaep": "enveloped-data", "ecdh": "enveloped-data"}
	for name, p := range partners {
		raw := pf.WaitDelivered(t, p.addr, 1, deliveryTimeout)[0]
		m := parseMail(t, raw)
		if ct := m.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/pkcs7-mime") || !strings.Contains(ct, "smime-type="+wantType[name]) {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
		if bytes.Contains(raw, []byte("Quarterly")) || bytes.Contains(raw, []byte("Grüße")) {
			t.Errorf("%s: subject or text readable in the delivered message", name)
		}
		if got := m.Header.Get("Subject"); got != "..." {
			t.Errorf("%s: outer Subject %q, want ...", name, got)
		}
		inner := opensslDecrypt(t, p, raw)
		content, signer := opensslVerify(t, d.CAFile(), inner)
		if signer.EmailAddresses[0] != "alice@corp.example" {
			t.Errorf("%s: signed by %v", name, signer.EmailAddresses)
		}
		if !regexp.MustCompile(`(?m)^Subject: ` + subject + `\r?$`).Match(content) {
			t.Errorf("%s: the real subject is not in the decrypted part:\n%s", name, head(content))
		}
		mustContain(t, head(content), `hp="cipher"`)
		checkSameContent(t, name, contentOf(msg), content)
		if name == "cbc" {
			checkSameContent(t, "cbc (gpgsm)", contentOf(msg), mustVerifyInner(t, d, gpgsmDecrypt(t, p, raw)))
		}
	}
	expectDeliveries(t, pf, map[string]int{"bob@cbc.example": 1, "carol@gcm.example": 1, "dave@oaep.example": 1, "erin@ecdh.example": 1})
}

// mustVerifyInner verifies a decrypted multipart/signed entity with openssl
// and returns its content.
func mustVerifyInner(t *testing.T, d *daemon, inner []byte) []byte {
	t.Helper()
	content, _ := opensslVerify(t, d.CAFile(), inner)
	return content
}

// pgpPartner is an OpenPGP recipient with its own GNUPGHOME.
type pgpPartner struct {
	addr, home string
}

func newPGPPartner(t *testing.T, addr string) pgpPartner {
	t.Helper()
	home := t.TempDir()
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run() })
	p := pgpPartner{addr: addr, home: home}
	if out, err := run(t, p.env(), "gpg", "--batch", "--passphrase", "", "--quick-gen-key", addr, "default", "default", "30d"); err != nil {
		t.Fatalf("gpg --quick-gen-key: %v\n%s", err, out)
	}
	return p
}

func (p pgpPartner) env() []string { return []string{"GNUPGHOME=" + p.home} }

func (p pgpPartner) export(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("gpg", "--homedir", p.home, "--batch", "--armor", "--export", p.addr).Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("gpg --export %s: %v", p.addr, err)
	}
	f := filepath.Join(t.TempDir(), "key.asc")
	if err := os.WriteFile(f, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// decrypt runs gpg --decrypt on the encrypted part of a PGP/MIME message and
// returns the plaintext and gpg's status lines.
func (p pgpPartner) decrypt(t *testing.T, raw []byte) (plain []byte, status string) {
	t.Helper()
	m := parseMail(t, raw)
	parts := leaves(t, append([]byte("Content-Type: "+m.Header.Get("Content-Type")+"\r\n\r\n"), m.Body...))
	var armored []byte
	for _, l := range parts {
		if l.ContentType == "application/octet-stream" {
			armored = l.Data
		}
	}
	if armored == nil {
		t.Fatalf("%s: no application/octet-stream part in the PGP/MIME message", p.addr)
	}
	cmd := exec.Command("gpg", "--homedir", p.home, "--batch", "--status-fd", "2", "--decrypt")
	cmd.Stdin = bytes.NewReader(armored)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gpg --decrypt as %s: %v\n%s", p.addr, err, stderr.String())
	}
	return stdout.Bytes(), stderr.String()
}

// One mail to an S/MIME, a PGP and a keyless recipient: exactly one correct
// copy each. The PGP copy decrypts and verifies with gpg against the
// sender's exported key; the keyless one (encrypt: opportunistic) is signed.
func TestMixedKeysOneCopyEachPGPDecryptsWithGpg(t *testing.T) {
	d, pf := setupPolicy(t, "", map[string]string{"message_size_limit": "0"})
	sm := newSMIMEPartner(t, "bob@smime.example", "rsa")
	pg := newPGPPartner(t, "pat@pgp.example")
	if out, err := d.CLI("certs", "import", sm.certFile); err != nil {
		t.Fatalf("certs import: %v\n%s", err, out)
	}
	if out, err := d.CLI("keys", "import", pg.export(t)); err != nil {
		t.Fatalf("keys import: %v\n%s", err, out)
	}
	// The partner trusts the sender's key it got out of band.
	senderKey, err := d.CLI("keys", "export", "alice@corp.example")
	if err != nil || !strings.Contains(senderKey, "BEGIN PGP PUBLIC KEY BLOCK") {
		t.Fatalf("keys export: %v\n%s", err, senderKey)
	}
	cmd := exec.Command("gpg", "--homedir", pg.home, "--batch", "--import")
	cmd.Stdin = strings.NewReader(senderKey[strings.Index(senderKey, "-----BEGIN"):])
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gpg --import sender key: %v\n%s", err, out)
	}

	const subject = "Merger plans"
	to := []string{"bob@smime.example", "pat@pgp.example", "kim@nokey.example"}
	msg := internalMail("alice@corp.example", strings.Join(to, ">, <"), subject, randomBytes(t, 3<<20))
	if err := pf.Send(t, postfixtest.Mail{From: "alice@corp.example", To: to, Data: msg, SourceIP: trustedIP}); err != nil {
		t.Fatal(err)
	}

	// S/MIME
	raw := pf.WaitDelivered(t, "bob@smime.example", 1, deliveryTimeout)[0]
	content, _ := opensslVerify(t, d.CAFile(), opensslDecrypt(t, sm, raw))
	checkSameContent(t, "smime", contentOf(msg), content)

	// PGP/MIME
	raw = pf.WaitDelivered(t, "pat@pgp.example", 1, deliveryTimeout)[0]
	m := parseMail(t, raw)
	if ct := m.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/encrypted") || !strings.Contains(ct, "application/pgp-encrypted") {
		t.Errorf("pgp copy has Content-Type %q", ct)
	}
	if got := m.Header.Get("Subject"); got != "..." {
		t.Errorf("pgp copy: outer Subject %q", got)
	}
	plain, status := pg.decrypt(t, raw)
	if !strings.Contains(status, "[GNUPG:] GOODSIG") || !strings.Contains(status, "alice@corp.example") {
		t.Errorf("gpg did not report a good signature by alice:\n%s", status)
	}
	if !strings.Contains(status, "[GNUPG:] DECRYPTION_OKAY") || strings.Contains(status, "DECRYPTION_FAILED") {
		t.Errorf("gpg decryption status:\n%s", status)
	}
	if !regexp.MustCompile(`(?m)^Subject: ` + subject + `\r?$`).Match(plain) {
		t.Errorf("the real subject is not in the decrypted PGP part:\n%s", head(plain))
	}
	checkSameContent(t, "pgp", contentOf(msg), plain)

	// keyless, opportunistic: signed, readable, real subject.
	raw = pf.WaitDelivered(t, "kim@nokey.example", 1, deliveryTimeout)[0]
	content, _ = opensslVerify(t, d.CAFile(), raw)
	if got := parseMail(t, raw).Header.Get("Subject"); got != subject {
		t.Errorf("keyless copy: Subject %q, want %q", got, subject)
	}
	checkSameContent(t, "keyless", contentOf(msg), content)

	expectDeliveries(t, pf, map[string]int{"bob@smime.example": 1, "pat@pgp.example": 1, "kim@nokey.example": 1})
}

// encrypt: required with fallback: reject refuses a recipient at RCPT only
// while no key is known; once the partner's certificate is imported, the
// same mail is accepted and leaves encrypted.
func TestRequiredEncryptionRefusesOnlyWithoutKey(t *testing.T) {
	d, pf := setupPolicy(t, partnerRules, nil)
	p := newSMIMEPartner(t, "bob@partner.example", "rsa")
	mail := postfixtest.Mail{From: "alice@corp.example", To: []string{"bob@partner.example"},
		Data: mailTo("alice@corp.example", []string{"bob@partner.example"}, "Offer"), SourceIP: trustedIP}
	r := pf.Submit(mail)
	if len(r.Errors) != 1 || r.Errors[0].Stage != "RCPT" || r.Errors[0].Code != 550 {
		t.Fatalf("without a key: %v, want 550 at RCPT", r.Error())
	}
	if out, err := d.CLI("certs", "import", p.certFile); err != nil {
		t.Fatalf("certs import: %v\n%s", err, out)
	}
	if err := pf.Send(t, mail); err != nil {
		t.Fatalf("with the key imported: %v", err)
	}
	raw := pf.WaitDelivered(t, "bob@partner.example", 1, deliveryTimeout)[0]
	content, _ := opensslVerify(t, d.CAFile(), opensslDecrypt(t, p, raw))
	mustContain(t, string(content), "Subject: Offer")
	expectDeliveries(t, pf, map[string]int{"bob@partner.example": 1})
}
