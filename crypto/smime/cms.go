package smime

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/smallstep/pkcs7"
)

var (
	oidSMIMECapabilities = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 15}
	oidAES256CBC         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidAES192CBC         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES128CBC         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidRSAEncryption     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
)

// smimeCapabilities is the DER of SMIMECapabilities (RFC 8551 2.5.2): the
// content encryption algorithms we can decrypt, strongest first.
var smimeCapabilities = func() []byte {
	type capability struct{ ID asn1.ObjectIdentifier }
	der, err := asn1.Marshal([]capability{{oidAES256CBC}, {oidAES192CBC}, {oidAES128CBC}})
	if err != nil {
		panic("smime: encoding SMIMECapabilities: " + err.Error()) // static data
	}
	return der
}()

// deferredKey stands in for the real key while pkcs7 assembles the
// SignerInfo: pkcs7 stamps signingTime with time.Now and signs at once, so
// we let it "sign" with this key, set our own signingTime and sign the
// final attributes ourselves (one real signature per message).
type deferredKey struct{ pub crypto.PublicKey }

func (d deferredKey) Public() crypto.PublicKey { return d.pub }
func (d deferredKey) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return []byte{}, nil
}

// detachedSignature returns the DER of a detached CMS SignedData over
// content.
//
// pkcs7 would DER-encode a full copy of content only to hash it and drop
// it again at Detach: we give it no content, hash content ourselves and
// write the messageDigest attribute like signingTime below.
func (s *Signer) detachedSignature(content []byte, now time.Time) ([]byte, error) {
	contentDigest := sha256.Sum256(content)
	sd, err := pkcs7.NewSignedData(nil)
	if err != nil {
		return nil, fmt.Errorf("smime: new signed data: %w", err)
	}
	// Must precede AddSignerChain, which computes the digest; set later it
	// silently stays SHA-1.
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	cfg := pkcs7.SignerInfoConfig{ExtraSignedAttributes: []pkcs7.Attribute{
		{Type: oidSMIMECapabilities, Value: asn1.RawValue{FullBytes: smimeCapabilities}},
	}}
	// AddSignerChain would re-verify the chain's signatures on every message
	// (40% of the cost with ECDSA keys); NewSigner verified it once. With no
	// parents pkcs7 takes the issuer name from the signer certificate itself,
	// which equals the first chain certificate's subject.
	if err := sd.AddSigner(s.cert, deferredKey{s.key.Public()}, cfg); err != nil {
		return nil, fmt.Errorf("smime: add signer: %w", err)
	}
	for _, c := range s.chain {
		sd.AddCertificate(c)
	}
	raw := sd.GetSignedData()
	if len(raw.SignerInfos) != 1 {
		return nil, fmt.Errorf("smime: %d signer infos, want 1", len(raw.SignerInfos))
	}
	si := &raw.SignerInfos[0]
	attrs := si.AuthenticatedAttributes
	timeDER, err := asn1.Marshal(now.UTC())
	if err != nil {
		return nil, fmt.Errorf("smime: encode signing time: %w", err)
	}
	digestDER, err := asn1.Marshal(contentDigest[:])
	if err != nil {
		return nil, fmt.Errorf("smime: encode message digest: %w", err)
	}
	var timeSet, digestSet bool
	for i := range attrs {
		switch {
		case attrs[i].Type.Equal(pkcs7.OIDAttributeSigningTime):
			attrs[i].Value = asn1.RawValue{Tag: asn1.TagSet, IsCompound: true, Bytes: timeDER}
			timeSet = true
		case attrs[i].Type.Equal(pkcs7.OIDAttributeMessageDigest):
			attrs[i].Value = asn1.RawValue{Tag: asn1.TagSet, IsCompound: true, Bytes: digestDER}
			digestSet = true
		}
	}
	if !timeSet || !digestSet {
		return nil, fmt.Errorf("smime: pkcs7 added no signingTime or messageDigest attribute")
	}
	// DER: a SET OF is sorted by the encodings of its elements.
	enc := make([][]byte, len(attrs))
	for i := range attrs {
		if enc[i], err = asn1.Marshal(attrs[i]); err != nil {
			return nil, fmt.Errorf("smime: encode attribute: %w", err)
		}
	}
	order := make([]int, len(attrs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return bytes.Compare(enc[a], enc[b]) })
	sorted := slices.Clone(attrs)
	var set []byte
	for i, j := range order {
		sorted[i] = attrs[j]
		set = append(set, enc[j]...)
	}
	copy(attrs, sorted)
	setDER, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSet, IsCompound: true, Bytes: set})
	if err != nil {
		return nil, fmt.Errorf("smime: encode attributes: %w", err)
	}
	digest := sha256.Sum256(setDER)
	sig, err := s.key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("smime: sign: %w", err)
	}
	si.EncryptedDigest = sig
	if _, ok := s.cert.PublicKey.(*rsa.PublicKey); ok {
		// rsaEncryption is what RFC 5754 recommends and every client reads.
		si.DigestEncryptionAlgorithm.Algorithm = oidRSAEncryption
		si.DigestEncryptionAlgorithm.Parameters = asn1.NullRawValue
	}
	sd.Detach()
	der, err := sd.Finish()
	if err != nil {
		return nil, fmt.Errorf("smime: encode signed data: %w", err)
	}
	return der, nil
}
