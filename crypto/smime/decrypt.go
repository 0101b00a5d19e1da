package smime

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
)

// Decrypted is the content of an enveloped or auth-enveloped message.
type Decrypted struct {
	// Content is the decrypted MIME entity, byte for byte as it was
	// encrypted.
	Content []byte
	// Cipher names the content encryption, e.g. "aes256-cbc" or
	// "aes128-gcm".
	Cipher string
	// Authenticated is true for AuthEnvelopedData (AES-GCM): the content
	// was checked against its tag. CBC content carries no integrity of its
	// own (only an inner signature protects it).
	Authenticated bool
}

var (
	// ErrNotForUs means the message has no RecipientInfo for the given
	// certificate.
	ErrNotForUs = errors.New("smime: message not encrypted to this certificate")
	// ErrDecrypt means decryption failed: wrong key, broken padding, or an
	// altered message (GCM tag mismatch). It says no more on purpose.
	ErrDecrypt = errors.New("smime: decryption failed")
	// ErrUnsupported means an algorithm we do not implement (3DES, RC2,
	// password or KEK recipients, ...).
	ErrUnsupported = errors.New("smime: unsupported encryption")
	// ErrKeyType means the private key does not suit the recipient info
	// for its certificate (an EC key for key transport, or the reverse).
	ErrKeyType = errors.New("smime: private key of the wrong type")
)

// Decrypt decrypts the DER or BER of a CMS EnvelopedData (RFC 5652) or
// AuthEnvelopedData (RFC 5083) ContentInfo, the decoded body of an
// application/pkcs7-mime enveloped-data or authEnveloped-data message.
//
// cert identifies the RecipientInfo to use (issuer and serial number or
// subject key identifier); key is its private key: a crypto.Decrypter
// with an RSA public key (PKCS #1 v1.5 or RSA-OAEP key transport), or an
// *ecdsa.PrivateKey or *ecdh.PrivateKey (ECDH key agreement, RFC 5753).
// Contents are AES-128/192/256 in CBC or GCM mode.
//
// Decrypt never panics. Errors wrap ErrMalformed, ErrNotForUs,
// ErrDecrypt, ErrUnsupported, ErrKeyType or (a recovered bug) ErrInternal. A wrong PKCS #1 v1.5 key block is not
// reported as such (implicit rejection: decryption goes on with a random
// key and fails at the padding or tag), so no padding oracle arises.
func Decrypt(der []byte, cert *x509.Certificate, key any) (dec *Decrypted, err error) {
	defer func() {
		if r := recover(); r != nil {
			dec, err = nil, fmt.Errorf("%w: decrypt: %v", ErrInternal, r)
		}
	}()
	if cert == nil || key == nil {
		return nil, errors.New("smime: decrypt: certificate and key are required")
	}
	env, err := parseEnvelope(der)
	if err != nil {
		return nil, err
	}
	cek, err := env.contentKey(cert, key)
	if err != nil {
		return nil, err
	}
	content, err := env.decryptContent(cek)
	if err != nil {
		return nil, err
	}
	return &Decrypted{Content: content, Cipher: env.cipher.name, Authenticated: env.auth}, nil
}

// envelope is a parsed (Auth)EnvelopedData.
type envelope struct {
	auth       bool
	recipients []berElem
	cipher     contentCipher
	iv         []byte // CBC IV or GCM nonce
	tagLen     int
	ciphertext []byte
	mac        []byte
	aad        []byte
}

type contentCipher struct {
	name   string
	keyLen int
	gcm    bool
}

var contentCiphers = map[string]contentCipher{
	oidAES128CBC.String(): {"aes128-cbc", 16, false},
	oidAES192CBC.String(): {"aes192-cbc", 24, false},
	oidAES256CBC.String(): {"aes256-cbc", 32, false},
	oidAES128GCM.String(): {"aes128-gcm", 16, true},
	oidAES192GCM.String(): {"aes192-gcm", 24, true},
	oidAES256GCM.String(): {"aes256-gcm", 32, true},
}

func malformed(what string, err error) error {
	if err == nil {
		return fmt.Errorf("smime: decrypt: %w: %s", ErrMalformed, what)
	}
	return fmt.Errorf("smime: decrypt: %w: %s: %v", ErrMalformed, what, err)
}

func parseEnvelope(der []byte) (*envelope, error) {
	top, err := parseBER(der)
	if err != nil {
		return nil, malformed("ContentInfo", err)
	}
	ci, err := sequence(top, 2)
	if err != nil {
		return nil, malformed("ContentInfo", err)
	}
	ct, err := oidOf(ci[0])
	if err != nil {
		return nil, malformed("content type", err)
	}
	env := &envelope{}
	switch {
	case ct.Equal(oidEnvelopedData):
	case ct.Equal(oidAuthEnvelopedData):
		env.auth = true
	default:
		return nil, fmt.Errorf("smime: decrypt: %w: content type %v is not (auth-)enveloped data", ErrUnsupported, ct)
	}
	inner, err := explicit(ci[1], 0)
	if err != nil {
		return nil, malformed("content", err)
	}
	f, err := sequence(inner, 3)
	if err != nil {
		return nil, malformed("EnvelopedData", err)
	}
	if _, err := integerOf(f[0]); err != nil {
		return nil, malformed("version", err)
	}
	f = f[1:]
	if f[0].is(classContext, 0) { // originatorInfo: certificates we do not need
		f = f[1:]
	}
	if len(f) < 2 || !f[0].is(classUniversal, asn1.TagSet) {
		return nil, malformed("recipientInfos", nil)
	}
	if env.recipients, err = children(f[0]); err != nil {
		return nil, malformed("recipientInfos", err)
	}
	if err := env.parseContentInfo(f[1]); err != nil {
		return nil, err
	}
	f = f[2:]
	if env.auth {
		if len(f) > 0 && f[0].is(classContext, 1) {
			// RFC 5083 2.1: the AAD is the DER of authAttrs with the SET
			// OF tag in place of [1].
			env.aad = append([]byte{tagSet}, f[0].full[1:]...)
			f = f[1:]
		}
		if len(f) == 0 {
			return nil, malformed("no MAC", nil)
		}
		if env.mac, err = universalOctets(f[0]); err != nil {
			return nil, malformed("MAC", err)
		}
		if len(env.mac) != env.tagLen {
			return nil, malformed(fmt.Sprintf("MAC of %d octets, parameters say %d", len(env.mac), env.tagLen), nil)
		}
	}
	return env, nil
}

// parseContentInfo reads EncryptedContentInfo: the content cipher, its
// parameters and the ciphertext.
func (env *envelope) parseContentInfo(e berElem) error {
	f, err := sequence(e, 2)
	if err != nil {
		return malformed("EncryptedContentInfo", err)
	}
	alg, err := algorithmOf(f[1])
	if err != nil {
		return malformed("content encryption algorithm", err)
	}
	c, ok := contentCiphers[alg.oid.String()]
	if !ok {
		return fmt.Errorf("smime: decrypt: %w: content encryption %v", ErrUnsupported, alg.oid)
	}
	if c.gcm != env.auth {
		return malformed(fmt.Sprintf("%s in the wrong content type", c.name), nil)
	}
	env.cipher = c
	if alg.params == nil {
		return malformed("no content encryption parameters", nil)
	}
	if c.gcm {
		// GCMParameters ::= SEQUENCE { aes-nonce OCTET STRING,
		//                              aes-ICVlen INTEGER DEFAULT 12 }
		p, err := sequence(*alg.params, 1)
		if err != nil || len(p) > 2 {
			return malformed("GCM parameters", err)
		}
		if env.iv, err = universalOctets(p[0]); err != nil || len(env.iv) == 0 {
			return malformed("GCM nonce", err)
		}
		env.tagLen = 12
		if len(p) == 2 {
			n, err := integerOf(p[1])
			if err != nil || !n.IsInt64() || n.Int64() < 12 || n.Int64() > 16 {
				return malformed("GCM tag length", err)
			}
			env.tagLen = int(n.Int64())
		}
	} else if env.iv, err = universalOctets(*alg.params); err != nil || len(env.iv) != aes.BlockSize {
		return malformed("CBC IV", err)
	}
	if len(f) < 3 || !f[2].is(classContext, 0) {
		return malformed("no encrypted content (detached content is not supported)", nil)
	}
	if env.ciphertext, err = octets(f[2]); err != nil {
		return malformed("encrypted content", err)
	}
	return nil
}

// decryptContent decrypts the ciphertext with the content key.
func (env *envelope) decryptContent(cek []byte) ([]byte, error) {
	if len(cek) != env.cipher.keyLen {
		return nil, ErrDecrypt
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, ErrDecrypt
	}
	if env.cipher.gcm {
		var aead cipher.AEAD
		switch {
		case len(env.iv) == 12:
			aead, err = cipher.NewGCMWithTagSize(block, env.tagLen)
		case env.tagLen == 16:
			aead, err = cipher.NewGCMWithNonceSize(block, len(env.iv))
		default:
			return nil, fmt.Errorf("smime: decrypt: %w: GCM nonce of %d octets with a %d-octet tag", ErrUnsupported, len(env.iv), env.tagLen)
		}
		if err != nil {
			return nil, fmt.Errorf("smime: decrypt: %w: %v", ErrUnsupported, err)
		}
		buf := make([]byte, len(env.ciphertext)+len(env.mac))
		copy(buf, env.ciphertext)
		copy(buf[len(env.ciphertext):], env.mac)
		out, err := aead.Open(buf[:0], env.iv, buf, env.aad)
		if err != nil {
			return nil, ErrDecrypt
		}
		return out, nil
	}
	ct := env.ciphertext
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, malformed(fmt.Sprintf("CBC ciphertext of %d octets", len(ct)), nil)
	}
	out := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, env.iv).CryptBlocks(out, ct)
	n, ok := unpad(out)
	if !ok {
		return nil, ErrDecrypt
	}
	return out[:n], nil
}

// unpad checks PKCS #7 padding in constant time and returns the content
// length.
func unpad(b []byte) (int, bool) {
	last := b[len(b)-aes.BlockSize:]
	pad := int(last[aes.BlockSize-1])
	good := subtle.ConstantTimeLessOrEq(1, pad) & subtle.ConstantTimeLessOrEq(pad, aes.BlockSize)
	for i := range aes.BlockSize {
		// Bytes within the padding must equal pad.
		inPad := subtle.ConstantTimeLessOrEq(aes.BlockSize-pad, i)
		eq := subtle.ConstantTimeByteEq(last[i], byte(pad))
		good &= eq | (inPad ^ 1)
	}
	return len(b) - pad, good == 1
}
