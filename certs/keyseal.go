package certs

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
)

// sealVersion is the first byte of every sealed blob: version 1 is
// AES-256-GCM, 12-byte random nonce, then ciphertext and tag.
const sealVersion = 1

// ErrWrongMasterKey is returned (wrapped) when a sealed key cannot be opened:
// the master key differs from the one that sealed it, or the row was altered.
var ErrWrongMasterKey = errors.New("certs: cannot decrypt private key: wrong master key or tampered record")

// sealer encrypts private keys at rest under the master key.
type sealer struct {
	aead cipher.AEAD
	rand io.Reader
}

func newSealer(masterKey []byte, rand io.Reader) (*sealer, error) {
	if len(masterKey) != masterKeyLen {
		return nil, fmt.Errorf("certs: master key must be %d bytes, got %d", masterKeyLen, len(masterKey))
	}
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, fmt.Errorf("certs: master key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("certs: master key: %w", err)
	}
	return &sealer{aead: aead, rand: rand}, nil
}

// sealKey marshals key as PKCS#8 and seals it; aad binds the blob to its row.
func (s *sealer) sealKey(key crypto.Signer, aad string) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: marshal private key: %w", err)
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return nil, fmt.Errorf("certs: seal private key: %w", err)
	}
	out := make([]byte, 0, 1+len(nonce)+len(der)+s.aead.Overhead())
	out = append(out, sealVersion)
	out = append(out, nonce...)
	out = s.aead.Seal(out, nonce, der, []byte(aad))
	clear(der)
	return out, nil
}

// openKey reverses sealKey.
func (s *sealer) openKey(blob []byte, aad string) (crypto.Signer, error) {
	ns := s.aead.NonceSize()
	if len(blob) < 1+ns+s.aead.Overhead() || blob[0] != sealVersion {
		return nil, errors.New("certs: sealed private key is malformed")
	}
	der, err := s.aead.Open(nil, blob[1:1+ns], blob[1+ns:], []byte(aad))
	if err != nil {
		return nil, ErrWrongMasterKey
	}
	defer clear(der)
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("certs: parse private key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("certs: private key of type %T cannot sign", k)
	}
	return signer, nil
}

// certAAD and caAAD bind sealed keys to the row they belong to.
func certAAD(email, serial string) string { return "mailseal/v1 cert " + email + " " + serial }
func caAAD(name, serial string) string    { return "mailseal/v1 ca " + name + " " + serial }
