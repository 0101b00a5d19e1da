// Package pgpmime encrypts and decrypts PGP/MIME messages (RFC 3156) and
// manages the OpenPGP keys they need, on top of ProtonMail's gopenpgp v2
// and the go-crypto OpenPGP implementation under it.
//
// Keys: GenerateKey makes a sender's own key (RSA-3072 by default, or
// Ed25519/Curve25519; both are read by GnuPG 2.2 and later) and returns it
// ASCII-armored without a passphrase: the caller seals the private key at
// rest. ParsePublicKey and ParsePrivateKey read armored or binary keys and
// describe them (KeyInfo): fingerprint, user IDs, expiry, revocation and
// whether the key can receive mail now. They are the parsers of outside key
// material: they run behind recover and are fuzzed.
//
// Messages: Encrypt turns a complete MIME entity into a multipart/encrypted
// body (RFC 3156 section 4). The entity is signed by the sender and the
// signature is encrypted with it, in one OpenPGP message (section 6.2,
// combined method), always integrity protected (a SEIPD packet with MDC,
// which every OpenPGP implementation since 2003 reads; never the AEAD
// packets that GnuPG 2.2 cannot read). Decrypt reverses it and verifies the
// signature against the keys the caller trusts; data without integrity
// protection, or not encrypted at all, is refused.
//
// The package knows nothing of milters, policy or key directories. Header
// protection (the real Subject inside the encrypted part) is the job of
// package protect, whose Result.Entity is what Encrypt takes.
package pgpmime

import "errors"

var (
	// ErrMalformed means key material or a message could not be parsed.
	// It is permanent: the same input fails again.
	ErrMalformed = errors.New("pgpmime: malformed input")
	// ErrKeyUnusable means a key cannot be used for what was asked: it is
	// expired or revoked, has no encryption or signing key, does not
	// support integrity-protected data, is too weak, or is a private key
	// locked with a passphrase. Permanent until the key changes.
	ErrKeyUnusable = errors.New("pgpmime: key unusable")
	// ErrNotIntegrityProtected means an encrypted message lacks integrity
	// protection (a SED packet without MDC). Such data is never decrypted.
	ErrNotIntegrityProtected = errors.New("pgpmime: encrypted data without integrity protection")
	// ErrNotEncrypted means a multipart/encrypted message carries OpenPGP
	// data that is not encrypted.
	ErrNotEncrypted = errors.New("pgpmime: message is not encrypted")
	// ErrDecrypt means the message is not for any of our keys or failed
	// its integrity check.
	ErrDecrypt = errors.New("pgpmime: cannot decrypt")
	// ErrTooLarge means decrypted content exceeds the configured limit.
	ErrTooLarge = errors.New("pgpmime: decrypted content too large")
	// ErrInternal reports a bug caught while encrypting (a recovered
	// panic): the caller should retry later rather than refuse for good.
	ErrInternal = errors.New("pgpmime: internal error")
)
