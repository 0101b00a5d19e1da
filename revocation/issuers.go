package revocation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/smallstep/pkcs7"
)

// ErrNoIssuerURL: the certificate names no caIssuers URL (AIA) to fetch
// its issuer from.
var ErrNoIssuerURL = errors.New("revocation: the certificate names no issuer URL (AIA caIssuers)")

type issuerAnswer struct {
	certs []*x509.Certificate
	err   error
}

// FetchIssuers downloads the certificates named by cert's AIA caIssuers
// URLs (http and https only; a DER certificate, PEM, or a PKCS#7
// certs-only bundle), cached for Options.IssuerTTL. It returns every
// certificate found, unverified: chain building decides what to trust.
// The error says why nothing was found. It never panics.
func (c *Checker) FetchIssuers(ctx context.Context, cert *x509.Certificate) (out []*x509.Certificate, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("revocation: internal error fetching issuers: %v", r)
		}
	}()
	if cert == nil || len(cert.IssuingCertificateURL) == 0 {
		return nil, ErrNoIssuerURL
	}
	var problems []string
	seen := map[string]bool{}
	for i, u := range cert.IssuingCertificateURL {
		if i == maxURLs {
			break
		}
		key := "aia\x00" + u
		a, ok := c.aiaCache.get(key, c.o.Now())
		if !ok {
			a, err = shared(ctx, &c.flights, key, func(ctx context.Context) (issuerAnswer, error) {
				a := c.downloadIssuers(ctx, u)
				ttl := c.o.IssuerTTL
				if a.err != nil {
					ttl = c.o.FailureTTL
				}
				c.aiaCache.put(key, a, c.o.Now(), c.o.Now().Add(ttl))
				return a, nil
			})
			if err != nil {
				a.err = err
			}
		}
		if a.err != nil {
			problems = append(problems, u+": "+a.err.Error())
			continue
		}
		for _, ic := range a.certs {
			if !seen[string(ic.Raw)] {
				seen[string(ic.Raw)] = true
				out = append(out, ic)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("revocation: no issuer certificate fetched: %s", strings.Join(problems, "; "))
	}
	return out, nil
}

func (c *Checker) downloadIssuers(ctx context.Context, url string) issuerAnswer {
	b, err := c.fetch(ctx, url, "", nil, c.o.MaxIssuerSize)
	if err != nil {
		return issuerAnswer{err: err}
	}
	certs, err := parseIssuers(b)
	c.o.Logger.Debug("revocation: fetched issuers", "url", url, "certificates", len(certs), "err", err)
	return issuerAnswer{certs: certs, err: err}
}

// parseIssuers reads what a caIssuers URL serves: one DER certificate
// (RFC 5280 4.2.2.1), a PKCS#7 certs-only bundle, or PEM certificates. It
// never panics.
func parseIssuers(b []byte) (certs []*x509.Certificate, err error) {
	defer func() {
		if r := recover(); r != nil {
			certs, err = nil, fmt.Errorf("malformed issuer certificate data (%v)", r)
		}
	}()
	if c, err := x509.ParseCertificate(b); err == nil {
		return []*x509.Certificate{c}, nil
	}
	if bytes.Contains(b, []byte("-----BEGIN")) {
		rest := b
		for len(certs) < maxIssuerCerts {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			switch blk.Type {
			case "CERTIFICATE":
				if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
					certs = append(certs, c)
				}
			case "PKCS7":
				if more, err := parsePKCS7Certs(blk.Bytes); err == nil {
					certs = append(certs, more...)
				}
			}
		}
		if len(certs) > 0 {
			return certs[:min(len(certs), maxIssuerCerts)], nil
		}
		return nil, errors.New("no certificate in the PEM data")
	}
	certs, err = parsePKCS7Certs(b)
	if err != nil {
		return nil, errors.New("neither a DER certificate nor a PKCS#7 bundle")
	}
	return certs, nil
}

func parsePKCS7Certs(der []byte) ([]*x509.Certificate, error) {
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, err
	}
	if len(p7.Certificates) == 0 {
		return nil, errors.New("PKCS#7 bundle without certificates")
	}
	return p7.Certificates[:min(len(p7.Certificates), maxIssuerCerts)], nil
}
