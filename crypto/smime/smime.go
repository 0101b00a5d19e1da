// Package smime creates S/MIME (RFC 8551) signed messages: a detached CMS
// SignedData (SHA-256, signer certificate and chain, signingTime and
// SMIMECapabilities signed attributes) in a multipart/signed entity. The
// signed part is made 7-bit clean first (see package mimecanon) so that no
// relay can change the signed bytes.
//
// It also encrypts (RFC 8551 3.3, 3.4: sign first, then encrypt): Encrypt
// and EncryptSigned turn a MIME entity into application/pkcs7-mime, an
// EnvelopedData with AES-256-CBC (the default, read by every client) or an
// AuthEnvelopedData with AES-256-GCM (S/MIME 4.0). RSA recipients get the
// content key by PKCS #1 v1.5 or RSA-OAEP-SHA-256 key transport, EC
// recipients by ephemeral-static ECDH (RFC 5753). ChooseCipher applies the
// smime_cipher setting to what recipients announced in SMIMECapabilities
// (ParseSignerCapabilities reads those from a signature). Decrypt reads
// all of these forms, and BER from other clients, for the inbound path.
//
// For inbound signatures, ParseSignedData reads a CMS SignedData (DER or
// BER) and VerifySigner checks one signer's signed attributes and
// signature (RSA PKCS #1 v1.5, RSA-PSS, ECDSA, Ed25519). Neither decides
// whether the signer is trusted: package trust does (chain at the current
// time, key usage, strength, revocation, From: address).
// The CMS encoding is our own (smallstep/pkcs7 cannot encrypt in these
// ways); see docs/architecture.md.
//
// A typical outbound use:
//
//	signed, err := signer.Sign(fields, body)
//	cipher, err := smime.ChooseCipher(setting, capsOfEachRecipient)
//	enc, err := smime.EncryptSigned(signed, recipients /* + the sender's own certificate */,
//		smime.EncryptOptions{Cipher: cipher})
//	// replace the Content-* fields by enc.Header(), the body by enc.Body
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
