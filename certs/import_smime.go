package certs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/smallstep/pkcs7"
)

// ParseCertificateFile reads the certificates in a file: PEM (any number of
// CERTIFICATE or PKCS7 blocks), one DER certificate, or a DER PKCS#7
// certs-only bundle (.p7c, .p7b). It never panics on crafted input.
func ParseCertificateFile(data []byte) (certs []*x509.Certificate, err error) {
	defer func() {
		if r := recover(); r != nil {
			certs, err = nil, fmt.Errorf("certs: malformed certificate data (%v)", r)
		}
	}()
	if len(data) > MaxKeyFileSize {
		return nil, fmt.Errorf("certs: file larger than %d bytes", MaxKeyFileSize)
	}
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		return parsePEMCertificates(data)
	}
	c, certErr := x509.ParseCertificate(data)
	if certErr == nil {
		return []*x509.Certificate{c}, nil
	}
	list, p7Err := parsePKCS7Certificates(data)
	if p7Err == nil {
		return list, nil
	}
	return nil, fmt.Errorf("certs: neither PEM nor a DER certificate (%v) nor a PKCS#7 bundle (%v)", certErr, p7Err)
}

func parsePEMCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE", "X509 CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certs: PEM block %d: %w", n, err)
			}
			out = append(out, c)
		case "PKCS7", "CMS":
			list, err := parsePKCS7Certificates(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certs: PEM block %d: %w", n, err)
			}
			out = append(out, list...)
		}
		// Other blocks (a private key next to the certificate) are ignored:
		// the directory keeps public material only.
	}
	if len(out) == 0 {
		return nil, errors.New("certs: no CERTIFICATE or PKCS7 block in the PEM data")
	}
	return out, nil
}

func parsePKCS7Certificates(der []byte) ([]*x509.Certificate, error) {
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, fmt.Errorf("certs: PKCS#7: %w", err)
	}
	if len(p7.Certificates) == 0 {
		return nil, errors.New("certs: PKCS#7 bundle holds no certificate")
	}
	return p7.Certificates, nil
}

// isCACert reports whether c is a CA certificate, which is never a recipient.
func isCACert(c *x509.Certificate) bool {
	return c.BasicConstraintsValid && c.IsCA
}

// checkRecipientCert says why c cannot be encrypted to at now, or nil.
func checkRecipientCert(c *x509.Certificate, now time.Time) error {
	if isCACert(c) {
		return errors.New("a CA certificate, not a recipient certificate")
	}
	if now.After(c.NotAfter) {
		return fmt.Errorf("expired on %s", c.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(c.NotBefore) {
		return fmt.Errorf("not valid before %s", c.NotBefore.UTC().Format(time.RFC3339))
	}
	if len(certAddresses(c)) == 0 {
		return errors.New("no email address in the certificate (subjectAltName rfc822Name or subject emailAddress)")
	}
	var needUsage x509.KeyUsage
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < 2048 {
			return fmt.Errorf("RSA key of %d bits: at least 2048 are required", bits)
		}
		needUsage = x509.KeyUsageKeyEncipherment
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return fmt.Errorf("EC key on %s: P-256 or P-384 is required", k.Curve.Params().Name)
		}
		needUsage = x509.KeyUsageKeyAgreement
	default:
		return fmt.Errorf("%s key: RSA or EC (P-256, P-384) is required", keyTypeName(c.PublicKey))
	}
	// Go sets KeyUsage only from the extension: zero means absent, and an
	// absent extension restricts nothing (RFC 5280 4.2.1.3).
	if c.KeyUsage != 0 && c.KeyUsage&needUsage == 0 {
		if needUsage == x509.KeyUsageKeyEncipherment {
			return errors.New("key usage does not allow keyEncipherment")
		}
		return errors.New("key usage does not allow keyAgreement")
	}
	if len(c.ExtKeyUsage) > 0 || len(c.UnknownExtKeyUsage) > 0 {
		if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageEmailProtection) && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
			return errors.New("extended key usage does not allow emailProtection")
		}
	}
	return nil
}

var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

// certAddresses returns the normalised addresses a certificate names, from
// subjectAltName rfc822Name and the legacy subject emailAddress, sorted.
func certAddresses(c *x509.Certificate) []string {
	raw := slices.Clone(c.EmailAddresses)
	for _, n := range c.Subject.Names {
		if s, ok := n.Value.(string); ok && n.Type.Equal(oidEmailAddress) {
			raw = append(raw, s)
		}
	}
	var out []string
	for _, a := range raw {
		if norm, err := NormalizeAddress(a); err == nil && !slices.Contains(out, norm) {
			out = append(out, norm)
		}
	}
	slices.Sort(out)
	return out
}

// certFingerprint is the SHA-256 of the DER, lower-case hex.
func certFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// ImportCertificates stores the recipient certificates in one file (see
// ParseCertificateFile). Each certificate is checked on its own: a CA
// certificate is skipped (noted in Skipped), one that cannot be encrypted to
// now is rejected, the others are stored. name is the file name for
// messages. The error is for store failures only.
func (d *Directory) ImportCertificates(ctx context.Context, name string, data []byte, opts ImportOptions) (*ImportResult, error) {
	opts = opts.withDefaults()
	res := &ImportResult{}
	list, err := ParseCertificateFile(data)
	if err != nil {
		res.reject(name, "", "%s", trimPkg(err))
		return res, nil
	}
	now := d.now()
	recipients := 0
	seen := map[string]bool{}
	for _, c := range list {
		fp := certFingerprint(c)
		if seen[fp] {
			continue // the same certificate twice in one file
		}
		seen[fp] = true
		subject := c.Subject.String()
		if isCACert(c) {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: skipped CA certificate %q (not a recipient certificate)", name, subject))
			continue
		}
		recipients++
		if err := checkRecipientCert(c, now); err != nil {
			res.reject(name, fmt.Sprintf("certificate %q", subject), "%v", err)
			continue
		}
		rec := &PartnerCert{
			Fingerprint: fp,
			CertDER:     c.Raw,
			Emails:      certAddresses(c),
			Subject:     subject,
			NotBefore:   c.NotBefore,
			NotAfter:    c.NotAfter,
			Provenance:  opts.Provenance,
			Trust:       opts.Trust,
			AddedAt:     now,
		}
		if err := d.store.PutPartnerCert(ctx, rec); err != nil {
			return res, err
		}
		res.Stored = append(res.Stored, ImportedKey{Fingerprint: rec.Fingerprint, Emails: rec.Emails, NotAfter: rec.NotAfter})
	}
	if recipients == 0 {
		res.reject(name, "", "no recipient certificate (only CA certificates)")
	}
	return res, nil
}

// trimPkg drops the "certs: " prefix for messages that name the file first.
func trimPkg(err error) string {
	s := err.Error()
	if len(s) > 7 && s[:7] == "certs: " {
		return s[7:]
	}
	return s
}
