package integration

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// partnerCA is a partner's certificate authority made with the openssl
// command line, as a partner's admin would.
type partnerCA struct {
	dir, cert, key string
}

var partnerSerial atomic.Int64

func newPartnerCA(t *testing.T, name string) *partnerCA {
	t.Helper()
	dir := t.TempDir()
	ca := &partnerCA{dir: dir, cert: filepath.Join(dir, "ca.pem"), key: filepath.Join(dir, "ca.key")}
	if out, err := run(t, nil, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
		"-subj", "/CN="+name+"/O=Partner AG", "-keyout", ca.key, "-out", ca.cert,
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"); err != nil {
		t.Fatalf("openssl req (CA): %v\n%s", err, out)
	}
	return ca
}

// issue makes a mail certificate for addr signed by the CA; extra are
// further extension lines (authorityInfoAccess, crlDistributionPoints).
func (ca *partnerCA) issue(t *testing.T, addr string, extra ...string) partner {
	t.Helper()
	n := partnerSerial.Add(1)
	base := filepath.Join(ca.dir, fmt.Sprintf("p%d", n))
	p := partner{addr: addr, certFile: base + ".pem", keyFile: base + ".key"}
	if out, err := run(t, nil, "openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN="+addr,
		"-keyout", p.keyFile, "-out", base+".csr"); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	ext := strings.Join(append([]string{"subjectAltName=email:" + addr, "basicConstraints=critical,CA:FALSE",
		"keyUsage=critical,digitalSignature,keyEncipherment", "extendedKeyUsage=emailProtection"}, extra...), "\n") + "\n"
	if err := os.WriteFile(base+".ext", []byte(ext), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, nil, "openssl", "x509", "-req", "-in", base+".csr", "-CA", ca.cert, "-CAkey", ca.key,
		"-set_serial", fmt.Sprint(0x1000+n), "-days", "20", "-sha256", "-extfile", base+".ext", "-out", p.certFile); err != nil {
		t.Fatalf("openssl x509 -req: %v\n%s", err, out)
	}
	return p
}

const partnerContent = "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" +
	"Please pay invoice 4711 by Friday.\r\nThe accounts team\r\n"

func partnerHeader(from, to, subject string) string {
	return fmt.Sprintf("From: Partner <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: Mon, 30 Nov 2026 00:00:00 +0000\r\nMessage-ID: <%d@partner.test>\r\n",
		from, to, subject, time.Now().UnixNano())
}

// opensslSigned is a whole message signed by p with `openssl cms -sign`
// (multipart/signed, detached).
func opensslSigned(t *testing.T, p partner, to, subject string) []byte {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "content.eml"), filepath.Join(dir, "signed.eml")
	if err := os.WriteFile(in, []byte(partnerContent), 0o600); err != nil {
		t.Fatal(err)
	}
	if res, err := run(t, nil, "openssl", "cms", "-sign", "-signer", p.certFile, "-inkey", p.keyFile, "-md", "sha256",
		"-in", in, "-out", out); err != nil {
		t.Fatalf("openssl cms -sign: %v\n%s", err, res)
	}
	signed, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(partnerHeader(p.addr, to, subject)), signed...)
}

// gpgsmSigned is a whole message signed by p with GnuPG's gpgsm, as opaque
// signed-data (application/pkcs7-mime; smime-type=signed-data).
func gpgsmSigned(t *testing.T, ca *partnerCA, p partner, to, subject string) []byte {
	t.Helper()
	home := t.TempDir()
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	defer exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
	if err := os.WriteFile(filepath.Join(home, "gpg-agent.conf"), []byte("allow-loopback-pinentry\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(ca.cert)
	block, _ := pem.Decode(caPEM)
	sum := sha1.Sum(block.Bytes)
	var fpr []string
	for _, b := range sum {
		fpr = append(fpr, strings.ToUpper(hex.EncodeToString([]byte{b})))
	}
	if err := os.WriteFile(filepath.Join(home, "trustlist.txt"), []byte(strings.Join(fpr, ":")+" S relax\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gpgsm := func(args ...string) *exec.Cmd {
		cmd := exec.Command("gpgsm", append([]string{"--batch", "--pinentry-mode", "loopback", "--passphrase-fd", "0",
			"--disable-crl-checks", "--disable-policy-checks"}, args...)...)
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
		cmd.Stdin = strings.NewReader("test\n")
		return cmd
	}
	if out, err := gpgsm("--import", ca.cert).CombinedOutput(); err != nil {
		t.Fatalf("gpgsm --import CA: %v\n%s", err, out)
	}
	// As in gpgsmDecrypt: gpgsm 2.2 reads only the legacy PKCS#12 encryption,
	// and now and then fails on one export; a fresh export reads.
	p12 := filepath.Join(home, "signer.p12")
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
	in, signed := filepath.Join(home, "content.eml"), filepath.Join(home, "signed.p7m")
	if err := os.WriteFile(in, []byte(partnerContent), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := gpgsm("--local-user", p.addr, "--output", signed, "--sign", in).CombinedOutput(); err != nil {
		t.Fatalf("gpgsm --sign: %v\n%s", err, out)
	}
	der, err := os.ReadFile(signed)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.StdEncoding.EncodeToString(der)
	var b strings.Builder
	b.WriteString(partnerHeader(p.addr, to, subject))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\r\n" +
		"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=smime.p7m\r\n\r\n")
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return []byte(b.String())
}

// gpgSigned is a whole RFC 3156 PGP/MIME message signed by p with gpg.
func gpgSigned(t *testing.T, p pgpPartner, to, subject string) []byte {
	t.Helper()
	dir := t.TempDir()
	in, sig := filepath.Join(dir, "content.eml"), filepath.Join(dir, "content.asc")
	if err := os.WriteFile(in, []byte(partnerContent), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, p.env(), "gpg", "--batch", "--armor", "--digest-algo", "SHA256", "--detach-sign", "--output", sig, in); err != nil {
		t.Fatalf("gpg --detach-sign: %v\n%s", err, out)
	}
	armored, err := os.ReadFile(sig)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(partnerHeader(p.addr, to, subject) + "MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"pgp-b\"\r\n\r\n" +
		"--pgp-b\r\n" + partnerContent + "\r\n--pgp-b\r\n" +
		"Content-Type: application/pgp-signature; name=signature.asc\r\n\r\n" +
		strings.ReplaceAll(strings.ReplaceAll(string(armored), "\r\n", "\n"), "\n", "\r\n") + "\r\n--pgp-b--\r\n")
}

// ourVerdict returns the Authentication-Results value under our authserv-id
// and the X-Mailseal-Signature value of a delivered message.
func ourVerdict(t *testing.T, m *parsedMail) (ar, sig string) {
	t.Helper()
	var ours []string
	for _, v := range m.Header.Values("Authentication-Results") {
		if strings.HasPrefix(v, authservID+";") {
			ours = append(ours, v)
		}
	}
	sigs := m.Header.Values("X-Mailseal-Signature")
	if len(ours) != 1 || len(sigs) != 1 {
		t.Fatalf("want one Authentication-Results of ours and one X-Mailseal-Signature, got %q and %q\n%s", ours, sigs, head(m.Raw))
	}
	unfold := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	return unfold(ours[0]), unfold(sigs[0])
}

// reportParts splits a delivered message with a report: the raw first
// part (the original signed entity, header and body) and the decoded
// report text with its file name.
func reportParts(t *testing.T, m *parsedMail) (original []byte, report, filename string) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q, want multipart/mixed with the report\n%s", m.Header.Get("Content-Type"), head(m.Raw))
	}
	delim := "--" + params["boundary"]
	body := string(m.Body)
	start := strings.Index(body, delim+"\r\n")
	end := strings.Index(body[start:], "\r\n"+delim+"\r\n")
	if start < 0 || end < 0 {
		t.Fatalf("parts not found\n%s", head(m.Raw))
	}
	original = []byte(body[start+len(delim)+2 : start+end])
	r := multipart.NewReader(bytes.NewReader(m.Body), params["boundary"])
	if _, err := r.NextPart(); err != nil {
		t.Fatal(err)
	}
	second, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(second)
	return original, string(text), second.FileName()
}

// opensslVerifies runs `openssl cms -verify` on an entity (what a
// recipient's client checks) and reports whether it verified.
func opensslVerifies(t *testing.T, caFile string, entity []byte) (bool, string) {
	t.Helper()
	f := writeTemp(t, append([]byte("MIME-Version: 1.0\r\n"), entity...))
	out, err := run(t, nil, "openssl", "cms", "-verify", "-purpose", "smimesign", "-CAfile", caFile, "-in", f, "-out", "/dev/null")
	return err == nil && strings.Contains(out, "Verification successful"), out
}

const inboundRules = `trust:
  anchor_files: [%s]
  report: en
  subject_tags:
    fail: "[signature INVALID]"
policy:
  rules:
    - {name: strict, direction: inbound, senders: ["*@strict.example"], require_signature: reject}
    - {name: tagged, direction: inbound, senders: ["*@tagged.example"], require_signature: tag}
`

// Mail signed by a partner (openssl, and gpgsm's opaque signed-data)
// arrives through a real Postfix with smime=pass, a readable report and
// the original signed part still verifiable by openssl; a tampered one gets
// smime=fail with the reason; the signer's certificate is harvested and
// the next outbound mail to the partner is encrypted; require_signature
// partners' unsigned mail is refused or tagged.
func TestInboundSignaturesThroughPostfix(t *testing.T) {
	ca := newPartnerCA(t, "Partner Root CA")
	paula := ca.issue(t, "paula@partner.example")
	gina := ca.issue(t, "gina@partner.example")
	sam := ca.issue(t, "sam@strict.example")
	d, pf := setupPolicy(t, fmt.Sprintf(inboundRules, ca.cert), nil)
	send := func(from, to string, msg []byte) *postfixtest.Result {
		return pf.Submit(postfixtest.Mail{From: from, To: []string{to}, Data: msg, SourceIP: untrustedIP})
	}

	t.Run("openssl signed: pass, report, still verifies, harvested", func(t *testing.T) {
		if r := send(paula.addr, "bob@corp.example", opensslSigned(t, paula, "bob@corp.example", "Invoice 4711")); r.Error() != nil {
			t.Fatal(r.Error())
		}
		m := parseMail(t, pf.WaitDelivered(t, "bob@corp.example", 1, deliveryTimeout)[0])
		ar, sig := ourVerdict(t, m)
		for _, w := range []string{"smime=pass", "body.smime-identifier=paula@partner.example", `body.smime-issuer="CN=Partner Root CA,O=Partner AG"`} {
			mustContain(t, ar, w)
		}
		for _, w := range []string{"smime=pass", "kind=multipart/signed", "signer=paula@partner.example", "valid-until="} {
			mustContain(t, sig, w)
		}
		if got := m.Header.Get("Subject"); got != "Invoice 4711" {
			t.Errorf("Subject %q (no pass tag configured)", got)
		}
		original, report, name := reportParts(t, m)
		if name != "signature-report.txt" {
			t.Errorf("report file name %q", name)
		}
		for _, w := range []string{"VALID signature (S/MIME, smime=pass)", "paula@partner.example", "CN=Partner Root CA,O=Partner AG", "Revocation:"} {
			mustContain(t, report, w)
		}
		if ok, out := opensslVerifies(t, ca.cert, original); !ok {
			t.Errorf("the delivered signed part does not verify with openssl:\n%s\n%s", out, head(original))
		}
		d.WaitLog("outcome=added", 10*time.Second)

		// The harvested certificate: alice's next mail to paula is encrypted.
		if err := pf.Send(t, postfixtest.Mail{From: "alice@corp.example", To: []string{paula.addr},
			Data: mailTo("alice@corp.example", []string{paula.addr}, "Re: Invoice 4711"), SourceIP: trustedIP}); err != nil {
			t.Fatal(err)
		}
		raw := pf.WaitDelivered(t, paula.addr, 1, deliveryTimeout)[0]
		if ct := parseMail(t, raw).Header.Get("Content-Type"); !strings.Contains(ct, "enveloped-data") {
			t.Fatalf("reply to the harvested partner not encrypted: Content-Type %q", ct)
		}
		inner := opensslDecrypt(t, paula, raw)
		mustContain(t, string(mustVerifyInner(t, d, inner)), "Subject: Re: Invoice 4711")
	})

	t.Run("gpgsm opaque signed-data: pass, original first part verifies", func(t *testing.T) {
		if r := send(gina.addr, "carl@corp.example", gpgsmSigned(t, ca, gina, "carl@corp.example", "Opaque")); r.Error() != nil {
			t.Fatal(r.Error())
		}
		m := parseMail(t, pf.WaitDelivered(t, "carl@corp.example", 1, deliveryTimeout)[0])
		ar, sig := ourVerdict(t, m)
		mustContain(t, ar, "smime=pass")
		mustContain(t, sig, "kind=signed-data")
		original, report, _ := reportParts(t, m)
		mustContain(t, report, "gina@partner.example")
		if !strings.HasPrefix(strings.ToLower(string(original)), "content-type: application/pkcs7-mime") {
			t.Errorf("first part is not the original signed-data:\n%s", head(original))
		}
		if ok, out := opensslVerifies(t, ca.cert, original); !ok {
			t.Errorf("the delivered signed-data does not verify with openssl:\n%s", out)
		}
	})

	t.Run("PGP/MIME signed with a known key: pgp=pass; tampered: pgp=fail", func(t *testing.T) {
		pat := newPGPPartner(t, "pat@pgp.example")
		if out, err := d.CLI("keys", "import", pat.export(t)); err != nil {
			t.Fatalf("keys import: %v\n%s", err, out)
		}
		msg := gpgSigned(t, pat, "gus@corp.example", "PGP signed")
		if r := send(pat.addr, "gus@corp.example", msg); r.Error() != nil {
			t.Fatal(r.Error())
		}
		m := parseMail(t, pf.WaitDelivered(t, "gus@corp.example", 1, deliveryTimeout)[0])
		ar, sig := ourVerdict(t, m)
		mustContain(t, ar, "smime=none (OpenPGP signature, pgp=pass")
		mustContain(t, sig, "pgp=pass")
		_, report, _ := reportParts(t, m)
		mustContain(t, report, "VALID signature (OpenPGP)")

		tampered := bytes.Replace(msg, []byte("4711"), []byte("4712"), 1)
		if r := send(pat.addr, "hal@corp.example", tampered); r.Error() != nil {
			t.Fatal(r.Error())
		}
		_, sig = ourVerdict(t, parseMail(t, pf.WaitDelivered(t, "hal@corp.example", 1, deliveryTimeout)[0]))
		mustContain(t, sig, "pgp=fail")
		mustContain(t, sig, "code=pgp-bad-signature")
	})

	t.Run("tampered: fail with reason and tag", func(t *testing.T) {
		msg := bytes.Replace(opensslSigned(t, paula, "dora@corp.example", "Invoice"), []byte("4711"), []byte("4712"), 1)
		if r := send(paula.addr, "dora@corp.example", msg); r.Error() != nil {
			t.Fatal(r.Error())
		}
		m := parseMail(t, pf.WaitDelivered(t, "dora@corp.example", 1, deliveryTimeout)[0])
		ar, sig := ourVerdict(t, m)
		mustContain(t, ar, "smime=fail")
		mustContain(t, ar, "changed after it was signed")
		mustContain(t, sig, "code=bad-signature")
		if got := m.Header.Get("Subject"); got != "[signature INVALID] Invoice" {
			t.Errorf("Subject %q", got)
		}
		_, report, _ := reportParts(t, m)
		mustContain(t, report, "INVALID signature")
		mustContain(t, report, "do not trust its content")
	})

	t.Run("require_signature reject: unsigned refused, signed accepted", func(t *testing.T) {
		r := send("sam@strict.example", "erin@corp.example", mailTo("sam@strict.example", []string{"erin@corp.example"}, "unsigned"))
		if len(r.Errors) != 1 || r.Errors[0].Stage != "DOT" || r.Errors[0].Code != 550 ||
			!strings.HasPrefix(r.Errors[0].Msg, "5.7.1 Mail from this sender must carry a valid signature") {
			t.Fatalf("unsigned mail from a require_signature partner: %v, want 550 5.7.1 at end of data", r.Error())
		}
		if r := send(sam.addr, "erin@corp.example", opensslSigned(t, sam, "erin@corp.example", "signed")); r.Error() != nil {
			t.Fatalf("signed mail refused: %v", r.Error())
		}
		ar, _ := ourVerdict(t, parseMail(t, pf.WaitDelivered(t, "erin@corp.example", 1, deliveryTimeout)[0]))
		mustContain(t, ar, "smime=pass")
	})

	t.Run("signed, then encrypted to us: decrypted and verified", func(t *testing.T) {
		// A require_signature partner: the signature inside the encryption
		// is what lets it in, so it must be checked after decrypting.
		ivy := exportCert(t, d, "ivy@corp.example")
		signed := opensslSigned(t, sam, "ivy@corp.example", "ignored")
		// The signed entity starts at openssl's own MIME-Version field,
		// after the partner header opensslSigned put in front.
		entity := signed[bytes.Index(signed, []byte("MIME-Version:")):]
		enc := opensslEncrypt(t, entity, "-aes-256-gcm", ivy)
		msg := append([]byte(partnerHeader(sam.addr, "ivy@corp.example", "Signed and sealed")), enc...)
		if r := send(sam.addr, "ivy@corp.example", msg); r.Error() != nil {
			t.Fatalf("signed and encrypted mail refused: %v", r.Error())
		}
		raw := pf.WaitDelivered(t, "ivy@corp.example", 1, deliveryTimeout)[0]
		m := parseMail(t, raw)
		if got := m.Header.Get("X-Mailseal-Decrypted"); !strings.HasPrefix(got, "S/MIME AES-256-GCM for ivy@corp.example") {
			t.Fatalf("X-Mailseal-Decrypted %q\n%s", got, head(raw))
		}
		ar, sig := ourVerdict(t, m)
		mustContain(t, ar, "smime=pass")
		mustContain(t, ar, "body.smime-identifier=sam@strict.example")
		mustContain(t, sig, "kind=multipart/signed")
		original, report, _ := reportParts(t, m)
		mustContain(t, report, "sam@strict.example")
		if ok, out := opensslVerifies(t, ca.cert, original); !ok {
			t.Errorf("the decrypted signed part does not verify with openssl:\n%s\n%s", out, head(original))
		}

		// Encrypted to us but not signed inside: still refused for this
		// partner, after decrypting.
		plain := opensslEncrypt(t, []byte(partnerContent), "-aes-256-gcm", ivy)
		r := send(sam.addr, "ivy@corp.example", append([]byte(partnerHeader(sam.addr, "ivy@corp.example", "sealed only")), plain...))
		if len(r.Errors) != 1 || r.Errors[0].Code != 550 || !strings.Contains(r.Errors[0].Msg, "not signed") {
			t.Fatalf("encrypted but unsigned mail from a require_signature partner: %v, want 550 not signed", r.Error())
		}
	})

	t.Run("require_signature tag: unsigned tagged", func(t *testing.T) {
		if r := send("tom@tagged.example", "fred@corp.example", mailTo("tom@tagged.example", []string{"fred@corp.example"}, "Hello")); r.Error() != nil {
			t.Fatal(r.Error())
		}
		m := parseMail(t, pf.WaitDelivered(t, "fred@corp.example", 1, deliveryTimeout)[0])
		if got := m.Header.Get("Subject"); got != "[not verified] Hello" {
			t.Errorf("Subject %q", got)
		}
		ar, _ := ourVerdict(t, m)
		mustContain(t, ar, "smime=none")
	})
}

// trust.anchor_files is re-read on SIGHUP: a partner's signature that was
// untrusted verifies once its root is configured, without a restart.
func TestInboundAnchorsReloadOnSIGHUP(t *testing.T) {
	ca := newPartnerCA(t, "Later Root CA")
	vera := ca.issue(t, "vera@partner.example")
	d, pf := setupPolicy(t, "", nil)
	verdictFor := func(rcpt string) (string, string) {
		t.Helper()
		if r := pf.Submit(postfixtest.Mail{From: vera.addr, To: []string{rcpt}, Data: opensslSigned(t, vera, rcpt, "Anchors"), SourceIP: untrustedIP}); r.Error() != nil {
			t.Fatal(r.Error())
		}
		return ourVerdict(t, parseMail(t, pf.WaitDelivered(t, rcpt, 1, deliveryTimeout)[0]))
	}
	ar, sig := verdictFor("v1@corp.example")
	mustContain(t, ar, "smime=fail")
	mustContain(t, sig, "code=untrusted")

	d.WriteConfig(d.BaseConfig() + "trust:\n  anchor_files: [" + ca.cert + "]\n")
	d.Signal(syscall.SIGHUP)
	d.WaitLog("configuration reloaded", 10*time.Second)
	ar, _ = verdictFor("v2@corp.example")
	mustContain(t, ar, "smime=pass")
}
