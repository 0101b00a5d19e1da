package revocation

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"golang.org/x/crypto/ocsp"
)

// ocspAnswer is what one responder said about one certificate, cached.
type ocspAnswer struct {
	st  Status
	err error
}

// checkOCSP asks the responder at url about cert (cached, one fetch per
// URL and certificate at a time).
func (c *Checker) checkOCSP(ctx context.Context, url string, cert, issuer *x509.Certificate) (Status, error) {
	key := "ocsp\x00" + url + "\x00" + string(issuer.RawSubjectPublicKeyInfo) + "\x00" + cert.SerialNumber.String()
	if a, ok := c.ocspCache.get(key, c.o.Now()); ok {
		a.st.Cached = true
		return a.st, a.err
	}
	a, err := shared(ctx, &c.flights, key, func(ctx context.Context) (ocspAnswer, error) {
		a, expires := c.queryOCSP(ctx, url, cert, issuer)
		c.ocspCache.put(key, a, c.o.Now(), expires)
		return a, nil
	})
	if err != nil {
		return Status{}, err
	}
	return a.st, a.err
}

// queryOCSP does the exchange and says until when its outcome may be reused.
func (c *Checker) queryOCSP(ctx context.Context, url string, cert, issuer *x509.Certificate) (ocspAnswer, time.Time) {
	now := c.o.Now()
	fail := func(err error) (ocspAnswer, time.Time) {
		c.o.Logger.Debug("revocation: OCSP failed", "url", url, "serial", cert.SerialNumber.Text(16), "err", err)
		return ocspAnswer{err: err}, now.Add(c.o.FailureTTL)
	}
	req, err := ocsp.CreateRequest(cert, issuer, &ocsp.RequestOptions{Hash: crypto.SHA1})
	if err != nil {
		return fail(fmt.Errorf("cannot build request: %v", err))
	}
	der, err := c.fetch(ctx, url, "application/ocsp-request", req, c.o.MaxOCSPSize)
	if err != nil {
		return fail(err)
	}
	resp, err := verifyOCSP(der, cert, issuer, c.o.Now(), c.o.Skew, c.o.MaxAge)
	if err != nil {
		return fail(err)
	}
	now = c.o.Now()
	st := Status{Source: "ocsp", URL: url, CheckedAt: resp.ThisUpdate}
	switch resp.Status {
	case ocsp.Good:
		st.State = Good
	case ocsp.Revoked:
		st.State, st.RevokedAt, st.Reason = Revoked, resp.RevokedAt, resp.RevocationReason
	default:
		// Not worth the full TTL: the responder may learn of it soon, and
		// the CRL is asked next anyway.
		return fail(errors.New("the responder does not know the certificate"))
	}
	c.o.Logger.Debug("revocation: OCSP", "url", url, "serial", cert.SerialNumber.Text(16), "state", st.State)
	return ocspAnswer{st: st}, expiry(now, resp.ThisUpdate, resp.NextUpdate, c.o.MaxTTL, c.o.MaxAge)
}

// expiry is until when an answer produced at thisUpdate (valid until
// nextUpdate, zero when open) may be reused: never past nextUpdate, never
// longer than maxTTL from now, never past thisUpdate+maxAge.
func expiry(now, thisUpdate, nextUpdate time.Time, maxTTL, maxAge time.Duration) time.Time {
	until := now.Add(maxTTL)
	if !nextUpdate.IsZero() {
		if nextUpdate.Before(until) {
			until = nextUpdate
		}
	} else if lim := thisUpdate.Add(maxAge); lim.Before(until) {
		until = lim
	}
	return until
}

// fresh checks thisUpdate/nextUpdate against now with skew allowed either way.
func fresh(now, thisUpdate, nextUpdate time.Time, skew, maxAge time.Duration) error {
	if thisUpdate.IsZero() {
		return errors.New("answer without thisUpdate")
	}
	if thisUpdate.After(now.Add(skew)) {
		return fmt.Errorf("answer is dated in the future (thisUpdate %s)", thisUpdate.UTC().Format(time.RFC3339))
	}
	if !nextUpdate.IsZero() {
		if nextUpdate.Before(thisUpdate) {
			return errors.New("answer's nextUpdate is before its thisUpdate")
		}
		if now.After(nextUpdate.Add(skew)) {
			return fmt.Errorf("answer is stale (nextUpdate %s)", nextUpdate.UTC().Format(time.RFC3339))
		}
	} else if now.Sub(thisUpdate) > maxAge+skew {
		return fmt.Errorf("answer is stale (thisUpdate %s, no nextUpdate)", thisUpdate.UTC().Format(time.RFC3339))
	}
	return nil
}

// verifyOCSP parses an OCSP response about cert and checks that it is
// signed by issuer or by a responder certificate issuer gave
// id-kp-OCSPSigning, that it is about exactly this certificate (issuer
// name and key hash and serial) and that it is fresh at now. It never
// panics.
func verifyOCSP(der []byte, cert, issuer *x509.Certificate, now time.Time, skew, maxAge time.Duration) (resp *ocsp.Response, err error) {
	defer func() {
		if r := recover(); r != nil {
			resp, err = nil, fmt.Errorf("malformed OCSP response (%v)", r)
		}
	}()
	resp, err = ocsp.ParseResponseForCert(der, cert, nil)
	if err != nil {
		var re ocsp.ResponseError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("responder answered %q", re.Status.String())
		}
		return nil, fmt.Errorf("malformed OCSP response: %v", err)
	}
	if err := matchCertID(der, cert, issuer, resp.IssuerHash); err != nil {
		return nil, err
	}
	switch {
	case resp.Certificate == nil:
		if err := resp.CheckSignatureFrom(issuer); err != nil {
			return nil, fmt.Errorf("signature does not verify with the issuer's key: %v", err)
		}
	case bytes.Equal(resp.Certificate.Raw, issuer.Raw):
		// Signed by the issuer itself, which it included; ParseResponseForCert
		// checked the signature against it.
	default:
		// A delegated responder (RFC 6960 4.2.2.2): issued directly by the
		// issuer, for OCSP signing, valid now. ParseResponseForCert checked
		// the response signature against it.
		rc := resp.Certificate
		if !bytes.Equal(rc.RawIssuer, issuer.RawSubject) {
			return nil, errors.New("responder certificate is not issued by the certificate's issuer")
		}
		if err := rc.CheckSignatureFrom(issuer); err != nil {
			return nil, fmt.Errorf("responder certificate does not verify with the issuer's key: %v", err)
		}
		if !slices.Contains(rc.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
			return nil, errors.New("responder certificate is not authorised for OCSP signing (no id-kp-OCSPSigning)")
		}
		if now.Add(skew).Before(rc.NotBefore) || now.Add(-skew).After(rc.NotAfter) {
			return nil, errors.New("responder certificate is not valid now")
		}
	}
	if err := fresh(now, resp.ThisUpdate, resp.NextUpdate, skew, maxAge); err != nil {
		return nil, err
	}
	return resp, nil
}

// The OCSP response structures (RFC 6960 4.2.1) as far as needed to read
// each SingleResponse's CertID, which x/crypto/ocsp does not expose.
type rawResponse struct {
	Status   asn1.Enumerated
	Response rawResponseBytes `asn1:"explicit,tag:0,optional"`
}

type rawResponseBytes struct {
	ResponseType asn1.ObjectIdentifier
	Response     []byte
}

type rawBasicResponse struct {
	TBSResponseData    rawResponseData
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          asn1.BitString
	Certificates       []asn1.RawValue `asn1:"explicit,tag:0,optional"`
}

type rawResponseData struct {
	Raw            asn1.RawContent
	Version        int `asn1:"optional,default:0,explicit,tag:0"`
	RawResponderID asn1.RawValue
	ProducedAt     time.Time `asn1:"generalized"`
	Responses      []rawSingleResponse
}

type rawSingleResponse struct {
	CertID rawCertID
	// The rest (status, thisUpdate, ...) is read by x/crypto/ocsp;
	// encoding/asn1 allows the elements not named here.
}

type rawCertID struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	NameHash      []byte
	IssuerKeyHash []byte
	SerialNumber  *big.Int
}

// matchCertID checks that the SingleResponse x/crypto/ocsp picked (the first
// whose serial is cert's) names cert's issuer by name and key hash, so an
// answer about another CA's certificate with the same serial never counts.
func matchCertID(der []byte, cert, issuer *x509.Certificate, h crypto.Hash) error {
	var r rawResponse
	if _, err := asn1.Unmarshal(der, &r); err != nil {
		return fmt.Errorf("malformed OCSP response: %v", err)
	}
	var b rawBasicResponse
	if _, err := asn1.Unmarshal(r.Response.Response, &b); err != nil {
		return fmt.Errorf("malformed OCSP response: %v", err)
	}
	nameHash, keyHash, err := issuerHashes(issuer, h)
	if err != nil {
		return err
	}
	for _, s := range b.TBSResponseData.Responses {
		if s.CertID.SerialNumber == nil || s.CertID.SerialNumber.Cmp(cert.SerialNumber) != 0 {
			continue
		}
		if !bytes.Equal(s.CertID.NameHash, nameHash) || !bytes.Equal(s.CertID.IssuerKeyHash, keyHash) {
			return errors.New("the answer is about a certificate of another issuer")
		}
		return nil
	}
	return errors.New("the answer is not about this certificate")
}

// issuerHashes are the CertID hashes of issuer's name and public key.
func issuerHashes(issuer *x509.Certificate, h crypto.Hash) (nameHash, keyHash []byte, err error) {
	if h == 0 || !h.Available() {
		return nil, nil, errors.New("unsupported CertID hash")
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, nil, fmt.Errorf("issuer public key: %v", err)
	}
	hh := h.New()
	hh.Write(issuer.RawSubject)
	nameHash = hh.Sum(nil)
	hh.Reset()
	hh.Write(spki.PublicKey.RightAlign())
	return nameHash, hh.Sum(nil), nil
}
