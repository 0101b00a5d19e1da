//go:build pkcs11

package config

// pkcs11Built: this build talks to PKCS#11 tokens (certs/hsm).
const pkcs11Built = true
