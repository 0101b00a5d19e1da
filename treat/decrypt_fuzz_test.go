package treat

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/mailseal/mailseal/crypto/pgpmime"
	"github.com/mailseal/mailseal/crypto/smime"
)

var fuzzKeys struct {
	once  sync.Once
	smime []SMIMEKey
	pgp   []*pgpmime.PrivateKey
	seeds [][2]string
}

// fuzzSetup makes one RSA and one EC certificate, an OpenPGP key and
// seeds encrypted to them (CBC, GCM, ECDH, PGP/MIME, CBC with HTML).
func fuzzSetup(t testing.TB) {
	fuzzKeys.once.Do(func() {
		rc, rk := selfSigned(t, "rsa")
		ec, ek := selfSigned(t, "p256")
		fuzzKeys.smime = []SMIMEKey{{rc, rk}, {ec, ek}}
		alice := pgpKey(t, "alice@corp.example")
		fuzzKeys.pgp = []*pgpmime.PrivateKey{alice}
		add := func(entity string, c smime.Cipher, cert *x509.Certificate) {
			enc, err := smime.Encrypt([]byte(entity), []smime.Recipient{{Cert: cert}}, smime.EncryptOptions{Cipher: c})
			if err != nil {
				t.Fatal(err)
			}
			fuzzKeys.seeds = append(fuzzKeys.seeds, [2]string{enc.ContentType, string(enc.Body)})
		}
		add(protectedEntity, smime.AES256CBC, rc)
		add(htmlEntity, smime.AES256CBC, rc)
		add(htmlEntity, smime.AES256GCM, rc)
		add(protectedEntity, smime.AES256GCM, ec)
		enc, err := EncryptPGP([]byte(htmlEntity), alice, []*pgpmime.PublicKey{alice.Public()})
		if err != nil {
			t.Fatal(err)
		}
		fuzzKeys.seeds = append(fuzzKeys.seeds, [2]string{enc.ContentType(), string(enc.Body)})
	})
}

// selfSigned makes a self-signed S/MIME recipient certificate (RSA-2048
// or P-256), enough to encrypt to and decrypt with.
func selfSigned(t testing.TB, kind string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	var key crypto.Signer
	var err error
	ku := x509.KeyUsageDigitalSignature
	if kind == "rsa" {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
		ku |= x509.KeyUsageKeyEncipherment
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		ku |= x509.KeyUsageKeyAgreement
	}
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "alice@corp.example"},
		EmailAddresses: []string{"alice@corp.example"},
		NotBefore:      time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: ku, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// FuzzDecrypt feeds the decrypt step (classification, transfer decoding,
// CMS and OpenPGP parsing, entity parsing, neutralising, header
// protection): it must never panic, and never return plaintext together
// with an error.
func FuzzDecrypt(f *testing.F) {
	fuzzSetup(f)
	for _, s := range fuzzKeys.seeds {
		f.Add(s[0], []byte(s[1]))
	}
	f.Add("multipart/mixed; boundary=x", []byte("--x\r\nContent-Type: application/pkcs7-mime\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQA=\r\n--x--\r\n"))
	f.Add(`application/pkcs7-mime; smime-type=enveloped-data`, []byte("MIAGCSqGSIb3DQEHA6CAMIACAQAxgDCA"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		fields := []Field{{"Content-Type", ct}, {"Content-Transfer-Encoding", "base64"}}
		var d *Decrypted
		var err error
		switch ClassifyEncrypted(ct) {
		case SMIMEEncrypted:
			d, err = DecryptSMIME(fields, body, fuzzKeys.smime)
		case PGPEncrypted:
			d, err = DecryptPGP(ct, body, fuzzKeys.pgp, nil)
		default:
			NestedEncrypted(fields, body)
			return
		}
		if (d == nil) == (err == nil) {
			t.Fatalf("d %v with err %v", d != nil, err)
		}
		if d != nil {
			_ = d.Entity.Bytes()
		}
	})
}

// FuzzNeutralise feeds the MIME walker that rewrites active HTML: never a
// panic, and nothing active left (a second pass changes nothing).
func FuzzNeutralise(f *testing.F) {
	f.Add("multipart/alternative; boundary=\"alt\"", []byte(htmlEntity[len("Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"):]))
	f.Add("text/html", []byte("<img src=\"http://evil/\">"))
	f.Add("multipart/mixed; boundary=x", []byte("--x\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: text/html\r\n\r\n<b>x</b>\r\n--x--\r\n"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		e, _ := Neutralise(&Entity{Fields: []Field{{"Content-Type", ct}}, Body: body})
		if e == nil {
			t.Fatal("nil entity")
		}
		// Whatever came out has nothing active left: a second pass
		// finds nothing to change.
		if _, again := Neutralise(e); again {
			t.Fatalf("second pass changed the output of the first:\n%s", e.Bytes())
		}
		protectedSubject(append([]byte("Content-Type: "+ct+"\r\n\r\n"), body...))
	})
}
