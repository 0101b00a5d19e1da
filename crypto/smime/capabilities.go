package smime

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"
	"slices"
)

// Capability is one entry of an SMIMECapabilities attribute (RFC 8551
// 2.5.2): an algorithm the sender can use, strongest first.
type Capability struct {
	ID asn1.ObjectIdentifier
	// Params is the encoding of the parameters, nil when absent.
	Params []byte
}

// OIDAES256GCM is the capability that announces AES-256-GCM
// AuthEnvelopedData (RFC 5084).
var OIDAES256GCM = slices.Clone(oidAES256GCM)

// maxCapabilities bounds what one attribute may list; real clients list a
// dozen.
const maxCapabilities = 256

// ParseSMIMECapabilities decodes the value of an SMIMECapabilities
// attribute: the DER (or BER) of the SEQUENCE OF SMIMECapability, or of
// the attribute's SET OF values holding it (the first value is used).
// It never panics.
func ParseSMIMECapabilities(der []byte) (caps []Capability, err error) {
	defer func() {
		if r := recover(); r != nil {
			caps, err = nil, fmt.Errorf("%w: capabilities: %v", ErrInternal, r)
		}
	}()
	e, err := parseBER(der)
	if err != nil {
		return nil, fmt.Errorf("smime: capabilities: %w", err)
	}
	return capabilitiesOf(e)
}

func capabilitiesOf(e berElem) ([]Capability, error) {
	if e.is(classUniversal, asn1.TagSet) {
		vals, err := children(e)
		if err != nil || len(vals) == 0 {
			return nil, fmt.Errorf("smime: capabilities: empty attribute value set: %v", err)
		}
		e = vals[0]
	}
	list, err := sequence(e, 0)
	if err != nil {
		return nil, fmt.Errorf("smime: capabilities: %w", err)
	}
	if len(list) > maxCapabilities {
		return nil, fmt.Errorf("smime: capabilities: %d entries, at most %d", len(list), maxCapabilities)
	}
	caps := make([]Capability, 0, len(list))
	for _, c := range list {
		f, err := sequence(c, 1)
		if err != nil || len(f) > 2 {
			return nil, fmt.Errorf("smime: capabilities: bad SMIMECapability: %v", err)
		}
		id, err := oidOf(f[0])
		if err != nil {
			return nil, fmt.Errorf("smime: capabilities: %w", err)
		}
		cp := Capability{ID: id}
		if len(f) == 2 {
			cp.Params = bytes.Clone(f[1].full)
		}
		caps = append(caps, cp)
	}
	return caps, nil
}

// SignerCapabilities is what one signer of a SignedData announced.
type SignerCapabilities struct {
	// Issuer (raw DER Name) and Serial, or SubjectKeyID, identify the
	// signer certificate as the SignerInfo names it.
	Issuer       []byte
	Serial       *big.Int
	SubjectKeyID []byte
	Capabilities []Capability
}

// Matches reports whether cert is the certificate this signer info names.
func (s SignerCapabilities) Matches(cert *x509.Certificate) bool {
	if cert == nil {
		return false
	}
	if s.SubjectKeyID != nil {
		return len(cert.SubjectKeyId) > 0 && bytes.Equal(s.SubjectKeyID, cert.SubjectKeyId)
	}
	return s.Serial != nil && bytes.Equal(s.Issuer, cert.RawIssuer) && s.Serial.Cmp(cert.SerialNumber) == 0
}

// ParseSignerCapabilities returns the SMIMECapabilities signed attribute
// of every signer of a CMS SignedData (the DER or BER of an smime.p7s or
// signed-data application/pkcs7-mime body) that has one. It does not
// verify the signature: use the result only for a signature that was
// verified. It never panics.
func ParseSignerCapabilities(p7 []byte) (out []SignerCapabilities, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: capabilities: %v", ErrInternal, r)
		}
	}()
	top, err := parseBER(p7)
	if err != nil {
		return nil, fmt.Errorf("smime: capabilities: %w", err)
	}
	ci, err := sequence(top, 2)
	if err != nil {
		return nil, fmt.Errorf("smime: capabilities: ContentInfo: %w", err)
	}
	if ct, err := oidOf(ci[0]); err != nil || !ct.Equal(oidSignedData) {
		return nil, fmt.Errorf("smime: capabilities: not SignedData")
	}
	sdElem, err := explicit(ci[1], 0)
	if err != nil {
		return nil, fmt.Errorf("smime: capabilities: %w", err)
	}
	sd, err := sequence(sdElem, 4)
	if err != nil {
		return nil, fmt.Errorf("smime: capabilities: SignedData: %w", err)
	}
	// The signerInfos SET comes last, after the optional [0] certificates
	// and [1] crls.
	last := sd[len(sd)-1]
	if !last.is(classUniversal, asn1.TagSet) {
		return nil, fmt.Errorf("smime: capabilities: no signerInfos")
	}
	sis, err := children(last)
	if err != nil {
		return nil, fmt.Errorf("smime: capabilities: signerInfos: %w", err)
	}
	for _, si := range sis {
		f, err := sequence(si, 5)
		if err != nil {
			return nil, fmt.Errorf("smime: capabilities: SignerInfo: %w", err)
		}
		var sc SignerCapabilities
		switch sid := f[1]; {
		case sid.is(classContext, 0):
			sc.SubjectKeyID = bytes.Clone(sid.content)
		default:
			is, err := sequence(sid, 2)
			if err != nil {
				return nil, fmt.Errorf("smime: capabilities: signer identifier: %w", err)
			}
			if sc.Serial, err = integerOf(is[1]); err != nil {
				return nil, fmt.Errorf("smime: capabilities: signer serial: %w", err)
			}
			sc.Issuer = bytes.Clone(is[0].full)
		}
		if !f[3].is(classContext, 0) {
			continue // no signed attributes
		}
		attrs, err := children(f[3])
		if err != nil {
			return nil, fmt.Errorf("smime: capabilities: signed attributes: %w", err)
		}
		for _, a := range attrs {
			af, err := sequence(a, 2)
			if err != nil {
				return nil, fmt.Errorf("smime: capabilities: attribute: %w", err)
			}
			if id, err := oidOf(af[0]); err != nil || !id.Equal(oidSMIMECapabilities) {
				continue
			}
			if sc.Capabilities, err = capabilitiesOf(af[1]); err != nil {
				return nil, err
			}
			out = append(out, sc)
			break
		}
	}
	return out, nil
}

// ChooseCipher picks the content encryption for one message from the
// smime_cipher setting and what each recipient announced: "aes256-gcm" and
// "aes256-cbc" force the cipher; "auto" (or "") picks AES-256-GCM only when
// every recipient announced it (a client that never did may not read
// AuthEnvelopedData), else AES-256-CBC. recipientCaps holds one list per
// recipient certificate; the sender's own copy need not be counted, since
// mailseal's Decrypt reads both.
func ChooseCipher(setting string, recipientCaps [][]Capability) (Cipher, error) {
	switch setting {
	case "aes256-cbc":
		return AES256CBC, nil
	case "aes256-gcm":
		return AES256GCM, nil
	case "auto", "":
		if len(recipientCaps) == 0 {
			return AES256CBC, nil
		}
		for _, caps := range recipientCaps {
			if !slices.ContainsFunc(caps, func(c Capability) bool { return c.ID.Equal(oidAES256GCM) }) {
				return AES256CBC, nil
			}
		}
		return AES256GCM, nil
	}
	return 0, fmt.Errorf("smime: smime_cipher %q: want auto, aes256-gcm or aes256-cbc", setting)
}
