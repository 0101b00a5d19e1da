//go:build !pkcs11

package hsm

import (
	"crypto"

	"github.com/mailseal/mailseal/certs"
)

// Supported reports whether this build can talk to PKCS#11 tokens.
const Supported = false

// Open fails: this build has no PKCS#11 support (see ErrNotSupported).
func Open(Config) (*Token, error) { return nil, ErrNotSupported }

// Token is a PKCS#11 token session; in this build it cannot exist.
type Token struct{}

var _ certs.CAKeyStore = (*Token)(nil)

// CAKey fails: this build has no PKCS#11 support.
func (*Token) CAKey(bool) (crypto.Signer, error) { return nil, ErrNotSupported }

// Reference is empty in this build.
func (*Token) Reference() string { return "" }

// Close does nothing in this build.
func (*Token) Close() error { return nil }
