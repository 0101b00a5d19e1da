package certs

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"slices"
	"time"
)

// issue generates a key pair, has the issuer certify it, seals the key and
// stores the result. Callers hold the issuance lease for email.
func (m *Manager) issue(ctx context.Context, email string) (*Identity, error) {
	now := m.now()
	key, err := m.opts.KeyType.generate(m.opts.Rand)
	if err != nil {
		return nil, err
	}
	csrDER, err := x509.CreateCertificateRequest(m.opts.Rand, &x509.CertificateRequest{
		Subject:        pkix.Name{CommonName: email},
		EmailAddresses: []string{email},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("certs: create CSR for %s: %w", email, err)
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("certs: parse CSR for %s: %w", email, err)
	}
	resp, err := m.issuer.Issue(ctx, &IssueRequest{
		Email:     email,
		PublicKey: key.Public(),
		CSR:       csr,
		NotBefore: now.Add(-backdate),
		NotAfter:  now.Add(m.opts.Validity),
	})
	if err != nil {
		return nil, temporaryf("certs: issue certificate for %s: %w", email, err)
	}
	if err := checkIssued(resp, email, key.Public(), now); err != nil {
		return nil, temporary(err)
	}
	cert := resp.Certificate
	serial := serialHex(cert)
	sealed, err := m.sealer.sealKey(key, certAAD(email, serial))
	if err != nil {
		return nil, err
	}
	var chain bytes.Buffer
	for _, c := range resp.Chain {
		chain.Write(c.Raw)
	}
	rec := &CertRecord{
		Email:     email,
		Serial:    serial,
		CertDER:   cert.Raw,
		ChainDER:  chain.Bytes(),
		KeySealed: sealed,
		KeyType:   keyTypeName(cert.PublicKey),
		NotBefore: cert.NotBefore,
		NotAfter:  cert.NotAfter,
		CreatedAt: now,
	}
	if err := m.store.InsertCert(ctx, rec); err != nil {
		return nil, temporary(err)
	}
	m.issuances.Add(1)
	m.log.Info("certs: issued certificate", "email", email, "serial", serial, "key_type", rec.KeyType, "not_after", cert.NotAfter)
	if m.opts.OnIssue != nil {
		m.opts.OnIssue(email, cert)
	}
	id := &Identity{Email: email, Cert: cert, Key: key, Chain: slices.Clone(resp.Chain)}
	m.idMu.Lock()
	m.cache[email] = id
	delete(m.current, email)
	m.idMu.Unlock()
	return id, nil
}

// checkIssued makes sure the issuer certified our key for our address.
func checkIssued(resp *IssueResponse, email string, pub crypto.PublicKey, now time.Time) error {
	if resp == nil || resp.Certificate == nil {
		return errors.New("certs: issuer returned no certificate")
	}
	c := resp.Certificate
	if !publicKeysEqual(c.PublicKey, pub) {
		return fmt.Errorf("certs: issuer certified a different key for %s", email)
	}
	if !slices.ContainsFunc(c.EmailAddresses, func(a string) bool { return lowerASCII(a) == email }) {
		return fmt.Errorf("certs: issued certificate lacks %s in subjectAltName", email)
	}
	if !c.NotAfter.After(now) {
		return fmt.Errorf("certs: issued certificate for %s is already expired", email)
	}
	if len(resp.Chain) == 0 {
		return fmt.Errorf("certs: issuer returned no chain for %s", email)
	}
	return nil
}
