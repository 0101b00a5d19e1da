// Package smimetest builds test material for S/MIME verification: small
// certificate authorities and CMS SignedData with every knob a hostile
// sender could turn (digests, RSA-PSS, Ed25519, missing or lying signed
// attributes, several signers, backdated signingTime). It is for tests
// only; nothing in the daemon imports it.
package smimetest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	_ "crypto/md5" // MD5 signatures for the weak-digest tests
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"sync/atomic"
	"time"
)

// Object identifiers the builder writes.
var (
	OIDData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	OIDSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	OIDEnvelopedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	oidContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidSMIMECaps     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 15}
	oidAES256CBC     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSAPSS        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidEd25519       = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidEmailAddress  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	hashOIDs         = map[crypto.Hash]asn1.ObjectIdentifier{crypto.MD5: {1, 2, 840, 113549, 2, 5}, crypto.SHA1: {1, 3, 14, 3, 2, 26}, crypto.SHA256: {2, 16, 840, 1, 101, 3, 4, 2, 1}, crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2}, crypto.SHA512: {2, 16, 840, 1, 101, 3, 4, 2, 3}}
	ecdsaOIDs        = map[crypto.Hash]asn1.ObjectIdentifier{crypto.SHA1: {1, 2, 840, 10045, 4, 1}, crypto.SHA256: {1, 2, 840, 10045, 4, 3, 2}, crypto.SHA384: {1, 2, 840, 10045, 4, 3, 3}, crypto.SHA512: {1, 2, 840, 10045, 4, 3, 4}}
	serial           atomic.Int64
)

// Cert is a certificate with its key.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// KeyType names a key to generate.
type KeyType string

// Key types.
const (
	RSA1024 KeyType = "rsa1024"
	RSA2048 KeyType = "rsa2048"
	P256    KeyType = "p256"
	P224    KeyType = "p224"
	Ed25519 KeyType = "ed25519"
)

// NewKey generates a key.
func NewKey(t KeyType) (crypto.Signer, error) {
	switch t {
	case RSA1024:
		return rsa.GenerateKey(rand.Reader, 1024)
	case RSA2048, "":
		return rsa.GenerateKey(rand.Reader, 2048)
	case P256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case P224:
		return ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("smimetest: key type %q", t)
}

// Template describes a certificate to issue. Zero values give a one-year
// mail certificate valid since an hour ago with emailProtection and
// digitalSignature.
type Template struct {
	CN        string
	Emails    []string // rfc822Name SANs
	SubjEmail string   // emailAddress in the subject
	Key       KeyType
	NotBefore time.Time
	NotAfter  time.Time
	EKU       []x509.ExtKeyUsage // nil: emailProtection; use NoEKU for none
	NoEKU     bool
	KeyUsage  x509.KeyUsage // 0: digitalSignature|keyEncipherment
	IsCA      bool
	AIA       []string // IssuingCertificateURL
	OCSP      []string
	CRL       []string
}

// NewCA makes a self-signed root (RSA-2048).
func NewCA(name string) (*Cert, error) {
	return Issue(nil, Template{CN: name, IsCA: true})
}

// Issue makes a certificate signed by parent (self-signed when nil).
func Issue(parent *Cert, t Template) (*Cert, error) {
	key, err := NewKey(t.Key)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if t.NotBefore.IsZero() {
		t.NotBefore = now.Add(-time.Hour)
	}
	if t.NotAfter.IsZero() {
		t.NotAfter = now.Add(365 * 24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1) + 1000),
		Subject:               pkix.Name{CommonName: t.CN, Organization: []string{"mailseal test"}},
		NotBefore:             t.NotBefore,
		NotAfter:              t.NotAfter,
		EmailAddresses:        t.Emails,
		BasicConstraintsValid: true,
		IsCA:                  t.IsCA,
		IssuingCertificateURL: t.AIA,
		OCSPServer:            t.OCSP,
		CRLDistributionPoints: t.CRL,
	}
	if !t.IsCA {
		// Go writes a subject key identifier for CA certificates only.
		tmpl.SubjectKeyId = make([]byte, 20)
		if _, err := rand.Read(tmpl.SubjectKeyId); err != nil {
			return nil, err
		}
	}
	if t.SubjEmail != "" {
		tmpl.Subject.ExtraNames = []pkix.AttributeTypeAndValue{{Type: oidEmailAddress, Value: t.SubjEmail}}
	}
	if t.IsCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	} else {
		tmpl.KeyUsage = t.KeyUsage
		if tmpl.KeyUsage == 0 {
			tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
			if _, ok := key.(*rsa.PrivateKey); !ok {
				tmpl.KeyUsage = x509.KeyUsageDigitalSignature
			}
		}
		switch {
		case t.NoEKU:
		case t.EKU != nil:
			tmpl.ExtKeyUsage = t.EKU
		default:
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
		}
	}
	signCert, signKey := tmpl, key
	if parent != nil {
		signCert, signKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signCert, key.Public(), signKey)
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Cert{Cert: c, Key: key}, nil
}

// Signer describes one SignerInfo.
type Signer struct {
	*Cert
	Hash crypto.Hash // default SHA-256 (SHA-512 for Ed25519)
	PSS  bool
	// NoAttributes signs the content directly, without signed attributes.
	NoAttributes bool
	SigningTime  time.Time // zero: now
	// MessageDigest replaces the message-digest attribute's value.
	MessageDigest []byte
	// ContentType replaces the content-type attribute's value.
	ContentType asn1.ObjectIdentifier
	// BySKI names the certificate by subject key identifier.
	BySKI bool
	// Corrupt flips a bit of the signature.
	Corrupt bool
	// BERAttributes sends the signed attributes with an indefinite length
	// (the signature still covers their DER), as some clients do.
	BERAttributes bool
}

// Spec describes a SignedData.
type Spec struct {
	// Content is what is signed.
	Content []byte
	// Detached leaves the content out.
	Detached bool
	// Embed, when not nil, is encapsulated instead of Content (which is
	// still what the signers sign): a lying SignedData.
	Embed []byte
	// ContentType is the eContentType; nil: id-data.
	ContentType asn1.ObjectIdentifier
	// Certs are included; nil: every signer's certificate.
	Certs []*x509.Certificate
	// Extra certificates are added after Certs (intermediates).
	Extra   []*x509.Certificate
	Signers []Signer
}

type algID struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue
}

func set(elems ...[]byte) []byte {
	slices.SortFunc(elems, bytes.Compare)
	v, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: bytes.Join(elems, nil)})
	return v
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func attr(id asn1.ObjectIdentifier, value any) []byte {
	v := must(asn1.Marshal(value))
	return must(asn1.Marshal(attribute{Type: id, Values: asn1.RawValue{FullBytes: set(v)}}))
}

func hashAlg(h crypto.Hash) []byte {
	return must(asn1.Marshal(algID{Algorithm: hashOIDs[h], Parameters: asn1.NullRawValue}))
}

// SignedData returns the DER ContentInfo of the SignedData spec describes.
func SignedData(spec Spec) ([]byte, error) {
	ct := spec.ContentType
	if ct == nil {
		ct = OIDData
	}
	var digestAlgs, infos [][]byte
	for _, s := range spec.Signers {
		h := s.Hash
		if h == 0 {
			h = crypto.SHA256
			if _, ok := s.Key.(ed25519.PrivateKey); ok {
				h = crypto.SHA512
			}
		}
		digestAlgs = append(digestAlgs, hashAlg(h))
		si, err := signerInfo(s, h, ct, spec.Content)
		if err != nil {
			return nil, err
		}
		infos = append(infos, si)
	}
	certs := spec.Certs
	if certs == nil {
		for _, s := range spec.Signers {
			certs = append(certs, s.Cert.Cert)
		}
	}
	certs = append(slices.Clone(certs), spec.Extra...)
	var eci []byte
	if spec.Detached {
		eci = must(asn1.Marshal(struct{ T asn1.ObjectIdentifier }{ct}))
	} else {
		c := spec.Content
		if spec.Embed != nil {
			c = spec.Embed
		}
		eci = must(asn1.Marshal(struct {
			T asn1.ObjectIdentifier
			C []byte `asn1:"explicit,tag:0"`
		}{ct, c}))
	}
	var body [][]byte
	body = append(body, must(asn1.Marshal(1)), set(uniq(digestAlgs)...), eci)
	if len(certs) > 0 {
		var raw []byte
		for _, c := range certs {
			raw = append(raw, c.Raw...)
		}
		body = append(body, must(asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: raw})))
	}
	body = append(body, set(infos...))
	sd := must(asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: bytes.Join(body, nil)}))
	return asn1.Marshal(struct {
		T asn1.ObjectIdentifier
		C asn1.RawValue
	}{OIDSignedData, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: sd}})
}

func uniq(b [][]byte) [][]byte {
	var out [][]byte
	for _, x := range b {
		if !slices.ContainsFunc(out, func(y []byte) bool { return bytes.Equal(x, y) }) {
			out = append(out, x)
		}
	}
	return out
}

func signerInfo(s Signer, h crypto.Hash, ct asn1.ObjectIdentifier, content []byte) ([]byte, error) {
	var sid []byte
	version := 1
	if s.BySKI {
		version = 3
		sid = must(asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, Bytes: s.Cert.Cert.SubjectKeyId}))
	} else {
		sid = must(asn1.Marshal(struct {
			Issuer asn1.RawValue
			Serial *big.Int
		}{asn1.RawValue{FullBytes: s.Cert.Cert.RawIssuer}, s.Cert.Cert.SerialNumber}))
	}
	toSign := content
	var signedAttrs []byte
	if !s.NoAttributes {
		hh := h.New()
		hh.Write(content)
		md := hh.Sum(nil)
		if s.MessageDigest != nil {
			md = s.MessageDigest
		}
		act := ct
		if s.ContentType != nil {
			act = s.ContentType
		}
		st := s.SigningTime
		if st.IsZero() {
			st = time.Now()
		}
		caps := must(asn1.Marshal([]struct{ ID asn1.ObjectIdentifier }{{oidAES256CBC}}))
		set := set(attr(oidContentType, act), attr(oidMessageDigest, md), attr(oidSigningTime, st.UTC()),
			must(asn1.Marshal(attribute{Type: oidSMIMECaps, Values: asn1.RawValue{FullBytes: set(caps)}})))
		toSign = set
		signedAttrs = append([]byte{0xa0}, set[1:]...)
		if s.BERAttributes {
			_, hdr := lengthOf(set)
			signedAttrs = append(append([]byte{0xa0, 0x80}, set[hdr:]...), 0, 0)
		}
	}
	var sigAlg []byte
	var sig []byte
	var err error
	switch k := s.Key.(type) {
	case *rsa.PrivateKey:
		hh := h.New()
		hh.Write(toSign)
		if s.PSS {
			hashAlgDER := hashAlg(h)
			explicit := func(tag int, b []byte) []byte {
				return must(asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, IsCompound: true, Bytes: b}))
			}
			mgf := must(asn1.Marshal(struct {
				A asn1.ObjectIdentifier
				P asn1.RawValue
			}{oidMGF1, asn1.RawValue{FullBytes: hashAlgDER}}))
			params := must(asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true,
				Bytes: bytes.Join([][]byte{explicit(0, hashAlgDER), explicit(1, mgf), explicit(2, must(asn1.Marshal(h.Size())))}, nil)}))
			sigAlg = must(asn1.Marshal(algID{oidRSAPSS, asn1.RawValue{FullBytes: params}}))
			sig, err = rsa.SignPSS(rand.Reader, k, h, hh.Sum(nil), &rsa.PSSOptions{SaltLength: h.Size(), Hash: h})
		} else {
			sigAlg = must(asn1.Marshal(algID{oidRSAEncryption, asn1.NullRawValue}))
			sig, err = rsa.SignPKCS1v15(rand.Reader, k, h, hh.Sum(nil))
		}
	case *ecdsa.PrivateKey:
		hh := h.New()
		hh.Write(toSign)
		sigAlg = must(asn1.Marshal(struct{ A asn1.ObjectIdentifier }{ecdsaOIDs[h]}))
		sig, err = ecdsa.SignASN1(rand.Reader, k, hh.Sum(nil))
	case ed25519.PrivateKey:
		sigAlg = must(asn1.Marshal(struct{ A asn1.ObjectIdentifier }{oidEd25519}))
		sig = ed25519.Sign(k, toSign)
	default:
		return nil, fmt.Errorf("smimetest: key %T", s.Key)
	}
	if err != nil {
		return nil, err
	}
	if s.Corrupt {
		sig[len(sig)/2] ^= 1
	}
	parts := [][]byte{must(asn1.Marshal(version)), sid, hashAlg(h)}
	if signedAttrs != nil {
		parts = append(parts, signedAttrs)
	}
	parts = append(parts, sigAlg, must(asn1.Marshal(sig)))
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: bytes.Join(parts, nil)})
}

// PEM returns the certificate and its PKCS #8 key as PEM.
func PEM(c *Cert) (cert, key []byte, err error) {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// lengthOf returns the content length and header size of a DER element.
func lengthOf(der []byte) (n, hdr int) {
	if der[1] < 0x80 {
		return int(der[1]), 2
	}
	k := int(der[1] & 0x7f)
	for _, c := range der[2 : 2+k] {
		n = n<<8 | int(c)
	}
	return n, 2 + k
}
