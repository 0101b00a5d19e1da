package treat

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/crypto/pgpmime"
	"github.com/mailseal/mailseal/crypto/smime"
)

var testOuter = []Field{
	{"From", "Alice <alice@corp.example>"}, {"To", "bob@partner.example"},
	{"Subject", "Merger =?utf-8?q?pl=C3=A4ne?="}, {"Date", "Thu, 26 Nov 2026 10:00:00 +0000"},
	{"Message-ID", "<1@corp.example>"}, {"Received", "from a by b"},
}

var testContent = []Field{{"Content-Type", "text/plain; charset=utf-8"}, {"Content-Transfer-Encoding", "8bit"}}

const testBody = "Grüße,\nthe figures.\nFrom here on: secret.\n"

func TestProtect(t *testing.T) {
	cases := []struct {
		name        string
		subject     string
		wantHidden  bool
		wantOuter   string
		wantInInner []string
	}{
		{"default placeholder", "...", true, "...", []string{`hp="cipher"`, "Subject: Merger", "HP-Outer: Subject: ...", "From: Alice"}},
		{"subject kept visible", "", false, "", []string{`hp="cipher"`, "Subject: Merger"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Protect(testOuter, testContent, strings.NewReader(testBody), c.subject)
			if err != nil {
				t.Fatal(err)
			}
			if p.SubjectHidden != c.wantHidden || (c.wantHidden && p.OuterSubject != c.wantOuter) {
				t.Fatalf("hidden %v outer %q", p.SubjectHidden, p.OuterSubject)
			}
			for _, w := range c.wantInInner {
				if !bytes.Contains(p.Entity, []byte(w)) {
					t.Errorf("inner entity lacks %q:\n%s", w, p.Entity)
				}
			}
			if bytes.Contains(p.Entity, []byte("Received:")) {
				t.Error("trace field copied into the inner entity")
			}
			if regexp.MustCompile(`(?m)^From `).Match(p.Entity) {
				t.Error("inner entity has a line starting with From ")
			}
		})
	}
}

// Each S/MIME variant decrypts with the real openssl; the inner signature
// verifies and carries the protected subject.
func TestEncryptSMIMEOpenSSL(t *testing.T) {
	p := newTestPKI(t)
	senderCert, senderKey := p.user("alice@corp.example", "rsa2048")
	signer, err := smime.NewSigner(senderKey, senderCert, []*x509.Certificate{p.caCert})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		kind   string
		kt     smime.KeyTransport
		cipher smime.Cipher
		sign   bool
		want   string
	}{
		{"rsa cbc signed", "rsa2048", smime.PKCS1v15, smime.AES256CBC, true, "smime-type=enveloped-data"},
		{"rsa oaep gcm signed", "rsa3072", smime.OAEPSHA256, smime.AES256GCM, true, "smime-type=authEnveloped-data"},
		{"ecdh cbc unsigned", "p256", smime.PKCS1v15, smime.AES256CBC, false, "smime-type=enveloped-data"},
	}
	dir := t.TempDir()
	ca := writePEM(t, dir, "ca.pem", nil, p.caCert)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rcert, rkey := p.user("bob@partner.example", c.kind)
			prot, err := Protect(testOuter, testContent, strings.NewReader(testBody), "...")
			if err != nil {
				t.Fatal(err)
			}
			var s *smime.Signer
			if c.sign {
				s = signer
			}
			rcpts := []smime.Recipient{{Cert: rcert, KeyTransport: c.kt}, {Cert: senderCert}}
			e, err := EncryptSMIME(prot.Entity, s, rcpts, smime.EncryptOptions{Cipher: c.cipher})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(e.ContentType(), c.want) {
				t.Fatalf("content type %q, want %s", e.ContentType(), c.want)
			}
			msg := append([]byte("MIME-Version: 1.0\r\n"), e.Bytes()...)
			in := filepath.Join(t.TempDir(), "in.eml")
			os.WriteFile(in, msg, 0o600)
			inner := run(t, nil, "openssl", "cms", "-decrypt", "-in", in,
				"-recip", writePEM(t, t.TempDir(), "r.pem", nil, rcert), "-inkey", writePEM(t, t.TempDir(), "k.pem", rkey))
			if c.sign {
				inner = run(t, inner, "openssl", "cms", "-verify", "-purpose", "smimesign", "-CAfile", ca)
			}
			if !bytes.Equal(inner, prot.Entity) {
				t.Fatalf("decrypted content differs from the protected entity:\n%s", inner)
			}
			// The sender's own certificate is a recipient too.
			dec, err := smime.Decrypt(derOf(t, e), senderCert, senderKey)
			if err != nil {
				t.Fatalf("sender cannot read its own copy: %v", err)
			}
			if c.sign == bytes.Equal(dec.Content, prot.Entity) {
				t.Fatalf("sender's decryption: signed %v, content equal %v", c.sign, !c.sign)
			}
		})
	}
}

func derOf(t *testing.T, e *Entity) []byte {
	t.Helper()
	var b64 strings.Builder
	for _, l := range strings.Split(string(e.Body), "\r\n") {
		b64.WriteString(l)
	}
	der, err := base64.StdEncoding.DecodeString(b64.String())
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestEncryptPGPRoundTrip(t *testing.T) {
	sender, err := pgpmime.GenerateKey("Alice", "alice@corp.example", pgpmime.KeyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rcpt, err := pgpmime.GenerateKey("Bob", "bob@partner.example", pgpmime.KeyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sk := mustPrivate(t, sender.Private)
	rk := mustPrivate(t, rcpt.Private)
	prot, err := Protect(testOuter, testContent, strings.NewReader(testBody), "...")
	if err != nil {
		t.Fatal(err)
	}
	e, err := EncryptPGP(prot.Entity, sk, []*pgpmime.PublicKey{rk.Public(), sk.Public()})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.ContentType(), "multipart/encrypted") {
		t.Fatalf("content type %q", e.ContentType())
	}
	for name, key := range map[string]*pgpmime.PrivateKey{"recipient": rk, "sender": sk} {
		d, err := pgpmime.Decrypt(e.ContentType(), e.Body, key, []*pgpmime.PublicKey{sk.Public()}, pgpmime.DecryptOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(d.Entity, prot.Entity) || d.Signature != pgpmime.SignatureGood {
			t.Fatalf("%s: signature %v, content equal %v", name, d.Signature, bytes.Equal(d.Entity, prot.Entity))
		}
	}
}

func mustPrivate(t *testing.T, armored []byte) *pgpmime.PrivateKey {
	t.Helper()
	k, err := pgpmime.ParsePrivateKey(armored, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return k
}
