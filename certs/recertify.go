package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
)

// RecertifyCA re-issues the built-in CA certificate with the same key,
// subject and validity, but with name constraints for Options.InternalDomains
// (and a new serial). It is the way to add a domain to an existing CA:
// certificates issued before stay valid under the new CA certificate (same
// key and key identifier), and new ones may name the new domains. Partners
// must import the new CA certificate; the old one keeps the old limits.
// A running daemon takes the new certificate over at its next start. Meant
// for the CLI: it must not run concurrently with issuance in this Manager.
func (m *Manager) RecertifyCA(ctx context.Context) (*x509.Certificate, error) {
	ca, ok := m.issuer.(*BuiltinCA)
	if !ok || m.opts.Issuer != nil {
		return nil, errors.New("certs: only the built-in CA can be re-certified")
	}
	permitted := emailConstraints(m.opts.InternalDomains)
	if len(permitted) == 0 {
		return nil, errors.New("certs: internal_domains is empty: a CA for no domain would be trusted for every address")
	}
	old := ca.cert
	serial, err := randomSerial(m.opts.Rand)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:            serial,
		Subject:                 old.Subject,
		NotBefore:               old.NotBefore,
		NotAfter:                old.NotAfter,
		KeyUsage:                old.KeyUsage,
		BasicConstraintsValid:   true,
		IsCA:                    true,
		MaxPathLenZero:          true,
		SubjectKeyId:            old.SubjectKeyId,
		PermittedEmailAddresses: permitted, // not critical: see constraints.go
	}
	der, err := x509.CreateCertificate(m.opts.Rand, tmpl, tmpl, ca.key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("certs: re-certify CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: parse re-certified CA: %w", err)
	}
	sealed, err := m.sealCAKey(ca.key, m.caKeyRef, caAAD(builtinCAName, serialHex(cert)))
	if err != nil {
		return nil, err
	}
	if err := m.store.ReplaceCA(ctx, old.Raw, &CARecord{Name: builtinCAName, CertDER: cert.Raw, KeySealed: sealed}); err != nil {
		return nil, err
	}
	nca, err := NewBuiltinCA(cert, ca.key, m.opts.CRLURL, m.opts.Rand)
	if err != nil {
		return nil, err
	}
	nca.ocspURL = m.opts.OCSPURL
	m.issuer, m.caCert = nca, cert
	m.log.Info("certs: re-certified built-in CA", "subject", cert.Subject.String(), "permitted_email", strings.Join(permitted, " "),
		"sha256", FingerprintSHA256(cert), "previous_sha256", FingerprintSHA256(old))
	return cert, nil
}

// currentChain replaces a stored chain that is an earlier certificate of
// the current built-in CA (same subject and key, before RecertifyCA) by the
// current one, so that signed mail carries the CA certificate partners
// were given last.
func (m *Manager) currentChain(chain []*x509.Certificate) []*x509.Certificate {
	ca := m.caCert
	if ca == nil || m.opts.Issuer != nil || len(chain) != 1 {
		return chain
	}
	c := chain[0]
	if bytes.Equal(c.Raw, ca.Raw) || !bytes.Equal(c.RawSubject, ca.RawSubject) || !bytes.Equal(c.RawSubjectPublicKeyInfo, ca.RawSubjectPublicKeyInfo) {
		return chain
	}
	return []*x509.Certificate{ca}
}
