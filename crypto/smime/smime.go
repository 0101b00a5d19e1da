// Package smime creates S/MIME (RFC 8551) signed messages: a detached CMS
// SignedData (SHA-256, signer certificate and chain, signingTime and
// SMIMECapabilities signed attributes) in a multipart/signed entity. The
// signed part is made 7-bit clean first (see package mimecanon) so that no
// relay can change the signed bytes.
//
// The package knows nothing of milters or policy: callers hand in the
// content header fields and the body of a message and get the replacement
// Content-Type value and body back.
package smime

import (
	"errors"

	"github.com/mailseal/mailseal/crypto/mimecanon"
)

// HeaderField is one header field. Value may be folded with "\n\t",
// "\r\n " or similar; it is canonicalised to CRLF folding.
type HeaderField struct{ Name, Value string }

// Signed is the multipart/signed replacement of a message.
type Signed struct {
	// ContentType is the complete value of the new top-level Content-Type
	// field. The caller replaces all top-level Content-* fields by this one
	// Content-Type field and makes sure "MIME-Version: 1.0" is present.
	ContentType string
	// Body is the new body: CRLF line endings, 7-bit, no line over 998
	// octets.
	Body []byte
}

var (
	// ErrMalformed means the message could not be parsed or canonicalised.
	// It is permanent: the same message will fail again.
	ErrMalformed = mimecanon.ErrMalformed
	// ErrTooLarge means the body exceeds the signer's size limit
	// (WithMaxSize). Permanent.
	ErrTooLarge = errors.New("smime: message too large")
	// ErrInternal reports a bug caught while signing (a recovered panic):
	// the caller should retry later rather than refuse the message for good.
	ErrInternal = errors.New("smime: internal error")
	// ErrCertificateNotValid means the signer certificate is not valid at
	// the signer's clock (expired or not yet valid). Renewing fixes it.
	ErrCertificateNotValid = errors.New("smime: signer certificate not valid now")
)
