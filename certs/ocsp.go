package certs

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/ocsp"
)

// OCSPSigner is an optional Issuer power: signing OCSP responses about the
// certificates it issued, with the CA key itself (RFC 6960 4.2.2.2: the CA
// that issued the certificate is always an authorised responder).
type OCSPSigner interface {
	CreateOCSPResponse(ctx context.Context, tmpl ocsp.Response) ([]byte, error)
}

// CreateOCSPResponse signs tmpl with the CA key. The response names the CA
// as responder and carries no certificates: the client has the CA already.
func (c *BuiltinCA) CreateOCSPResponse(_ context.Context, tmpl ocsp.Response) ([]byte, error) {
	tmpl.Certificate = nil
	der, err := ocsp.CreateResponse(c.cert, c.cert, tmpl, c.key)
	if err != nil {
		return nil, fmt.Errorf("certs: built-in CA: sign OCSP response: %w", err)
	}
	return der, nil
}

// ErrNoOCSP: the issuer cannot sign OCSP responses (an external CA runs
// its own responder).
var ErrNoOCSP = errors.New("certs: the issuer does not answer OCSP requests")

// OCSPResponse answers a DER OCSP request (RFC 6960) about a certificate
// of the built-in CA: good, revoked (with time and reason) or unknown (a
// serial this CA never issued), signed by the CA key and valid for
// Options.OCSPValidity. It reads the store on every call, so a revocation
// by any process sharing the store is answered at once. A request about
// another CA's certificates gets "unauthorized", a malformed one
// "malformedRequest" (RFC 6960 2.3). Only the first certificate of a
// request is answered and a nonce is not echoed (RFC 5019 profile).
//
// The returned bytes are always a DER OCSP response to send; err (for
// logging) is set when it is an error response because of a fault on our
// side.
func (m *Manager) OCSPResponse(ctx context.Context, reqDER []byte) ([]byte, error) {
	signer, ok := m.issuer.(OCSPSigner)
	ca := m.CACertificate()
	if !ok || ca == nil {
		return ocsp.UnauthorizedErrorResponse, ErrNoOCSP
	}
	req, err := parseOCSPRequest(reqDER)
	if err != nil {
		return ocsp.MalformedRequestErrorResponse, nil
	}
	nameHash, keyHash, err := ocspIssuerHashes(ca, req.HashAlgorithm)
	if err != nil {
		return ocsp.MalformedRequestErrorResponse, nil
	}
	if !bytes.Equal(req.IssuerNameHash, nameHash) || !bytes.Equal(req.IssuerKeyHash, keyHash) {
		return ocsp.UnauthorizedErrorResponse, nil
	}
	now := m.now().UTC().Truncate(time.Second)
	tmpl := ocsp.Response{
		Status:       ocsp.Unknown,
		SerialNumber: req.SerialNumber,
		ThisUpdate:   now,
		NextUpdate:   now.Add(m.opts.OCSPValidity),
		IssuerHash:   req.HashAlgorithm,
	}
	if req.SerialNumber.Sign() > 0 {
		rec, err := m.store.CertBySerial(ctx, req.SerialNumber.Text(16))
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return ocsp.TryLaterErrorResponse, err
		case rec.Revoked():
			tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, rec.RevokedAt.UTC(), rec.RevocationReason
		default:
			tmpl.Status = ocsp.Good
		}
	}
	der, err := signer.CreateOCSPResponse(ctx, tmpl)
	if err != nil {
		return ocsp.InternalErrorErrorResponse, err
	}
	return der, nil
}

// parseOCSPRequest parses outside bytes without ever panicking.
func parseOCSPRequest(der []byte) (req *ocsp.Request, err error) {
	defer func() {
		if r := recover(); r != nil {
			req, err = nil, fmt.Errorf("malformed OCSP request (%v)", r)
		}
	}()
	req, err = ocsp.ParseRequest(der)
	if err == nil && req.SerialNumber == nil {
		err = errors.New("OCSP request without serial number")
	}
	return req, err
}

// ocspIssuerHashes are a CertID's hashes of the CA's name and public key.
func ocspIssuerHashes(ca *x509.Certificate, h crypto.Hash) (nameHash, keyHash []byte, err error) {
	if h == 0 || !h.Available() {
		return nil, nil, errors.New("unsupported CertID hash")
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(ca.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, nil, err
	}
	hh := h.New()
	hh.Write(ca.RawSubject)
	nameHash = hh.Sum(nil)
	hh.Reset()
	hh.Write(spki.PublicKey.RightAlign())
	return nameHash, hh.Sum(nil), nil
}
