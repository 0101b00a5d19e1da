package revocation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sync/singleflight"
)

// maxURLs bounds how many OCSP responders, CRL distribution points and
// issuer URLs of one certificate are tried: a certificate listing dozens of
// dead URLs must not hold a message for dozens of timeouts.
const maxURLs = 3

// Checker checks revocation of outside certificates. It is safe for
// concurrent use; concurrent checks that need the same URL share one fetch.
type Checker struct {
	o         Options
	flights   singleflight.Group
	ocspCache *cache[ocspAnswer]
	crlCache  *cache[crlAnswer]
	aiaCache  *cache[issuerAnswer]
}

// NewChecker returns a Checker; zero Options fields take the defaults.
func NewChecker(o Options) *Checker {
	o = o.withDefaults()
	return &Checker{
		o:         o,
		ocspCache: newCache[ocspAnswer](o.CacheMax),
		crlCache:  newCache[crlAnswer](o.CacheMax),
		aiaCache:  newCache[issuerAnswer](o.CacheMax),
	}
}

// Check says whether cert, issued by issuer, is revoked: it asks the OCSP
// responders the certificate names (AIA) first, then its CRL distribution
// points over HTTP, and returns the first definite answer. When none
// answers, the State is Unknown and Problem lists every source tried and
// what went wrong. It never panics.
func (c *Checker) Check(ctx context.Context, cert, issuer *x509.Certificate) (st Status) {
	defer func() {
		if r := recover(); r != nil {
			st = Status{State: Unknown, Problem: fmt.Sprintf("internal error in the revocation check: %v", r)}
		}
	}()
	if cert == nil || issuer == nil {
		return Status{State: Unknown, Problem: "no certificate or no issuer to check"}
	}
	if !bytes.Equal(cert.RawIssuer, issuer.RawSubject) {
		return Status{State: Unknown, Problem: "the issuer given is not the certificate's issuer"}
	}
	if err := cert.CheckSignatureFrom(issuer); err != nil {
		return Status{State: Unknown, Problem: "the certificate's signature does not verify with the issuer given: " + err.Error()}
	}
	var problems []string
	for i, u := range cert.OCSPServer {
		if i == maxURLs {
			problems = append(problems, fmt.Sprintf("%d more OCSP URLs not tried", len(cert.OCSPServer)-i))
			break
		}
		s, err := c.checkOCSP(ctx, u, cert, issuer)
		if err == nil {
			return s
		}
		problems = append(problems, "OCSP "+u+": "+err.Error())
	}
	for i, u := range cert.CRLDistributionPoints {
		if i == maxURLs {
			problems = append(problems, fmt.Sprintf("%d more CRL URLs not tried", len(cert.CRLDistributionPoints)-i))
			break
		}
		s, err := c.checkCRL(ctx, u, cert, issuer)
		if err == nil {
			return s
		}
		problems = append(problems, "CRL "+u+": "+err.Error())
	}
	if len(problems) == 0 {
		return Status{State: Unknown, Problem: "the certificate names no OCSP responder and no CRL distribution point"}
	}
	return Status{State: Unknown, Problem: strings.Join(problems, "; ")}
}

// shared runs fetch once for concurrent callers with the same key. The
// fetch runs detached from any one caller's cancellation (it is bounded by
// Options.Timeout per request); a caller whose ctx ends stops waiting.
func shared[T any](ctx context.Context, g *singleflight.Group, key string, fetch func(context.Context) (T, error)) (T, error) {
	ch := g.DoChan(key, func() (v any, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("internal error: %v", r)
			}
		}()
		return fetch(context.WithoutCancel(ctx))
	})
	var zero T
	select {
	case r := <-ch:
		if r.Err != nil {
			return zero, r.Err
		}
		return r.Val.(T), nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return zero, errors.New("timeout")
		}
		return zero, errors.New("cancelled")
	}
}

// pemBlock returns the bytes of the first PEM block of type typ, or nil.
func pemBlock(data []byte, typ string) []byte {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil
		}
		if b.Type == typ {
			return b.Bytes
		}
	}
}
