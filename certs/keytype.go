package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
	"io"
	"strings"
)

// KeyType names the algorithm and size of user key pairs.
type KeyType string

// Supported key types. KeyRSA3072 is the default.
const (
	KeyRSA3072   KeyType = "rsa-3072"
	KeyRSA2048   KeyType = "rsa-2048"
	KeyECDSAP256 KeyType = "ecdsa-p256"
)

// DefaultKeyType is used when Options.KeyType is empty.
const DefaultKeyType = KeyRSA3072

// ParseKeyType parses a key type name (case-insensitive). The empty string
// yields DefaultKeyType.
func ParseKeyType(s string) (KeyType, error) {
	k := KeyType(strings.ToLower(strings.TrimSpace(s)))
	switch k {
	case "":
		return DefaultKeyType, nil
	case KeyRSA3072, KeyRSA2048, KeyECDSAP256:
		return k, nil
	}
	return "", fmt.Errorf("certs: unknown key type %q (want %s, %s or %s)", s, KeyRSA3072, KeyRSA2048, KeyECDSAP256)
}

// generate creates a new key pair of type k.
func (k KeyType) generate(rand io.Reader) (crypto.Signer, error) {
	var (
		key crypto.Signer
		err error
	)
	switch k {
	case KeyRSA3072:
		key, err = rsa.GenerateKey(rand, 3072)
	case KeyRSA2048:
		key, err = rsa.GenerateKey(rand, 2048)
	case KeyECDSAP256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand)
	default:
		return nil, fmt.Errorf("certs: unknown key type %q", k)
	}
	if err != nil {
		return nil, fmt.Errorf("certs: generate %s key: %w", k, err)
	}
	return key, nil
}

// keyTypeName describes a public key the way KeyType does ("rsa-3072",
// "ecdsa-p256", ...), also for sizes mailseal does not generate itself.
func keyTypeName(pub crypto.PublicKey) string {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa-%d", p.N.BitLen())
	case *ecdsa.PublicKey:
		return "ecdsa-" + strings.ToLower(strings.ReplaceAll(p.Curve.Params().Name, "-", ""))
	}
	return fmt.Sprintf("%T", pub)
}
