package smime_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/mailseal/mailseal/crypto/smime"
)

// A recipient certificate; in mailseal it comes from the store or was
// harvested from the partner's signed mail.
func partnerCert() (*x509.Certificate, *ecdsa.PrivateKey) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(1),
		Subject:        pkix.Name{CommonName: "bob@partner.example"},
		EmailAddresses: []string{"bob@partner.example"},
		NotBefore:      time.Now().Add(-time.Hour),
		NotAfter:       time.Now().Add(time.Hour),
		KeyUsage:       x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

func ExampleEncrypt() {
	cert, key := partnerCert()
	// The partner announced AES-256-GCM in the SMIMECapabilities of a
	// signed mail (see ParseSignerCapabilities).
	announced := []smime.Capability{{ID: smime.OIDAES256GCM}}
	cipher, err := smime.ChooseCipher("auto", [][]smime.Capability{announced})
	if err != nil {
		panic(err)
	}
	entity := []byte("Content-Type: text/plain; charset=utf-8\r\n\r\nGrüße\r\n")
	enc, err := smime.Encrypt(entity, []smime.Recipient{{Cert: cert}}, smime.EncryptOptions{Cipher: cipher})
	if err != nil {
		panic(err)
	}
	for _, f := range enc.Header() {
		fmt.Printf("%s: %s\n", f.Name, f.Value)
	}

	// The partner's side.
	der, _ := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(enc.Body), "\r\n", ""))
	dec, err := smime.Decrypt(der, cert, key)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s, authenticated %v: %q\n", dec.Cipher, dec.Authenticated, dec.Content[len(dec.Content)-9:])
	// Output:
	// Content-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name="smime.p7m"
	// Content-Transfer-Encoding: base64
	// Content-Disposition: attachment; filename="smime.p7m"
	// Content-Description: S/MIME Encrypted Message
	// aes256-gcm, authenticated true: "Grüße\r\n"
}
