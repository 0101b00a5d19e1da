package pgpmime

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/crypto/protect"
)

// attachment returns n pseudo-random bytes (every byte value occurs).
func attachment(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// testMessage returns the inner entity of a message with protected
// headers: a UTF-8 text part and a binary attachment of size bytes.
func testMessage(t testing.TB, subject string, size int) []byte {
	t.Helper()
	var body bytes.Buffer
	body.WriteString("--mixed\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	body.WriteString("Grüße aus Köln — 日本語のテキスト.\nZweite Zeile.\n")
	if size > 0 {
		body.WriteString("--mixed\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
		enc := base64.StdEncoding.EncodeToString(attachment(size))
		for len(enc) > 76 {
			body.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		body.WriteString(enc + "\r\n")
	}
	body.WriteString("--mixed--\r\n")
	res, err := protect.Wrap([]protect.Field{
		{Name: "From", Value: "Alice <alice@corp.example>"},
		{Name: "To", Value: "Bob <bob@partner.example>"},
		{Name: "Subject", Value: subject},
		{Name: "Date", Value: "Sun, 29 Nov 2026 21:00:00 +0000"},
		{Name: "Message-ID", Value: "<m1@corp.example>"},
	}, []protect.Field{{Name: "Content-Type", Value: "multipart/mixed; boundary=mixed"}}, body.Bytes(), protect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Entity
}

// armoredPart returns the OpenPGP message of a multipart/encrypted body,
// read the way a mail client does (mime/multipart), checking the RFC 3156
// structure on the way.
func armoredPart(t testing.TB, enc *Encrypted) []byte {
	t.Helper()
	mt, params, err := mime.ParseMediaType(enc.ContentType)
	if err != nil || mt != "multipart/encrypted" || params["protocol"] != "application/pgp-encrypted" {
		t.Fatalf("Content-Type %q: %v", enc.ContentType, err)
	}
	r := multipart.NewReader(bytes.NewReader(enc.Body), params["boundary"])
	var parts []*multipart.Part
	var data [][]byte
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		parts, data = append(parts, p), append(data, b)
	}
	if len(parts) != 2 || parts[0].Header.Get("Content-Type") != "application/pgp-encrypted" ||
		strings.TrimSpace(string(data[0])) != "Version: 1" ||
		!strings.HasPrefix(parts[1].Header.Get("Content-Type"), "application/octet-stream") {
		t.Fatalf("not RFC 3156: %d parts\n%.600s", len(parts), enc.Body)
	}
	if !bytes.HasPrefix(data[1], []byte("-----BEGIN PGP MESSAGE-----\r\n")) {
		t.Fatalf("second part is not an armored message: %.100q", data[1])
	}
	return data[1]
}

// TestGPGDecryptsAndVerifies: what Encrypt writes, gpg decrypts to the
// same bytes and reports a good signature by the sender, whose key gpg
// knows only from our export; the real Subject is inside.
func TestGPGDecryptsAndVerifies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		alg     Algorithm
		bobAlgo string // gpg --quick-gen-key algorithm
	}{
		{"curve25519", Curve25519, "future-default"},
		{"rsa3072", RSA3072, "rsa3072"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alice := getKey(t, "alice@corp.example", tc.alg)
			g := newGnuPG(t)
			g.must(alice.gen.Public, "--import")
			g.must(nil, "--quick-gen-key", "Bob <bob@partner.example>", tc.bobAlgo, "default", "never")
			if tc.bobAlgo == "rsa3072" {
				// An explicit algorithm makes a primary key only.
				fpr := statusFieldOf(g, "bob@partner.example")
				g.must(nil, "--quick-add-key", fpr, "rsa3072", "encr", "never")
			}
			bobPub, err := ParsePublicKey(g.must(nil, "--armor", "--export", "bob@partner.example"), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if !bobPub.Info().CanEncrypt {
				t.Fatalf("gpg's key not usable: %+v", bobPub.Info())
			}

			subject := "Vertraulich: Grüße zum Quartal"
			entity := testMessage(t, subject, 3<<20)
			enc, err := Encrypt(entity, alice.priv, []*PublicKey{bobPub, alice.pub})
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(enc.Body, []byte("Quartal")) {
				t.Fatal("the subject is readable in the encrypted body")
			}
			out, status, err := g.run(armoredPart(t, enc), "--decrypt")
			if err != nil {
				t.Fatal("gpg could not decrypt")
			}
			if !bytes.Equal(out, entity) {
				t.Fatalf("gpg decrypted %d bytes that differ from the %d encrypted", len(out), len(entity))
			}
			if f := statusField(status, "GOODSIG"); len(f) == 0 || f[0] != alice.gen.Fingerprint[24:] {
				t.Errorf("no GOODSIG by %s:\n%s", alice.gen.Fingerprint, status)
			}
			if f := statusField(status, "VALIDSIG"); len(f) < 10 || f[9] != alice.gen.Fingerprint {
				t.Errorf("no VALIDSIG with primary fingerprint %s:\n%s", alice.gen.Fingerprint, status)
			}
			// DECRYPTION_INFO <mdc_method> <sym_algo>: 2 = MDC, 9 = AES-256.
			if f := statusField(status, "DECRYPTION_INFO"); len(f) < 2 || f[0] == "0" || f[1] != "9" {
				t.Errorf("not integrity protected AES-256: DECRYPTION_INFO %q", f)
			}
			if statusField(status, "GOODMDC") == nil || statusField(status, "DECRYPTION_OKAY") == nil {
				t.Errorf("no GOODMDC and DECRYPTION_OKAY:\n%s", status)
			}
			// A reader finds the real Subject in the decrypted entity.
			m, err := mail.ReadMessage(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			got, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			if err != nil || got != subject {
				t.Errorf("inner Subject %q (%v), want %q", got, err, subject)
			}
			if _, p, _ := mime.ParseMediaType(m.Header.Get("Content-Type")); p["hp"] != "cipher" || p["protected-headers"] != "v1" {
				t.Errorf("inner Content-Type %q lacks header protection", m.Header.Get("Content-Type"))
			}
		})
	}
}

// TestDecryptReadsGPG: our Decrypt reads what `gpg --encrypt --sign`
// writes, byte for byte, and reports gpg's signature as good only with
// the signer's key among the verifiers.
func TestDecryptReadsGPG(t *testing.T) {
	alice := getKey(t, "alice@corp.example", Curve25519)
	g := newGnuPG(t)
	g.must(alice.gen.Public, "--import")
	g.must(nil, "--quick-gen-key", "Bob <bob@partner.example>", "future-default", "default", "never")
	bobPub, err := ParsePublicKey(g.must(nil, "--armor", "--export", "bob@partner.example"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	entity := testMessage(t, "Antwort", 3<<20)
	armored := g.must(entity, "--armor", "--trust-model", "always", "--encrypt", "--sign",
		"--recipient", "alice@corp.example", "--local-user", "bob@partner.example")
	ct, body := wrapRFC3156(armored)

	d, err := Decrypt(ct, body, alice.priv, []*PublicKey{bobPub}, DecryptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.Entity, entity) {
		t.Fatalf("decrypted %d bytes differ from the %d gpg encrypted", len(d.Entity), len(entity))
	}
	if d.Signature != SignatureGood || d.SignerFingerprint != bobPub.Info().Fingerprint || d.Signed.IsZero() {
		t.Errorf("signature %v by %s (%v), want good by %s", d.Signature, d.SignerFingerprint, d.SignatureError, bobPub.Info().Fingerprint)
	}

	// Without Bob's key the signature is not good: nothing is skipped.
	for _, verifiers := range [][]*PublicKey{nil, {alice.pub}} {
		d, err := Decrypt(ct, body, alice.priv, verifiers, DecryptOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Signature != UnknownSigner || d.SignerKeyID == "" {
			t.Errorf("verifiers %d: signature %v (key ID %q), want unknown signer", len(verifiers), d.Signature, d.SignerKeyID)
		}
	}

	// Encrypted but not signed.
	plain := g.must(entity, "--armor", "--trust-model", "always", "--encrypt", "--recipient", "alice@corp.example")
	ct, body = wrapRFC3156(plain)
	d, err = Decrypt(ct, body, alice.priv, []*PublicKey{bobPub}, DecryptOptions{})
	if err != nil || d.Signature != Unsigned || !bytes.Equal(d.Entity, entity) {
		t.Errorf("unsigned message: %v, signature %v", err, d)
	}

	// Signed but not encrypted, dressed as multipart/encrypted.
	signed := g.must(entity[:1000], "--armor", "--sign", "--local-user", "bob@partner.example")
	ct, body = wrapRFC3156(signed)
	if _, err := Decrypt(ct, body, alice.priv, []*PublicKey{bobPub}, DecryptOptions{}); !errors.Is(err, ErrNotEncrypted) {
		t.Errorf("signed-only data: err %v, want ErrNotEncrypted", err)
	}

	// Without integrity protection (gpg warns, and writes a SED packet).
	sed := g.must(entity[:1000], "--armor", "--trust-model", "always", "--rfc2440", "--encrypt", "--recipient", "alice@corp.example")
	ct, body = wrapRFC3156(sed)
	if _, err := Decrypt(ct, body, alice.priv, []*PublicKey{bobPub}, DecryptOptions{}); !errors.Is(err, ErrNotIntegrityProtected) {
		t.Errorf("data without MDC: err %v, want ErrNotIntegrityProtected", err)
	}

	// Not for us.
	forBob := g.must(entity[:1000], "--armor", "--trust-model", "always", "--encrypt", "--recipient", "bob@partner.example")
	ct, body = wrapRFC3156(forBob)
	if _, err := Decrypt(ct, body, alice.priv, nil, DecryptOptions{}); !errors.Is(err, ErrDecrypt) {
		t.Errorf("message for someone else: err %v, want ErrDecrypt", err)
	}

	// Over the size limit.
	ct, body = wrapRFC3156(plain)
	if _, err := Decrypt(ct, body, alice.priv, nil, DecryptOptions{MaxSize: 1 << 20}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: err %v, want ErrTooLarge", err)
	}
}

// wrapRFC3156 puts an armored OpenPGP message into a PGP/MIME body the way
// mail clients write it (LF line ends from gpg, as many clients leave them).
func wrapRFC3156(armored []byte) (contentType string, body []byte) {
	var b bytes.Buffer
	b.WriteString("--xyz\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--xyz\r\nContent-Type: application/octet-stream\r\n\r\n")
	b.Write(armored)
	b.WriteString("\r\n--xyz--\r\n")
	return `multipart/encrypted; protocol="application/pgp-encrypted"; boundary="xyz"`, b.Bytes()
}

// statusFieldOf returns the primary fingerprint gpg lists for uid.
func statusFieldOf(g *gnupg, uid string) string {
	for _, l := range strings.Split(string(g.must(nil, "--with-colons", "--list-keys", uid)), "\n") {
		if f := strings.Split(l, ":"); len(f) > 9 && f[0] == "fpr" {
			return f[9]
		}
	}
	g.t.Fatalf("no fingerprint for %s", uid)
	return ""
}
