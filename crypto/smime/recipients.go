package smime

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"hash"
	"io"
	"slices"
	"time"
)

// KeyTransport is how the content key reaches an RSA recipient.
type KeyTransport int

const (
	// PKCS1v15 is RSAES-PKCS1-v1_5 (rsaEncryption), which every S/MIME
	// client reads. The zero value, so the default.
	PKCS1v15 KeyTransport = iota
	// OAEPSHA256 is RSAES-OAEP with SHA-256 and MGF1-SHA-256 (RFC 4055,
	// RFC 8551), for recipients or rules that ask for it.
	OAEPSHA256
)

// String names the key transport for logs.
func (k KeyTransport) String() string {
	switch k {
	case PKCS1v15:
		return "rsa-pkcs1v15"
	case OAEPSHA256:
		return "rsa-oaep-sha256"
	}
	return fmt.Sprintf("KeyTransport(%d)", int(k))
}

// Recipient is one certificate to encrypt to.
type Recipient struct {
	// Cert is the recipient's certificate: RSA of at least 2048 bits, or
	// EC on P-256, P-384 or P-521 (ECDH, RFC 5753).
	Cert *x509.Certificate
	// KeyTransport applies to RSA certificates only.
	KeyTransport KeyTransport
	// BySKI identifies the recipient by its certificate's subject key
	// identifier instead of issuer and serial number. Certificates without
	// one are still identified by issuer and serial number.
	BySKI bool
}

// checkRecipient refuses certificates that must not or cannot be
// encrypted to.
func checkRecipient(c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return fmt.Errorf("%w: %q valid %s to %s", ErrRecipient, c.Subject.CommonName,
			c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
	}
	if len(c.ExtKeyUsage) > 0 || len(c.UnknownExtKeyUsage) > 0 {
		if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageEmailProtection) &&
			!slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
			return fmt.Errorf("%w: %q lacks the emailProtection extended key usage", ErrRecipient, c.Subject.CommonName)
		}
	}
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("%w: %q has an RSA key of %d bits, need at least 2048", ErrRecipient, c.Subject.CommonName, k.N.BitLen())
		}
		if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
			return fmt.Errorf("%w: %q key usage lacks keyEncipherment", ErrRecipient, c.Subject.CommonName)
		}
	case *ecdsa.PublicKey:
		if _, err := curveOf(k.Curve); err != nil {
			return fmt.Errorf("%w: %q: %v", ErrRecipient, c.Subject.CommonName, err)
		}
		if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageKeyAgreement == 0 {
			return fmt.Errorf("%w: %q key usage lacks keyAgreement", ErrRecipient, c.Subject.CommonName)
		}
	default:
		return fmt.Errorf("%w: %q has a %T key, need RSA or EC", ErrRecipient, c.Subject.CommonName, c.PublicKey)
	}
	return nil
}

// ecCurve describes the ECDH parameters we use for one curve: the KDF
// hash follows the curve's strength (RFC 5753 8, RFC 6318).
type ecCurve struct {
	curve  ecdh.Curve
	oid    asn1.ObjectIdentifier
	scheme asn1.ObjectIdentifier
	hash   func() hash.Hash
}

func curveOf(c elliptic.Curve) (ecCurve, error) {
	switch c {
	case elliptic.P256():
		return ecCurve{ecdh.P256(), oidP256, oidECDHSHA256KDF, sha256.New}, nil
	case elliptic.P384():
		return ecCurve{ecdh.P384(), oidP384, oidECDHSHA384KDF, sha512.New384}, nil
	case elliptic.P521():
		return ecCurve{ecdh.P521(), oidP521, oidECDHSHA512KDF, sha512.New}, nil
	}
	return ecCurve{}, fmt.Errorf("curve %s not supported, use P-256, P-384 or P-521", c.Params().Name)
}

// recipientInfos builds one RecipientInfo per distinct certificate and
// returns the EnvelopedData version they call for (RFC 5652 6.1).
func recipientInfos(recipients []Recipient, cek []byte, rnd io.Reader, now time.Time) ([][]byte, int, error) {
	if len(recipients) == 0 {
		return nil, 0, ErrNoRecipients
	}
	var ris [][]byte
	var seen [][]byte
	version := 0
	for i, r := range recipients {
		if r.Cert == nil {
			return nil, 0, fmt.Errorf("%w: recipient %d has no certificate", ErrRecipient, i)
		}
		if slices.ContainsFunc(seen, func(raw []byte) bool { return bytes.Equal(raw, r.Cert.Raw) }) {
			continue
		}
		seen = append(seen, r.Cert.Raw)
		if err := checkRecipient(r.Cert, now); err != nil {
			return nil, 0, err
		}
		var ri []byte
		var err error
		bySKI := r.BySKI && len(r.Cert.SubjectKeyId) > 0
		switch k := r.Cert.PublicKey.(type) {
		case *rsa.PublicKey:
			ri, err = keyTransRecipient(r, k, bySKI, cek, rnd)
			if bySKI {
				version = 2
			}
		case *ecdsa.PublicKey:
			ri, err = keyAgreeRecipient(r.Cert, k, bySKI, cek, rnd)
			version = 2
		}
		if err != nil {
			return nil, 0, fmt.Errorf("smime: encrypt to %q: %w", r.Cert.Subject.CommonName, err)
		}
		ris = append(ris, ri)
	}
	return ris, version, nil
}

func issuerAndSerial(c *x509.Certificate) ([]byte, error) {
	serial, err := asn1.Marshal(c.SerialNumber)
	if err != nil {
		return nil, err
	}
	return tlv(tagSequence, c.RawIssuer, serial), nil
}

// rsaOAEPSHA256 is the AlgorithmIdentifier of RSAES-OAEP with SHA-256 and
// MGF1-SHA-256 (RFC 4055 4.1; parameters of SHA-256 absent, as OpenSSL
// writes them). Both non-default fields must be written: a reader that
// meets only hashFunc assumes MGF1 with SHA-1.
var rsaOAEPSHA256 = derAlgorithm(oidRSAOAEP, tlv(tagSequence,
	tlv(0xa0, derAlgorithm(oidSHA256, nil)),
	tlv(0xa1, derAlgorithm(oidMGF1, derAlgorithm(oidSHA256, nil))),
))

var rsaPKCS1v15 = derAlgorithm(oidRSAEncryption, []byte{asn1.TagNull, 0})

// keyTransRecipient builds a KeyTransRecipientInfo (RFC 5652 6.2.1).
func keyTransRecipient(r Recipient, pub *rsa.PublicKey, bySKI bool, cek []byte, rnd io.Reader) ([]byte, error) {
	var alg, ek []byte
	var err error
	switch r.KeyTransport {
	case PKCS1v15:
		alg = rsaPKCS1v15
		ek, err = rsa.EncryptPKCS1v15(rnd, pub, cek)
	case OAEPSHA256:
		alg = rsaOAEPSHA256
		ek, err = rsa.EncryptOAEPWithOptions(rnd, pub, cek, &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256})
	default:
		return nil, fmt.Errorf("unknown key transport %d", r.KeyTransport)
	}
	if err != nil {
		return nil, err
	}
	version, rid := 0, []byte(nil)
	if bySKI {
		version, rid = 2, tlv(0x80, r.Cert.SubjectKeyId) // [0] IMPLICIT SubjectKeyIdentifier
	} else if rid, err = issuerAndSerial(r.Cert); err != nil {
		return nil, err
	}
	return tlv(tagSequence, derInt(version), rid, alg, tlv(tagOctetString, ek)), nil
}

// aes256WrapAlg is the key wrap AlgorithmIdentifier (RFC 3565: parameters
// absent).
var aes256WrapAlg = derAlgorithm(oidAES256Wrap, nil)

// keyAgreeRecipient builds a KeyAgreeRecipientInfo (RFC 5652 6.2.2) for
// ephemeral-static ECDH (RFC 5753 3.1): a fresh key pair per recipient,
// the KEK derived with the X9.63 KDF over ECC-CMS-SharedInfo, the content
// key wrapped with AES-256 key wrap.
func keyAgreeRecipient(cert *x509.Certificate, pub *ecdsa.PublicKey, bySKI bool, cek []byte, rnd io.Reader) ([]byte, error) {
	cv, err := curveOf(pub.Curve)
	if err != nil {
		return nil, err
	}
	remote, err := pub.ECDH()
	if err != nil {
		return nil, err
	}
	eph, err := cv.curve.GenerateKey(rnd)
	if err != nil {
		return nil, err
	}
	z, err := eph.ECDH(remote)
	if err != nil {
		return nil, err
	}
	kek := x963KDF(cv.hash, z, eccSharedInfo(aes256WrapAlg, nil, 256), 32)
	wrapped, err := aesKeyWrap(kek, cek)
	if err != nil {
		return nil, err
	}
	var rid []byte
	if bySKI {
		rid = tlv(0xa0, tlv(tagOctetString, cert.SubjectKeyId)) // rKeyId [0] IMPLICIT RecipientKeyIdentifier
	} else if rid, err = issuerAndSerial(cert); err != nil {
		return nil, err
	}
	// originator [0] EXPLICIT originatorKey [1] IMPLICIT OriginatorPublicKey;
	// id-ecPublicKey parameters absent (RFC 5753 7.1.2 recommends it).
	point := append([]byte{0}, eph.PublicKey().Bytes()...) // BIT STRING, 0 unused bits
	originator := tlv(0xa0, tlv(0xa1, derAlgorithm(oidECPublicKey, nil), tlv(tagBitString, point)))
	keyEncAlg := derAlgorithm(cv.scheme, aes256WrapAlg)
	reks := tlv(tagSequence, tlv(tagSequence, rid, tlv(tagOctetString, wrapped)))
	// kari [1] IMPLICIT KeyAgreeRecipientInfo, version 3.
	return tlv(0xa1, derInt(3), originator, keyEncAlg, reks), nil
}

// eccSharedInfo is the DER of ECC-CMS-SharedInfo (RFC 5753 7.2): the key
// wrap algorithm, the optional user keying material and the KEK length in
// bits.
func eccSharedInfo(wrapAlg, ukm []byte, kekBits int) []byte {
	var entity []byte
	if ukm != nil {
		entity = tlv(0xa0, tlv(tagOctetString, ukm))
	}
	supp := []byte{byte(kekBits >> 24), byte(kekBits >> 16), byte(kekBits >> 8), byte(kekBits)}
	return tlv(tagSequence, wrapAlg, entity, tlv(0xa2, tlv(tagOctetString, supp)))
}
