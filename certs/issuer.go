package certs

import (
	"context"
	"crypto"
	"crypto/x509"
	"math/big"
	"time"
)

// Issuer is a certificate authority backend: the built-in CA, step-ca, ...
// The Manager generates key pairs itself and sends only the public key (and a
// CSR signed with the new key, for backends that want proof of possession).
// Errors returned by an Issuer are treated as temporary by the Manager.
type Issuer interface {
	Issue(ctx context.Context, req *IssueRequest) (*IssueResponse, error)
	Revoke(ctx context.Context, req *RevokeRequest) error
}

// IssueRequest asks for an S/MIME certificate for one address.
type IssueRequest struct {
	Email     string                   // lower-case address: subject CN and rfc822Name SAN
	PublicKey crypto.PublicKey         // the key to certify
	CSR       *x509.CertificateRequest // signed by the matching private key
	NotBefore time.Time                // wanted validity; an issuer may shorten it
	NotAfter  time.Time
}

// IssueResponse carries the issued certificate.
type IssueResponse struct {
	Certificate *x509.Certificate
	// Chain is the issuing CA chain up to and including the root, leaf excluded.
	Chain []*x509.Certificate
}

// RevokeRequest asks the issuer to revoke a certificate it issued.
type RevokeRequest struct {
	Certificate *x509.Certificate
	Serial      *big.Int
	Reason      int // RFC 5280 CRLReason
	RevokedAt   time.Time
}

// CRLSigner is an optional Issuer power: signing a CRL from the revoked
// entries the Manager keeps in its store.
type CRLSigner interface {
	CreateCRL(ctx context.Context, req *CRLRequest) ([]byte, error)
}

// CRLRequest lists what a CRL must contain.
type CRLRequest struct {
	Number     *big.Int
	ThisUpdate time.Time
	NextUpdate time.Time
	Entries    []x509.RevocationListEntry
}

// CACertifier is an optional Issuer power: telling its root certificate.
type CACertifier interface {
	CACertificate() *x509.Certificate
}
