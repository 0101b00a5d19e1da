//go:build !pkcs11

package config

// pkcs11Built: this build cannot talk to PKCS#11 tokens (no cgo).
const pkcs11Built = false
