package smime

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	_ "crypto/md5" // MD5 digests are recognised (and reported weak), not trusted
	"crypto/rsa"
	_ "crypto/sha1" // likewise SHA-1
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// This file reads and verifies CMS SignedData (RFC 5652 section 5) with
// our own BER reader: smallstep/pkcs7's verification trusts the signer's
// signingTime for certificate validity and knows neither RSA-PSS nor
// Ed25519. Here only the cryptography is checked; whether the signer is
// trusted (chain, usage, revocation, From:) is the caller's policy.

var (
	// ErrBadSignature means a signature or the message digest does not
	// match the content: the message was changed or the signature forged.
	ErrBadSignature = errors.New("smime: signature does not match the content")
	// ErrNoSignerCertificate means the SignedData does not carry the
	// certificate a SignerInfo names.
	ErrNoSignerCertificate = errors.New("smime: signer certificate not included")
)

// More object identifiers of signatures (RFC 5652, 3370, 4055, 5754, 8419).
var (
	oidContentTypeAttr   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigestAttr = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTimeAttr   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidMD5               = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}
	oidMD5WithRSA        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 4}
	oidSHA1WithRSA       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidRSAPSS            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidSHA256WithRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidSHA224WithRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 14}
	oidECDSAWithSHA1     = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	oidECDSAWithSHA224   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 1}
	oidECDSAWithSHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidEd25519           = asn1.ObjectIdentifier{1, 3, 101, 112}
)

// digestAlgorithms are the digests a SignerInfo may name.
var digestAlgorithms = map[string]crypto.Hash{
	oidMD5.String():    crypto.MD5,
	oidSHA1.String():   crypto.SHA1,
	oidSHA224.String(): crypto.SHA224,
	oidSHA256.String(): crypto.SHA256,
	oidSHA384.String(): crypto.SHA384,
	oidSHA512.String(): crypto.SHA512,
}

// sigKind is the family of a signature algorithm.
type sigKind int

const (
	sigPKCS1 sigKind = iota + 1
	sigPSS
	sigECDSA
	sigEd25519
)

// signatureAlgorithms maps a signatureAlgorithm OID to its family and,
// for the combined OIDs (sha256WithRSAEncryption, …), the hash it names,
// which must agree with the SignerInfo's digestAlgorithm.
var signatureAlgorithms = map[string]struct {
	kind sigKind
	hash crypto.Hash // 0: given by digestAlgorithm alone
}{
	oidRSAEncryption.String():   {sigPKCS1, 0},
	oidMD5WithRSA.String():      {sigPKCS1, crypto.MD5},
	oidSHA1WithRSA.String():     {sigPKCS1, crypto.SHA1},
	oidSHA224WithRSA.String():   {sigPKCS1, crypto.SHA224},
	oidSHA256WithRSA.String():   {sigPKCS1, crypto.SHA256},
	oidSHA384WithRSA.String():   {sigPKCS1, crypto.SHA384},
	oidSHA512WithRSA.String():   {sigPKCS1, crypto.SHA512},
	oidRSAPSS.String():          {sigPSS, 0},
	oidECPublicKey.String():     {sigECDSA, 0},
	oidECDSAWithSHA1.String():   {sigECDSA, crypto.SHA1},
	oidECDSAWithSHA224.String(): {sigECDSA, crypto.SHA224},
	oidECDSAWithSHA256.String(): {sigECDSA, crypto.SHA256},
	oidECDSAWithSHA384.String(): {sigECDSA, crypto.SHA384},
	oidECDSAWithSHA512.String(): {sigECDSA, crypto.SHA512},
	oidEd25519.String():         {sigEd25519, 0},
}

// SignedData is a parsed CMS SignedData. Nothing in it is verified until
// VerifySigner says so.
type SignedData struct {
	// ContentType is the eContentType; S/MIME content is id-data.
	ContentType asn1.ObjectIdentifier
	// Content is the encapsulated content (the MIME entity of an opaque
	// signed-data message); nil when the signature is detached.
	Content []byte
	// Detached is true when no content is encapsulated.
	Detached bool
	// Certificates are the certificates the sender included (those that
	// parse; others are ignored).
	Certificates []*x509.Certificate
	Signers      []*SignerInfo
}

// IsData reports whether the content type is id-data, the only one S/MIME
// uses for mail.
func (sd *SignedData) IsData() bool { return sd.ContentType.Equal(oidData) }

// SignerInfo is one signer of a SignedData.
type SignerInfo struct {
	// Issuer (raw DER Name) and Serial, or SubjectKeyID, name the signer
	// certificate.
	Issuer       []byte
	Serial       *big.Int
	SubjectKeyID []byte
	// Cert is the named certificate when the SignedData includes it.
	Cert *x509.Certificate
	// Hash is the digest algorithm (0 when unknown); Digest its name
	// ("SHA-256", or the OID when unknown).
	Hash   crypto.Hash
	Digest string
	// Algorithm is the signature algorithm: "RSA PKCS#1 v1.5", "RSA-PSS",
	// "ECDSA", "Ed25519", or the OID when unknown.
	Algorithm string
	// SigningTime is the sender's claim (zero when absent): never a reason
	// to consider a certificate valid.
	SigningTime time.Time
	// Capabilities is the SMIMECapabilities signed attribute.
	Capabilities []Capability
	// HasSignedAttributes is true when the signature covers signed
	// attributes (and through messageDigest the content).
	HasSignedAttributes bool

	kind           sigKind
	sigAlg         algorithm
	signedAttrs    []byte // DER to verify: the [0] field with the SET OF tag
	signedAttrsDER []byte // a DER re-encoding when what was sent is not DER
	messageDigest  []byte
	contentType    asn1.ObjectIdentifier
	signature      []byte
	problem        error // set while parsing: the signer cannot verify
}

// WeakDigest reports whether the digest is one mailseal does not accept
// (anything but SHA-256, SHA-384 and SHA-512: MD5, SHA-1, SHA-224,
// unknown).
func (si *SignerInfo) WeakDigest() bool {
	return si.Hash != crypto.SHA256 && si.Hash != crypto.SHA384 && si.Hash != crypto.SHA512
}

func digestName(h crypto.Hash) string {
	switch h {
	case crypto.MD5:
		return "MD5"
	case crypto.SHA1:
		return "SHA-1"
	}
	return h.String()
}

// maxSigners bounds the SignerInfos verified per message: each costs a
// public key operation.
const maxSigners = 16

// ParseSignedData decodes the DER or BER of a CMS ContentInfo holding
// SignedData (an smime.p7s or the body of signed-data
// application/pkcs7-mime, base64 already decoded). It does not verify
// anything. It never panics; errors wrap ErrMalformed or ErrUnsupported.
func ParseSignedData(der []byte) (sd *SignedData, err error) {
	defer func() {
		if r := recover(); r != nil {
			sd, err = nil, fmt.Errorf("%w: signed data: %v", ErrInternal, r)
		}
	}()
	bad := func(what string, err error) error {
		if err == nil {
			return fmt.Errorf("smime: signed data: %w: %s", ErrMalformed, what)
		}
		return fmt.Errorf("smime: signed data: %w: %s: %v", ErrMalformed, what, err)
	}
	top, err := parseBER(der)
	if err != nil {
		return nil, bad("ContentInfo", err)
	}
	ci, err := sequence(top, 2)
	if err != nil {
		return nil, bad("ContentInfo", err)
	}
	ct, err := oidOf(ci[0])
	if err != nil {
		return nil, bad("content type", err)
	}
	if !ct.Equal(oidSignedData) {
		return nil, fmt.Errorf("smime: signed data: %w: content type %v is not signed data", ErrUnsupported, ct)
	}
	inner, err := explicit(ci[1], 0)
	if err != nil {
		return nil, bad("content", err)
	}
	f, err := sequence(inner, 4)
	if err != nil {
		return nil, bad("SignedData", err)
	}
	if _, err := integerOf(f[0]); err != nil {
		return nil, bad("version", err)
	}
	if !f[1].is(classUniversal, asn1.TagSet) {
		return nil, bad("digestAlgorithms", nil)
	}
	sd = &SignedData{}
	eci, err := sequence(f[2], 1)
	if err != nil || len(eci) > 2 {
		return nil, bad("EncapsulatedContentInfo", err)
	}
	if sd.ContentType, err = oidOf(eci[0]); err != nil {
		return nil, bad("eContentType", err)
	}
	if len(eci) == 2 {
		c, err := explicit(eci[1], 0)
		if err != nil {
			return nil, bad("eContent", err)
		}
		if sd.Content, err = universalOctets(c); err != nil {
			return nil, bad("eContent", err)
		}
		if sd.Content == nil {
			sd.Content = []byte{}
		}
	} else {
		sd.Detached = true
	}
	rest := f[3:]
	if len(rest) > 0 && rest[0].is(classContext, 0) {
		certs, err := children(rest[0])
		if err != nil {
			return nil, bad("certificates", err)
		}
		for _, c := range certs {
			// Attribute certificates ([1], [2]) and others ([3]) are not
			// ours to read; a certificate that does not parse cannot be
			// the signer's.
			if !c.is(classUniversal, asn1.TagSequence) {
				continue
			}
			if cert, err := x509.ParseCertificate(c.full); err == nil {
				sd.Certificates = append(sd.Certificates, cert)
			}
		}
		rest = rest[1:]
	}
	if len(rest) > 0 && rest[0].is(classContext, 1) { // CRLs: not used
		rest = rest[1:]
	}
	if len(rest) != 1 || !rest[0].is(classUniversal, asn1.TagSet) {
		return nil, bad("signerInfos", nil)
	}
	sis, err := children(rest[0])
	if err != nil {
		return nil, bad("signerInfos", err)
	}
	if len(sis) > maxSigners {
		return nil, bad(fmt.Sprintf("%d signers, at most %d", len(sis), maxSigners), nil)
	}
	for _, e := range sis {
		si, err := parseSignerInfo(e)
		if err != nil {
			return nil, bad("SignerInfo", err)
		}
		si.Cert = sd.findCert(si)
		sd.Signers = append(sd.Signers, si)
	}
	return sd, nil
}

func (sd *SignedData) findCert(si *SignerInfo) *x509.Certificate {
	for _, c := range sd.Certificates {
		if si.SubjectKeyID != nil {
			if len(c.SubjectKeyId) > 0 && bytes.Equal(c.SubjectKeyId, si.SubjectKeyID) {
				return c
			}
			continue
		}
		if si.Serial != nil && c.SerialNumber.Cmp(si.Serial) == 0 && bytes.Equal(c.RawIssuer, si.Issuer) {
			return c
		}
	}
	return nil
}

// parseSignerInfo decodes one SignerInfo. Structural errors are returned;
// what only makes this signer unverifiable (an unknown algorithm, a
// missing attribute) is kept in si.problem so the others still count.
func parseSignerInfo(e berElem) (*SignerInfo, error) {
	f, err := sequence(e, 5)
	if err != nil {
		return nil, err
	}
	if len(f) > 7 {
		return nil, fmt.Errorf("%w: SignerInfo of %d elements", errBER, len(f))
	}
	si := &SignerInfo{}
	switch sid := f[1]; {
	case sid.is(classContext, 0) && !sid.compound:
		si.SubjectKeyID = bytes.Clone(sid.content)
	default:
		is, err := sequence(sid, 2)
		if err != nil {
			return nil, fmt.Errorf("signer identifier: %w", err)
		}
		if si.Serial, err = integerOf(is[1]); err != nil {
			return nil, fmt.Errorf("signer serial: %w", err)
		}
		si.Issuer = bytes.Clone(is[0].full)
	}
	da, err := algorithmOf(f[2])
	if err != nil {
		return nil, fmt.Errorf("digest algorithm: %w", err)
	}
	si.Hash = digestAlgorithms[da.oid.String()]
	si.Digest = da.oid.String()
	if si.Hash != 0 {
		si.Digest = digestName(si.Hash)
	} else {
		si.problem = fmt.Errorf("%w: digest algorithm %v", ErrUnsupported, da.oid)
	}
	f = f[3:]
	if f[0].is(classContext, 0) {
		if err := si.parseSignedAttrs(f[0]); err != nil {
			return nil, err
		}
		f = f[1:]
	}
	if len(f) < 2 {
		return nil, fmt.Errorf("%w: SignerInfo too short", errBER)
	}
	if si.sigAlg, err = algorithmOf(f[0]); err != nil {
		return nil, fmt.Errorf("signature algorithm: %w", err)
	}
	if si.signature, err = universalOctets(f[1]); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	if len(f) > 2 && !f[2].is(classContext, 1) {
		return nil, fmt.Errorf("%w: unexpected element after the signature", errBER)
	}
	alg, ok := signatureAlgorithms[si.sigAlg.oid.String()]
	if !ok {
		si.Algorithm = si.sigAlg.oid.String()
		if si.problem == nil {
			si.problem = fmt.Errorf("%w: signature algorithm %v", ErrUnsupported, si.sigAlg.oid)
		}
		return si, nil
	}
	si.kind = alg.kind
	si.Algorithm = map[sigKind]string{sigPKCS1: "RSA PKCS#1 v1.5", sigPSS: "RSA-PSS", sigECDSA: "ECDSA", sigEd25519: "Ed25519"}[alg.kind]
	if alg.hash != 0 && alg.hash != si.Hash && si.problem == nil {
		si.problem = fmt.Errorf("%w: signature algorithm names %v, digest algorithm %v", ErrMalformed, alg.hash, si.Digest)
	}
	return si, nil
}

// maxAttributes bounds the signed attributes; real clients send half a
// dozen.
const maxAttributes = 64

func (si *SignerInfo) parseSignedAttrs(e berElem) error {
	if !e.compound {
		return fmt.Errorf("%w: signed attributes", errBER)
	}
	si.HasSignedAttributes = true
	// The signature covers the DER of the attributes with the SET OF tag
	// (RFC 5652 5.4). Signers write DER; what they sent is what they signed.
	si.signedAttrs = append([]byte{tagSet}, e.full[1:]...)
	if der, err := toDER(e, 0); err == nil {
		if der = append([]byte{tagSet}, der[1:]...); !bytes.Equal(der, si.signedAttrs) {
			si.signedAttrsDER = der
		}
	}
	attrs, err := children(e)
	if err != nil {
		return fmt.Errorf("signed attributes: %w", err)
	}
	if len(attrs) > maxAttributes {
		return fmt.Errorf("%w: %d signed attributes", errBER, len(attrs))
	}
	seen := map[string]bool{}
	for _, a := range attrs {
		af, err := sequence(a, 2)
		if err != nil || len(af) != 2 {
			return fmt.Errorf("signed attribute: %v", err)
		}
		id, err := oidOf(af[0])
		if err != nil {
			return fmt.Errorf("signed attribute: %w", err)
		}
		if !af[1].is(classUniversal, asn1.TagSet) {
			return fmt.Errorf("%w: attribute values are not a SET", errBER)
		}
		vals, err := children(af[1])
		if err != nil {
			return fmt.Errorf("signed attribute: %w", err)
		}
		single := func() (berElem, error) {
			// RFC 5652 11: content-type, message-digest and signing-time
			// have exactly one value and appear once.
			if seen[id.String()] || len(vals) != 1 {
				return berElem{}, fmt.Errorf("%w: attribute %v repeated or not single-valued", errBER, id)
			}
			seen[id.String()] = true
			return vals[0], nil
		}
		switch {
		case id.Equal(oidContentTypeAttr):
			v, err := single()
			if err != nil {
				return err
			}
			if si.contentType, err = oidOf(v); err != nil {
				return fmt.Errorf("content-type attribute: %w", err)
			}
		case id.Equal(oidMessageDigestAttr):
			v, err := single()
			if err != nil {
				return err
			}
			if si.messageDigest, err = universalOctets(v); err != nil {
				return fmt.Errorf("message-digest attribute: %w", err)
			}
		case id.Equal(oidSigningTimeAttr):
			v, err := single()
			if err != nil {
				return err
			}
			if _, err := asn1.Unmarshal(v.full, &si.SigningTime); err != nil {
				return fmt.Errorf("signing-time attribute: %w", err)
			}
		case id.Equal(oidSMIMECapabilities):
			if len(vals) > 0 {
				// A broken capability list only loses the harvest.
				si.Capabilities, _ = capabilitiesOf(vals[0])
			}
		}
	}
	if si.contentType == nil || si.messageDigest == nil {
		si.problem = fmt.Errorf("%w: signed attributes without content-type or message-digest", ErrMalformed)
	}
	return nil
}

// VerifySigner checks signer i of sd cryptographically: the content
// digest against the message-digest attribute, the content-type attribute
// against the eContentType, and the signature with the signer
// certificate's public key. content is the detached content (the exact
// CRLF bytes of the signed MIME part); nil uses the encapsulated content.
// Weak digests are verified like others: WeakDigest tells the caller.
// Errors wrap ErrBadSignature, ErrNoSignerCertificate, ErrMalformed or
// ErrUnsupported. It never panics.
func (sd *SignedData) VerifySigner(i int, content []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: verify: %v", ErrInternal, r)
		}
	}()
	if i < 0 || i >= len(sd.Signers) {
		return fmt.Errorf("smime: verify: no signer %d", i)
	}
	si := sd.Signers[i]
	if si.problem != nil {
		return fmt.Errorf("smime: verify: %w", si.problem)
	}
	if si.Cert == nil {
		return ErrNoSignerCertificate
	}
	if content == nil {
		content = sd.Content
	}
	if content == nil {
		return fmt.Errorf("smime: verify: %w: detached signature without content", ErrMalformed)
	}
	if !si.Hash.Available() {
		return fmt.Errorf("smime: verify: %w: digest %s", ErrUnsupported, si.Digest)
	}
	signed := content
	if si.HasSignedAttributes {
		if !si.contentType.Equal(sd.ContentType) {
			return fmt.Errorf("smime: verify: %w: content-type attribute %v differs from the content type %v", ErrBadSignature, si.contentType, sd.ContentType)
		}
		h := si.Hash.New()
		h.Write(content)
		if !bytes.Equal(h.Sum(nil), si.messageDigest) {
			return fmt.Errorf("smime: verify: %w: message digest differs", ErrBadSignature)
		}
		signed = si.signedAttrs
	} else if !sd.IsData() {
		// RFC 5652 5.3: other content types need signed attributes.
		return fmt.Errorf("smime: verify: %w: content type %v without signed attributes", ErrMalformed, sd.ContentType)
	}
	err = si.checkSignature(signed)
	if errors.Is(err, ErrBadSignature) && si.HasSignedAttributes && si.signedAttrsDER != nil {
		// The attributes came in BER: the signer signed their DER form.
		err = si.checkSignature(si.signedAttrsDER)
	}
	return err
}

// checkSignature verifies the signature over data (signed attributes or
// content) with the certificate's key.
func (si *SignerInfo) checkSignature(data []byte) error {
	pub := si.Cert.PublicKey
	wrongKey := fmt.Errorf("smime: verify: %w: %s signature with a %T key", ErrBadSignature, si.Algorithm, pub)
	digest := func() []byte {
		h := si.Hash.New()
		h.Write(data)
		return h.Sum(nil)
	}
	switch si.kind {
	case sigPKCS1:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return wrongKey
		}
		if rsa.VerifyPKCS1v15(k, si.Hash, digest(), si.signature) != nil {
			return fmt.Errorf("smime: verify: %w", ErrBadSignature)
		}
	case sigPSS:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return wrongKey
		}
		opts, err := pssOptions(si.sigAlg, si.Hash)
		if err != nil {
			return err
		}
		if rsa.VerifyPSS(k, si.Hash, digest(), si.signature, opts) != nil {
			return fmt.Errorf("smime: verify: %w", ErrBadSignature)
		}
	case sigECDSA:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return wrongKey
		}
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return fmt.Errorf("smime: verify: %w: curve %s", ErrUnsupported, k.Curve.Params().Name)
		}
		if !ecdsa.VerifyASN1(k, digest(), si.signature) {
			return fmt.Errorf("smime: verify: %w", ErrBadSignature)
		}
	case sigEd25519:
		k, ok := pub.(ed25519.PublicKey)
		if !ok {
			return wrongKey
		}
		// RFC 8419: PureEdDSA over the signed attributes (or content).
		if !ed25519.Verify(k, data, si.signature) {
			return fmt.Errorf("smime: verify: %w", ErrBadSignature)
		}
	default:
		return fmt.Errorf("smime: verify: %w: signature algorithm %v", ErrUnsupported, si.sigAlg.oid)
	}
	return nil
}

// pssOptions reads RSASSA-PSS-params (RFC 4055 3.1): hashAlgorithm [0],
// maskGenAlgorithm [1] (MGF1 only), saltLength [2], trailerField [3]
// (must be 1). The hash and the MGF1 hash must be the SignerInfo's digest
// (RFC 4056 3: they should be the same; Go's PSS uses one hash for both).
func pssOptions(alg algorithm, digest crypto.Hash) (*rsa.PSSOptions, error) {
	bad := func(what string) error {
		return fmt.Errorf("smime: verify: %w: RSA-PSS parameters: %s", ErrMalformed, what)
	}
	hash, mgfHash, salt := crypto.SHA1, crypto.SHA1, 20
	if alg.params != nil {
		f, err := sequence(*alg.params, 0)
		if err != nil || len(f) > 4 {
			return nil, bad("not a SEQUENCE")
		}
		for _, p := range f {
			v, err := explicit(p, p.tag)
			if err != nil || p.class != classContext {
				return nil, bad("field")
			}
			switch p.tag {
			case 0:
				a, err := algorithmOf(v)
				if err != nil {
					return nil, bad("hash")
				}
				if hash = digestAlgorithms[a.oid.String()]; hash == 0 {
					return nil, bad("hash " + a.oid.String())
				}
			case 1:
				a, err := algorithmOf(v)
				if err != nil || !a.oid.Equal(oidMGF1) || a.params == nil {
					return nil, bad("mask generation")
				}
				h, err := algorithmOf(*a.params)
				if err != nil {
					return nil, bad("MGF1 hash")
				}
				if mgfHash = digestAlgorithms[h.oid.String()]; mgfHash == 0 {
					return nil, bad("MGF1 hash " + h.oid.String())
				}
			case 2:
				n, err := integerOf(v)
				if err != nil || !n.IsInt64() || n.Int64() < 0 || n.Int64() > 1024 {
					return nil, bad("salt length")
				}
				salt = int(n.Int64())
			case 3:
				n, err := integerOf(v)
				if err != nil || !n.IsInt64() || n.Int64() != 1 {
					return nil, bad("trailer field")
				}
			default:
				return nil, bad("unknown field")
			}
		}
	}
	if hash != digest || mgfHash != digest {
		return nil, fmt.Errorf("smime: verify: %w: RSA-PSS with hash %v and MGF1 %v for digest %v", ErrUnsupported, hash, mgfHash, digest)
	}
	return &rsa.PSSOptions{SaltLength: salt, Hash: hash}, nil
}
