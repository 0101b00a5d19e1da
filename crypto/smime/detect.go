package smime

import (
	"mime"
	"strings"
)

// protectedTypes are media types of messages that are already signed or
// encrypted (S/MIME, PGP/MIME and their legacy names).
var protectedTypes = map[string]bool{
	"multipart/signed":              true,
	"multipart/encrypted":           true,
	"application/pkcs7-mime":        true,
	"application/x-pkcs7-mime":      true,
	"application/pkcs7-signature":   true,
	"application/x-pkcs7-signature": true,
	"application/pgp-encrypted":     true,
	"application/pgp-signature":     true,
	"application/pgp":               true,
	"application/x-pgp-message":     true,
}

// IsSignedOrEncrypted reports whether a top-level Content-Type value
// denotes a message that is already S/MIME- or PGP-signed or -encrypted
// (multipart/signed, multipart/encrypted, application/pkcs7-mime and
// friends). Such mail is never signed again.
func IsSignedOrEncrypted(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt, _, _ = strings.Cut(contentType, ";")
		mt = strings.ToLower(strings.Join(strings.Fields(mt), ""))
	}
	return protectedTypes[mt]
}
