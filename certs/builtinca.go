package certs

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"
)

// BuiltinCA is the in-process root CA kept in the store. It signs user
// certificates directly (no intermediate) and signs CRLs; revocation state
// lives in the Manager's store, so its Revoke only validates the request.
type BuiltinCA struct {
	cert   *x509.Certificate
	key    crypto.Signer
	crlURL string
	// ocspURL, when not empty, goes into issued certificates' AIA as
	// their OCSP responder (the Manager sets it from Options.OCSPURL).
	ocspURL string
	rand    io.Reader
}

var (
	_ Issuer      = (*BuiltinCA)(nil)
	_ CRLSigner   = (*BuiltinCA)(nil)
	_ CACertifier = (*BuiltinCA)(nil)
	_ OCSPSigner  = (*BuiltinCA)(nil)
)

// NewBuiltinCA wraps a root certificate and its key. crlURL, when not empty,
// is written into issued certificates as CRL distribution point.
func NewBuiltinCA(cert *x509.Certificate, key crypto.Signer, crlURL string, rand io.Reader) (*BuiltinCA, error) {
	if cert == nil || key == nil {
		return nil, errors.New("certs: built-in CA needs a certificate and a key")
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("certs: built-in CA certificate is not a CA")
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, errors.New("certs: built-in CA key does not match its certificate")
	}
	return &BuiltinCA{cert: cert, key: key, crlURL: crlURL, rand: rand}, nil
}

// CACertificate returns the root certificate.
func (c *BuiltinCA) CACertificate() *x509.Certificate { return c.cert }

// Issue signs an S/MIME certificate for req.Email over req.PublicKey.
func (c *BuiltinCA) Issue(_ context.Context, req *IssueRequest) (*IssueResponse, error) {
	if req == nil || req.Email == "" || req.PublicKey == nil {
		return nil, errors.New("certs: built-in CA: incomplete issue request")
	}
	var ku x509.KeyUsage
	switch req.PublicKey.(type) {
	case *rsa.PublicKey:
		ku = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	case *ecdsa.PublicKey:
		ku = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement
	default:
		return nil, fmt.Errorf("certs: built-in CA: unsupported public key %T", req.PublicKey)
	}
	if req.CSR != nil {
		if err := req.CSR.CheckSignature(); err != nil {
			return nil, fmt.Errorf("certs: built-in CA: CSR signature: %w", err)
		}
		if !publicKeysEqual(req.CSR.PublicKey, req.PublicKey) {
			return nil, errors.New("certs: built-in CA: CSR key differs from requested key")
		}
	}
	if !emailPermitted(c.cert, req.Email) {
		return nil, fmt.Errorf("certs: built-in CA: %s is outside the CA's name constraints (%s): partners' clients would reject its certificate "+
			"(the CA was created for other internal_domains: run `mailseal ca recertify`)", req.Email, strings.Join(c.cert.PermittedEmailAddresses, ", "))
	}
	notAfter := req.NotAfter
	if notAfter.After(c.cert.NotAfter) {
		notAfter = c.cert.NotAfter
	}
	if !notAfter.After(req.NotBefore) {
		return nil, errors.New("certs: built-in CA: empty validity (CA certificate expires too soon?)")
	}
	serial, err := randomSerial(c.rand)
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(req.PublicKey)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.Email},
		EmailAddresses:        []string{req.Email},
		NotBefore:             req.NotBefore,
		NotAfter:              notAfter,
		KeyUsage:              ku,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		BasicConstraintsValid: true,
		IsCA:                  false,
		SubjectKeyId:          ski,
		AuthorityKeyId:        c.cert.SubjectKeyId,
	}
	if c.crlURL != "" {
		tmpl.CRLDistributionPoints = []string{c.crlURL}
	}
	if c.ocspURL != "" {
		tmpl.OCSPServer = []string{c.ocspURL}
	}
	der, err := x509.CreateCertificate(c.rand, tmpl, c.cert, req.PublicKey, c.key)
	if err != nil {
		return nil, fmt.Errorf("certs: built-in CA: sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: built-in CA: parse issued certificate: %w", err)
	}
	return &IssueResponse{Certificate: cert, Chain: []*x509.Certificate{c.cert}}, nil
}

// Revoke checks that the certificate was issued by this CA. The revocation
// itself is recorded by the Manager and published through CreateCRL.
func (c *BuiltinCA) Revoke(_ context.Context, req *RevokeRequest) error {
	if req == nil || req.Certificate == nil {
		return errors.New("certs: built-in CA: incomplete revoke request")
	}
	if err := req.Certificate.CheckSignatureFrom(c.cert); err != nil {
		return fmt.Errorf("certs: built-in CA: certificate %x was not issued by this CA: %w", req.Serial, err)
	}
	return nil
}

// CreateCRL signs a DER CRL listing req.Entries.
func (c *BuiltinCA) CreateCRL(_ context.Context, req *CRLRequest) ([]byte, error) {
	if req == nil || req.Number == nil {
		return nil, errors.New("certs: built-in CA: incomplete CRL request")
	}
	tmpl := &x509.RevocationList{
		Number:                    req.Number,
		ThisUpdate:                req.ThisUpdate,
		NextUpdate:                req.NextUpdate,
		RevokedCertificateEntries: req.Entries,
	}
	der, err := x509.CreateRevocationList(c.rand, tmpl, c.cert, c.key)
	if err != nil {
		return nil, fmt.Errorf("certs: built-in CA: sign CRL: %w", err)
	}
	return der, nil
}

// createRoot makes a self-signed ECDSA P-384 root valid for
// DefaultCAValidity, limited to the permitted rfc822Name subtrees (none: no
// name constraints; see constraints.go).
func createRoot(subject pkix.Name, permittedEmail []string, now time.Time, rand io.Reader) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: generate CA key: %w", err)
	}
	cert, err := createRootWithKey(key, subject, permittedEmail, now, rand)
	return cert, key, err
}

// createRootWithKey self-signs a root certificate over key, which may live
// outside the process (a PKCS#11 token).
func createRootWithKey(key crypto.Signer, subject pkix.Name, permittedEmail []string, now time.Time, rand io.Reader) (*x509.Certificate, error) {
	serial, err := randomSerial(rand)
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(DefaultCAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski,
		// Not critical: see constraints.go (gpgsm).
		PermittedEmailAddresses: permittedEmail,
	}
	der, err := x509.CreateCertificate(rand, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("certs: sign CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: parse CA certificate: %w", err)
	}
	return cert, nil
}

// randomSerial returns a positive random 128-bit serial number.
func randomSerial(rand io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	for range 8 {
		if _, err := io.ReadFull(rand, b); err != nil {
			return nil, fmt.Errorf("certs: random serial: %w", err)
		}
		b[0] &= 0x7f // positive and at most 16 octets when DER-encoded
		if n := new(big.Int).SetBytes(b); n.Sign() > 0 {
			return n, nil
		}
	}
	return nil, errors.New("certs: random serial: randomness source returns only zeros")
}

// subjectKeyID is the SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2 method 1).
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("certs: marshal public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("certs: parse public key: %w", err)
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:], nil
}

// publicKeysEqual compares two public keys of the kinds Go's crypto offers.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}
