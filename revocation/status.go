// Package revocation answers "is this certificate revoked?" for certificates
// from outside: OCSP first, then the CRL over HTTP, both cached with
// timeouts. It also fetches missing intermediates named in a certificate's
// AIA caIssuers field. It knows nothing of mail, policy or milters.
package revocation

import "time"

// State is what a revocation check found out.
type State int

const (
	// Unknown: no source could answer (no OCSP URL or CRL DP, or both
	// failed, or the responder does not know the certificate).
	Unknown State = iota
	// Good: a source vouched that the certificate is not revoked.
	Good
	// Revoked: a source lists the certificate as revoked.
	Revoked
)

func (s State) String() string {
	switch s {
	case Good:
		return "good"
	case Revoked:
		return "revoked"
	}
	return "unknown"
}

// Status is one revocation check's answer, with where it came from, so a
// report can say "checked by OCSP at http://… at 10:02".
type Status struct {
	State State
	// Source is "ocsp", "crl" or "" (nothing answered).
	Source string
	// URL is the responder or CRL the answer came from.
	URL string
	// CheckedAt is when the answer was produced (OCSP thisUpdate, CRL
	// thisUpdate), not when the cache handed it out.
	CheckedAt time.Time
	// RevokedAt and Reason (RFC 5280 CRLReason) are set when State is Revoked.
	RevokedAt time.Time
	Reason    int
	// Cached is true when the answer came from the cache.
	Cached bool
	// Problem says in plain words why State is Unknown (every source tried
	// and what went wrong), for logs and the signature report.
	Problem string
}
