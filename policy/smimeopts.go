package policy

import "fmt"

// SMIMECipher is the content cipher of S/MIME encrypted copies
// (policy.smime_cipher, rules[].smime_cipher).
type SMIMECipher string

const (
	// CipherAuto uses AES-256-GCM (AuthEnvelopedData, S/MIME 4.0) when every
	// recipient of the copy announced it, else AES-256-CBC.
	CipherAuto SMIMECipher = "auto"
	// CipherAES256GCM always uses AuthEnvelopedData with AES-256-GCM.
	CipherAES256GCM SMIMECipher = "aes256-gcm"
	// CipherAES256CBC always uses EnvelopedData with AES-256-CBC, which every
	// S/MIME client reads.
	CipherAES256CBC SMIMECipher = "aes256-cbc"
)

// KeyTransport is how the content key reaches an RSA recipient
// (policy.smime_key_transport, rules[].smime_key_transport). EC recipients
// always get ECDH key agreement.
type KeyTransport string

const (
	// KeyTransportPKCS1 is RSA PKCS#1 v1.5, which every client reads.
	KeyTransportPKCS1 KeyTransport = "rsa-pkcs1"
	// KeyTransportOAEP is RSA-OAEP with SHA-256 (RFC 8551 recommends it).
	KeyTransportOAEP KeyTransport = "rsa-oaep"
)

// SMIMEOptions are the S/MIME encryption settings a recipient's copy is
// made with; recipients with different options get different copies.
type SMIMEOptions struct {
	Cipher       SMIMECipher
	KeyTransport KeyTransport
}

func (o SMIMEOptions) String() string {
	return fmt.Sprintf("cipher %s, key transport %s", o.Cipher, o.KeyTransport)
}

func checkCipher(key string, c SMIMECipher, bad func(string, string, ...any)) {
	switch c {
	case CipherAuto, CipherAES256GCM, CipherAES256CBC:
	default:
		bad(key, "%q is not one of auto, aes256-gcm, aes256-cbc", string(c))
	}
}

func checkKeyTransport(key string, k KeyTransport, bad func(string, string, ...any)) {
	switch k {
	case KeyTransportPKCS1, KeyTransportOAEP:
	default:
		bad(key, "%q is not one of rsa-pkcs1, rsa-oaep", string(k))
	}
}
