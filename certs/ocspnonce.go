package certs

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"time"
)

// idPKIXOCSPNonce is the OCSP nonce extension (RFC 6960 4.4.1).
var idPKIXOCSPNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}

// maxNonce bounds an echoed nonce (RFC 8954 allows 1 to 32 octets; some
// clients send a little more with the OCTET STRING wrapping).
const maxNonce = 64

type nonceRequest struct {
	TBSRequest nonceTBSRequest
}

type nonceTBSRequest struct {
	Version       int              `asn1:"explicit,tag:0,default:0,optional"`
	RequestorName pkix.RDNSequence `asn1:"explicit,tag:1,optional"`
	RequestList   []asn1.RawValue
	Extensions    []pkix.Extension `asn1:"explicit,tag:2,optional"`
}

// requestNonce returns the nonce extension of a DER OCSP request, nil when
// it has none (or a malformed or oversized one: then no nonce is echoed).
func requestNonce(der []byte) (ext *pkix.Extension) {
	defer func() {
		if recover() != nil {
			ext = nil
		}
	}()
	var req nonceRequest
	if _, err := asn1.Unmarshal(der, &req); err != nil {
		return nil
	}
	for _, e := range req.TBSRequest.Extensions {
		if e.Id.Equal(idPKIXOCSPNonce) && len(e.Value) > 0 && len(e.Value) <= maxNonce {
			return &pkix.Extension{Id: e.Id, Value: e.Value}
		}
	}
	return nil
}

// The response structures (RFC 6960 4.2.1), the SingleResponses kept as
// they were encoded.
type nonceResponse struct {
	Status   asn1.Enumerated
	Response nonceResponseBytes `asn1:"explicit,tag:0,optional"`
}

type nonceResponseBytes struct {
	ResponseType asn1.ObjectIdentifier
	Response     []byte
}

type nonceBasicResponse struct {
	TBSResponseData    asn1.RawValue
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          asn1.BitString
	Certificates       []asn1.RawValue `asn1:"explicit,tag:0,optional"`
}

type nonceResponseData struct {
	Version            int `asn1:"optional,default:0,explicit,tag:0"`
	RawResponderID     asn1.RawValue
	ProducedAt         time.Time `asn1:"generalized"`
	Responses          []asn1.RawValue
	ResponseExtensions []pkix.Extension `asn1:"explicit,tag:1,optional"`
}

var nonceSigHashes = map[string]crypto.Hash{
	"1.2.840.10045.4.3.2":   crypto.SHA256, // ecdsa-with-SHA256
	"1.2.840.10045.4.3.3":   crypto.SHA384, // ecdsa-with-SHA384
	"1.2.840.10045.4.3.4":   crypto.SHA512, // ecdsa-with-SHA512
	"1.2.840.113549.1.1.11": crypto.SHA256, // sha256WithRSAEncryption
	"1.2.840.113549.1.1.12": crypto.SHA384,
	"1.2.840.113549.1.1.13": crypto.SHA512,
}

// addNonce re-signs a basic OCSP response made by x/crypto/ocsp (which
// cannot write responseExtensions) with the request's nonce among its
// responseExtensions, so that clients that sent a nonce find it echoed.
func addNonce(der []byte, nonce pkix.Extension, key crypto.Signer) ([]byte, error) {
	var outer nonceResponse
	if rest, err := asn1.Unmarshal(der, &outer); err != nil || len(rest) > 0 {
		return nil, errors.New("certs: OCSP nonce: cannot read the response")
	}
	var basic nonceBasicResponse
	if rest, err := asn1.Unmarshal(outer.Response.Response, &basic); err != nil || len(rest) > 0 {
		return nil, errors.New("certs: OCSP nonce: cannot read the basic response")
	}
	var tbs nonceResponseData
	if rest, err := asn1.Unmarshal(basic.TBSResponseData.FullBytes, &tbs); err != nil || len(rest) > 0 {
		return nil, errors.New("certs: OCSP nonce: cannot read the response data")
	}
	h, ok := nonceSigHashes[basic.SignatureAlgorithm.Algorithm.String()]
	if !ok {
		return nil, errors.New("certs: OCSP nonce: unexpected signature algorithm")
	}
	tbs.ResponseExtensions = append(tbs.ResponseExtensions, nonce)
	tbsDER, err := asn1.Marshal(tbs)
	if err != nil {
		return nil, err
	}
	d := h.New()
	d.Write(tbsDER)
	sig, err := key.Sign(rand.Reader, d.Sum(nil), h)
	if err != nil {
		return nil, err
	}
	basic.TBSResponseData = asn1.RawValue{FullBytes: tbsDER}
	basic.Signature = asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}
	basicDER, err := asn1.Marshal(basic)
	if err != nil {
		return nil, err
	}
	outer.Response.Response = basicDER
	out, err := asn1.Marshal(outer)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(out, der) {
		return nil, errors.New("certs: OCSP nonce: response unchanged")
	}
	return out, nil
}
