// Package trust verifies the S/MIME signature of a whole inbound message
// and says, as an RFC 7281 smime= result, whether the person reading it may
// rely on it: the signature must be cryptographically sound, the signer's
// certificate must chain to an anchor at the current time, be meant for
// mail signing, be strong enough, not be revoked, and name the message's
// From: address. The low-level CMS work is in crypto/smime; this package is
// the policy. It knows nothing of milters or the configuration file.
package trust

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/mailseal/mailseal/crypto/smime"
	"github.com/mailseal/mailseal/revocation"
)

// Mode is how revocation is checked (trust.revocation).
type Mode string

const (
	// RevocationRequire: a signer whose revocation status nobody could
	// tell gets temperror ("revocation-unknown").
	RevocationRequire Mode = "require"
	// RevocationPrefer: revocation is checked; an unknown status still
	// passes, and the problem is kept for the report.
	RevocationPrefer Mode = "prefer"
	// RevocationOff: revocation is not checked.
	RevocationOff Mode = "off"
)

// RevocationChecker is what the verifier needs from revocation.Checker.
type RevocationChecker interface {
	Check(ctx context.Context, cert, issuer *x509.Certificate) revocation.Status
	FetchIssuers(ctx context.Context, cert *x509.Certificate) ([]*x509.Certificate, error)
}

// Options configure a Verifier.
type Options struct {
	// AnchorFiles are PEM files of partner roots (trust.anchor_files).
	AnchorFiles []string
	// SystemRoots adds the operating system's roots (trust.system_roots).
	SystemRoots bool
	// Own are our own CA certificate(s): mail between internal users
	// verifies too.
	Own []*x509.Certificate
	// Revocation is the revocation mode; "" means prefer.
	Revocation Mode
	// Checker checks revocation and fetches missing intermediates; nil
	// behaves as Revocation "off" (and no issuers are fetched).
	Checker RevocationChecker
	// Now is the clock certificates are checked at; nil means time.Now.
	Now func() time.Time
}

// Result is an RFC 7281 smime= result.
type Result string

// The RFC 7281 values.
const (
	None      Result = "none"
	Pass      Result = "pass"
	Fail      Result = "fail"
	Neutral   Result = "neutral"
	Policy    Result = "policy"
	TempError Result = "temperror"
	PermError Result = "permerror"
)

// Verdict is what VerifyMessage found out about a message.
type Verdict struct {
	Result Result
	// Partial: a signed part exists but does not cover the whole message
	// (it is wrapped in multipart/mixed, message/rfc822, …). Never pass.
	Partial bool
	// Kind is "multipart/signed", "signed-data" (opaque) or "".
	Kind string
	// Code is the machine reason when Result is not pass: "expired",
	// "not-yet-valid", "revoked", "untrusted", "wrong-eku", "key-usage",
	// "weak-digest", "weak-key", "from-mismatch", "bad-signature",
	// "content-mismatch", "no-signer", "malformed", "revocation-unknown",
	// "partial", "unsigned", "internal".
	Code string
	// Reason is one English sentence a person understands.
	Reason string
	// From is the From: address checked (ASCII lower-cased local part,
	// punycode domain); "" when there was none usable.
	From string
	// Signers holds one entry per SignerInfo, in order.
	Signers []Signer
	// Content is, for opaque signed-data, the inner entity (header and
	// body) to deliver readable; nil otherwise.
	Content []byte
}

// Signer is the verdict on one SignerInfo.
type Signer struct {
	Cert *x509.Certificate
	// Chain is leaf → anchor as verified (nil when no chain was found).
	Chain []*x509.Certificate
	// Email is the certificate address that matched From.
	Email string
	// SigningTime is what the sender claims; never used for validity.
	SigningTime time.Time
	// Digest is the digest algorithm name, e.g. "SHA-256".
	Digest string
	// Algorithm is "RSA PKCS#1 v1.5", "RSA-PSS", "ECDSA" or "Ed25519".
	Algorithm    string
	Revocation   revocation.Status
	Capabilities []smime.Capability
	Result       Result
	Code, Reason string
}

// Verifier verifies messages. It is safe for concurrent use.
type Verifier struct {
	anchors *x509.CertPool
	system  bool
	mode    Mode
	checker RevocationChecker
	now     func() time.Time
}

// New loads the anchors. The error names the anchor file that could not
// be read or holds no certificate.
func New(o Options) (*Verifier, error) {
	v := &Verifier{
		system:  o.SystemRoots,
		mode:    o.Revocation,
		checker: o.Checker,
		now:     o.Now,
	}
	switch v.mode {
	case "":
		v.mode = RevocationPrefer
	case RevocationRequire, RevocationPrefer, RevocationOff:
	default:
		return nil, fmt.Errorf("trust: revocation mode %q: want require, prefer or off", o.Revocation)
	}
	if rv := reflect.ValueOf(v.checker); v.checker == nil || rv.Kind() == reflect.Pointer && rv.IsNil() {
		// A nil *revocation.Checker in the interface is "no checker" too.
		v.checker, v.mode = nil, RevocationOff
	}
	if v.now == nil {
		v.now = time.Now
	}
	if o.SystemRoots {
		sys, err := x509.SystemCertPool()
		if err != nil {
			return nil, fmt.Errorf("trust: system roots: %w", err)
		}
		v.anchors = sys
	} else {
		v.anchors = x509.NewCertPool()
	}
	for _, f := range o.AnchorFiles {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("trust: anchor file %s: %w", f, err)
		}
		if !v.anchors.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("trust: anchor file %s: no PEM certificate in it", f)
		}
	}
	for _, c := range o.Own {
		if c != nil {
			v.anchors.AddCert(c)
		}
	}
	return v, nil
}
