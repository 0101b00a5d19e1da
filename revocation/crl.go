package revocation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"
)

// crlAnswer is one downloaded and verified CRL (or why there is none).
type crlAnswer struct {
	list *crlInfo
	err  error
}

// crlInfo is what a verified CRL says, reduced to what a lookup needs.
type crlInfo struct {
	thisUpdate, nextUpdate time.Time
	// onlyUser / onlyCA: the CRL's issuing distribution point limits it
	// to end-entity or CA certificates.
	onlyUser, onlyCA bool
	revoked          map[string]crlEntry // serial (hex) → entry
}

type crlEntry struct {
	at     time.Time
	reason int
}

var (
	oidDeltaCRLIndicator = asn1.ObjectIdentifier{2, 5, 29, 27}
	oidIssuingDP         = asn1.ObjectIdentifier{2, 5, 29, 28}
	oidCRLNumber         = asn1.ObjectIdentifier{2, 5, 29, 20}
	oidAuthorityKeyID    = asn1.ObjectIdentifier{2, 5, 29, 35}
)

// checkCRL looks cert up in the CRL at url (downloaded once per URL and
// issuer until its nextUpdate).
func (c *Checker) checkCRL(ctx context.Context, url string, cert, issuer *x509.Certificate) (Status, error) {
	sum := sha256.Sum256(issuer.Raw)
	key := "crl\x00" + url + "\x00" + string(sum[:])
	cached := true
	a, ok := c.crlCache.get(key, c.o.Now())
	if !ok {
		cached = false
		var err error
		a, err = shared(ctx, &c.flights, key, func(ctx context.Context) (crlAnswer, error) {
			a, expires := c.downloadCRL(ctx, url, issuer)
			c.crlCache.put(key, a, c.o.Now(), expires)
			return a, nil
		})
		if err != nil {
			return Status{}, err
		}
	}
	if a.err != nil {
		return Status{}, a.err
	}
	l := a.list
	// A CRL valid when downloaded may have gone stale while cached (the
	// cache keeps it until nextUpdate, but MaxTTL may be longer than the
	// maxAge of a CRL without nextUpdate).
	if err := fresh(c.o.Now(), l.thisUpdate, l.nextUpdate, c.o.Skew, c.o.MaxAge); err != nil {
		return Status{}, err
	}
	if l.onlyUser && cert.IsCA {
		return Status{}, errors.New("the CRL covers only end-entity certificates")
	}
	if l.onlyCA && !cert.IsCA {
		return Status{}, errors.New("the CRL covers only CA certificates")
	}
	st := Status{State: Good, Source: "crl", URL: url, CheckedAt: l.thisUpdate, Cached: cached}
	if e, ok := l.revoked[cert.SerialNumber.Text(16)]; ok {
		st.State, st.RevokedAt, st.Reason = Revoked, e.at, e.reason
	}
	return st, nil
}

func (c *Checker) downloadCRL(ctx context.Context, url string, issuer *x509.Certificate) (crlAnswer, time.Time) {
	fail := func(err error) (crlAnswer, time.Time) {
		c.o.Logger.Debug("revocation: CRL failed", "url", url, "err", err)
		return crlAnswer{err: err}, c.o.Now().Add(c.o.FailureTTL)
	}
	der, err := c.fetch(ctx, url, "", nil, c.o.MaxCRLSize)
	if err != nil {
		return fail(err)
	}
	l, err := verifyCRL(der, issuer, c.o.Now(), c.o.Skew, c.o.MaxAge)
	if err != nil {
		return fail(err)
	}
	c.o.Logger.Debug("revocation: CRL", "url", url, "entries", len(l.revoked))
	return crlAnswer{list: l}, expiry(c.o.Now(), l.thisUpdate, l.nextUpdate, c.o.MaxTTL, c.o.MaxAge)
}

// issuingDistributionPoint is RFC 5280 5.2.5 (implicit tags).
type issuingDistributionPoint struct {
	DistributionPoint          asn1.RawValue  `asn1:"optional,tag:0"`
	OnlyContainsUserCerts      bool           `asn1:"optional,tag:1"`
	OnlyContainsCACerts        bool           `asn1:"optional,tag:2"`
	OnlySomeReasons            asn1.BitString `asn1:"optional,tag:3"`
	IndirectCRL                bool           `asn1:"optional,tag:4"`
	OnlyContainsAttributeCerts bool           `asn1:"optional,tag:5"`
}

// verifyCRL parses a DER (or PEM) CRL and checks that issuer signed it,
// that it is a complete, direct CRL and that it is fresh at now. It never
// panics.
func verifyCRL(der []byte, issuer *x509.Certificate, now time.Time, skew, maxAge time.Duration) (info *crlInfo, err error) {
	defer func() {
		if r := recover(); r != nil {
			info, err = nil, fmt.Errorf("malformed CRL (%v)", r)
		}
	}()
	if bytes.HasPrefix(bytes.TrimSpace(der), []byte("-----BEGIN")) {
		if b := pemBlock(der, "X509 CRL"); b != nil {
			der = b
		}
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("malformed CRL: %v", err)
	}
	if !bytes.Equal(crl.RawIssuer, issuer.RawSubject) {
		return nil, errors.New("the CRL is issued by another CA than the certificate")
	}
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("signature does not verify: %v", err)
	}
	info = &crlInfo{thisUpdate: crl.ThisUpdate, nextUpdate: crl.NextUpdate}
	for _, ext := range crl.Extensions {
		switch {
		case ext.Id.Equal(oidDeltaCRLIndicator):
			return nil, errors.New("delta CRLs are not supported")
		case ext.Id.Equal(oidIssuingDP):
			var idp issuingDistributionPoint
			if rest, err := asn1.Unmarshal(ext.Value, &idp); err != nil || len(rest) > 0 {
				return nil, errors.New("malformed issuing distribution point")
			}
			if idp.OnlySomeReasons.BitLength > 0 {
				return nil, errors.New("the CRL covers only some revocation reasons")
			}
			if idp.IndirectCRL {
				return nil, errors.New("indirect CRLs are not supported")
			}
			if idp.OnlyContainsAttributeCerts {
				return nil, errors.New("the CRL covers only attribute certificates")
			}
			info.onlyUser, info.onlyCA = idp.OnlyContainsUserCerts, idp.OnlyContainsCACerts
		case ext.Id.Equal(oidCRLNumber), ext.Id.Equal(oidAuthorityKeyID):
		case ext.Critical:
			return nil, fmt.Errorf("unsupported critical CRL extension %s", ext.Id)
		}
	}
	if err := fresh(now, crl.ThisUpdate, crl.NextUpdate, skew, maxAge); err != nil {
		return nil, err
	}
	info.revoked = make(map[string]crlEntry, len(crl.RevokedCertificateEntries))
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber == nil {
			continue
		}
		for _, ext := range e.Extensions {
			if ext.Critical && !ext.Id.Equal(oidReasonCode) {
				return nil, fmt.Errorf("unsupported critical CRL entry extension %s", ext.Id)
			}
		}
		info.revoked[e.SerialNumber.Text(16)] = crlEntry{at: e.RevocationTime, reason: e.ReasonCode}
	}
	return info, nil
}

var oidReasonCode = asn1.ObjectIdentifier{2, 5, 29, 21}
