package smime

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"hash"
)

// contentKey finds the RecipientInfo for cert and recovers the content
// key with key.
func (env *envelope) contentKey(cert *x509.Certificate, key any) ([]byte, error) {
	for _, ri := range env.recipients {
		switch {
		case ri.is(classUniversal, asn1.TagSequence):
			cek, ok, err := env.keyTrans(ri, cert, key)
			if ok || err != nil {
				return cek, err
			}
		case ri.is(classContext, 1):
			cek, ok, err := env.keyAgree(ri, cert, key)
			if ok || err != nil {
				return cek, err
			}
		}
		// Other kinds (KEK, password, other) cannot be for a certificate.
	}
	return nil, ErrNotForUs
}

// matchIssuerSerial reports whether e is the IssuerAndSerialNumber of cert.
func matchIssuerSerial(e berElem, cert *x509.Certificate) (bool, error) {
	f, err := sequence(e, 2)
	if err != nil {
		return false, malformed("IssuerAndSerialNumber", err)
	}
	serial, err := integerOf(f[1])
	if err != nil {
		return false, malformed("serial number", err)
	}
	return bytes.Equal(f[0].full, cert.RawIssuer) && serial.Cmp(cert.SerialNumber) == 0, nil
}

// keyTrans handles a KeyTransRecipientInfo; ok is false when it is for
// another certificate.
func (env *envelope) keyTrans(ri berElem, cert *x509.Certificate, key any) (cek []byte, ok bool, err error) {
	f, err := sequence(ri, 4)
	if err != nil {
		return nil, false, malformed("KeyTransRecipientInfo", err)
	}
	switch rid := f[1]; {
	case rid.is(classContext, 0):
		ok = len(cert.SubjectKeyId) > 0 && !rid.compound && bytes.Equal(rid.content, cert.SubjectKeyId)
	default:
		if ok, err = matchIssuerSerial(rid, cert); err != nil {
			return nil, false, err
		}
	}
	if !ok {
		return nil, false, nil
	}
	alg, err := algorithmOf(f[2])
	if err != nil {
		return nil, true, malformed("key encryption algorithm", err)
	}
	ek, err := universalOctets(f[3])
	if err != nil {
		return nil, true, malformed("encrypted key", err)
	}
	dec, isDecrypter := key.(crypto.Decrypter)
	if !isDecrypter {
		return nil, true, fmt.Errorf("smime: decrypt: %w: key transport needs an RSA crypto.Decrypter, have %T", ErrKeyType, key)
	}
	if _, isRSA := dec.Public().(*rsa.PublicKey); !isRSA {
		return nil, true, fmt.Errorf("smime: decrypt: %w: key transport needs an RSA key, have %T", ErrKeyType, dec.Public())
	}
	switch {
	case alg.oid.Equal(oidRSAEncryption):
		// Implicit rejection: a bad key block yields a random key of the
		// right length, so the failure shows only at the content.
		cek, err = dec.Decrypt(rand.Reader, ek, &rsa.PKCS1v15DecryptOptions{SessionKeyLen: env.cipher.keyLen})
	case alg.oid.Equal(oidRSAOAEP):
		var opts *rsa.OAEPOptions
		if opts, err = oaepOptions(alg); err != nil {
			return nil, true, err
		}
		cek, err = dec.Decrypt(rand.Reader, ek, opts)
	default:
		return nil, true, fmt.Errorf("smime: decrypt: %w: key transport %v", ErrUnsupported, alg.oid)
	}
	if err != nil {
		return nil, true, ErrDecrypt
	}
	return cek, true, nil
}

var hashes = map[string]crypto.Hash{
	oidSHA1.String():   crypto.SHA1,
	oidSHA224.String(): crypto.SHA224,
	oidSHA256.String(): crypto.SHA256,
	oidSHA384.String(): crypto.SHA384,
	oidSHA512.String(): crypto.SHA512,
}

func hashOf(e berElem) (crypto.Hash, error) {
	a, err := algorithmOf(e)
	if err != nil {
		return 0, malformed("hash algorithm", err)
	}
	h, ok := hashes[a.oid.String()]
	if !ok {
		return 0, fmt.Errorf("smime: decrypt: %w: hash %v", ErrUnsupported, a.oid)
	}
	return h, nil
}

// oaepOptions reads RSAES-OAEP-params (RFC 4055 4.1); absent fields take
// the defaults SHA-1, MGF1-SHA-1 and an empty label.
func oaepOptions(alg algorithm) (*rsa.OAEPOptions, error) {
	opts := &rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1}
	if alg.params == nil {
		return opts, nil
	}
	fields, err := sequence(*alg.params, 0)
	if err != nil {
		return nil, malformed("RSAES-OAEP parameters", err)
	}
	for _, fe := range fields {
		var tag int
		switch {
		case fe.is(classContext, 0):
			tag = 0
		case fe.is(classContext, 1):
			tag = 1
		case fe.is(classContext, 2):
			tag = 2
		default:
			return nil, malformed("RSAES-OAEP parameters", nil)
		}
		v, err := explicit(fe, tag)
		if err != nil {
			return nil, malformed("RSAES-OAEP parameters", err)
		}
		switch tag {
		case 0:
			if opts.Hash, err = hashOf(v); err != nil {
				return nil, err
			}
		case 1:
			mgf, err := algorithmOf(v)
			if err != nil || !mgf.oid.Equal(oidMGF1) || mgf.params == nil {
				return nil, fmt.Errorf("smime: decrypt: %w: OAEP mask generation", ErrUnsupported)
			}
			if opts.MGFHash, err = hashOf(*mgf.params); err != nil {
				return nil, err
			}
		case 2:
			src, err := algorithmOf(v)
			if err != nil || !src.oid.Equal(oidPSpecified) || src.params == nil {
				return nil, fmt.Errorf("smime: decrypt: %w: OAEP label source", ErrUnsupported)
			}
			if opts.Label, err = universalOctets(*src.params); err != nil {
				return nil, malformed("OAEP label", err)
			}
		}
	}
	return opts, nil
}

// kdfHashes maps the dhSinglePass-stdDH-*kdf-scheme OIDs (RFC 5753 7.1.4)
// to their hash.
var kdfHashes = map[string]func() hash.Hash{
	oidECDHSHA1KDF.String():   sha1.New,
	oidECDHSHA224KDF.String(): sha256.New224,
	oidECDHSHA256KDF.String(): sha256.New,
	oidECDHSHA384KDF.String(): sha512.New384,
	oidECDHSHA512KDF.String(): sha512.New,
}

var wrapKeyLens = map[string]int{
	oidAES128Wrap.String(): 16,
	oidAES192Wrap.String(): 24,
	oidAES256Wrap.String(): 32,
}

// ecdhPrivate returns the ECDH form of key.
func ecdhPrivate(key any) (*ecdh.PrivateKey, error) {
	switch k := key.(type) {
	case *ecdh.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		p, err := k.ECDH()
		if err != nil {
			return nil, fmt.Errorf("smime: decrypt: %w: %v", ErrKeyType, err)
		}
		return p, nil
	}
	return nil, fmt.Errorf("smime: decrypt: %w: key agreement needs an *ecdsa.PrivateKey or *ecdh.PrivateKey, have %T", ErrKeyType, key)
}

// keyAgree handles a KeyAgreeRecipientInfo (RFC 5652 6.2.2, RFC 5753
// 3.1.2); ok is false when none of its keys is for cert.
func (env *envelope) keyAgree(ri berElem, cert *x509.Certificate, key any) (cek []byte, ok bool, err error) {
	f, err := children(ri)
	if err != nil || len(f) < 4 {
		return nil, false, malformed("KeyAgreeRecipientInfo", err)
	}
	// Find our encrypted key first: other recipients' infos are not ours to
	// judge.
	reks, err := sequence(f[len(f)-1], 0)
	if err != nil {
		return nil, false, malformed("RecipientEncryptedKeys", err)
	}
	var wrapped []byte
	for _, rek := range reks {
		p, err := sequence(rek, 2)
		if err != nil {
			return nil, false, malformed("RecipientEncryptedKey", err)
		}
		var match bool
		if p[0].is(classContext, 0) { // rKeyId [0] IMPLICIT RecipientKeyIdentifier
			kid, err := children(p[0])
			if err != nil || len(kid) == 0 {
				return nil, false, malformed("RecipientKeyIdentifier", err)
			}
			ski, err := universalOctets(kid[0])
			if err != nil {
				return nil, false, malformed("RecipientKeyIdentifier", err)
			}
			match = len(cert.SubjectKeyId) > 0 && bytes.Equal(ski, cert.SubjectKeyId)
		} else if match, err = matchIssuerSerial(p[0], cert); err != nil {
			return nil, false, err
		}
		if match {
			if wrapped, err = universalOctets(p[1]); err != nil {
				return nil, true, malformed("encrypted key", err)
			}
			break
		}
	}
	if wrapped == nil {
		return nil, false, nil
	}
	priv, err := ecdhPrivate(key)
	if err != nil {
		return nil, true, err
	}
	orig, err := explicit(f[1], 0)
	if err != nil || !orig.is(classContext, 1) {
		return nil, true, fmt.Errorf("smime: decrypt: %w: key agreement originator other than an ephemeral key", ErrUnsupported)
	}
	op, err := children(orig) // OriginatorPublicKey: algorithm, publicKey
	if err != nil || len(op) != 2 || !op[1].is(classUniversal, asn1.TagBitString) || op[1].compound ||
		len(op[1].content) < 2 || op[1].content[0] != 0 {
		return nil, true, malformed("originator public key", err)
	}
	remote, err := priv.Curve().NewPublicKey(op[1].content[1:])
	if err != nil {
		return nil, true, malformed("originator public key", err)
	}
	var ukm []byte
	rest := f[2:]
	if rest[0].is(classContext, 1) {
		u, err := explicit(rest[0], 1)
		if err != nil {
			return nil, true, malformed("user keying material", err)
		}
		if ukm, err = universalOctets(u); err != nil {
			return nil, true, malformed("user keying material", err)
		}
		rest = rest[1:]
	}
	if len(rest) != 2 {
		return nil, true, malformed("KeyAgreeRecipientInfo", nil)
	}
	scheme, err := algorithmOf(rest[0])
	if err != nil || scheme.params == nil {
		return nil, true, malformed("key agreement algorithm", err)
	}
	h, ok := kdfHashes[scheme.oid.String()]
	if !ok {
		return nil, true, fmt.Errorf("smime: decrypt: %w: key agreement %v", ErrUnsupported, scheme.oid)
	}
	wrap, err := algorithmOf(*scheme.params)
	if err != nil {
		return nil, true, malformed("key wrap algorithm", err)
	}
	kekLen, ok := wrapKeyLens[wrap.oid.String()]
	if !ok {
		return nil, true, fmt.Errorf("smime: decrypt: %w: key wrap %v", ErrUnsupported, wrap.oid)
	}
	z, err := priv.ECDH(remote)
	if err != nil {
		return nil, true, ErrDecrypt
	}
	kek := x963KDF(h, z, eccSharedInfo(wrap.full, ukm, kekLen*8), kekLen)
	if cek, err = aesKeyUnwrap(kek, wrapped); err != nil {
		return nil, true, ErrDecrypt
	}
	return cek, true, nil
}
