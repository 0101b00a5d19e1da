package smime

import (
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// encKey is a recipient: certificate and private key, issued by the test
// PKI's intermediate with the key usage a mail CA gives encryption keys.
type encKey struct {
	name string
	cert *x509.Certificate
	key  crypto.Signer
}

var (
	encOnce sync.Once
	encKeys map[string]encKey
)

// recipientKeys returns RSA-2048, RSA-3072, EC P-256, P-384 and P-521
// recipients ("rsa2048", "rsa3072", "p256", "p384", "p521"), all with
// subject key identifiers.
func recipientKeys(t testing.TB) map[string]encKey {
	t.Helper()
	p := getPKI(t)
	encOnce.Do(func() {
		m := map[string]encKey{}
		add := func(name string, key crypto.Signer, ku x509.KeyUsage) {
			tmpl := leafTemplate(name + "@partner.example")
			tmpl.KeyUsage = x509.KeyUsageDigitalSignature | ku
			pub, err := x509.MarshalPKIXPublicKey(key.Public())
			if err != nil {
				t.Fatal(err)
			}
			ski := sha1.Sum(pub)
			tmpl.SubjectKeyId = ski[:]
			m[name] = encKey{name, issue(t, tmpl, p.inter, key.Public(), p.interKey), key}
		}
		add("rsa2048", rsaKey(t, 2048), x509.KeyUsageKeyEncipherment)
		add("rsa3072", p.rsaKey, x509.KeyUsageKeyEncipherment)
		add("p256", ecKey(t, elliptic.P256()), x509.KeyUsageKeyAgreement)
		add("p384", ecKey(t, elliptic.P384()), x509.KeyUsageKeyAgreement)
		add("p521", ecKey(t, elliptic.P521()), x509.KeyUsageKeyAgreement)
		encKeys = m
	})
	if encKeys == nil {
		t.Fatal("recipient key generation failed")
	}
	return encKeys
}

// writeKeyPair writes k's certificate and PKCS #8 key as PEM into dir and
// returns their paths.
func writeKeyPair(t testing.TB, dir string, k encKey) (certFile, keyFile string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k.key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, k.name+".pem"), filepath.Join(dir, k.name+".key")
	if err := os.WriteFile(certFile, pemCert(k.cert), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// testContent is a signed-looking MIME entity with UTF-8 text and a
// random binary attachment of size octets, base64-encoded as a client
// would send it.
func testContent(t testing.TB, size int) []byte {
	t.Helper()
	bin := make([]byte, size)
	if _, err := rand.Read(bin); err != nil {
		t.Fatal(err)
	}
	return buildEntity(utf8Text, bin)
}

func buildEntity(text string, bin []byte) []byte {
	var b []byte
	b = append(b, "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"...)
	b = append(b, text...)
	b = append(b, "\r\n--b1\r\nContent-Type: application/octet-stream\r\n"+
		"Content-Disposition: attachment; filename=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"...)
	enc := make([]byte, base64LinesLen(len(bin)))
	b = append(b, enc[:encodeLines(enc, [][]byte{bin})]...)
	return append(b, "--b1--\r\n"...)
}
