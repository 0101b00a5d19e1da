package certs

import (
	"errors"
	"fmt"
	"io"
)

// sealBytes seals plain exactly like sealKey seals a PKCS#8 key (same
// format, same master key); it is used for OpenPGP secret keys, which have
// no PKCS#8 form. aad binds the blob to its row.
func (s *sealer) sealBytes(plain []byte, aad string) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return nil, fmt.Errorf("certs: seal private key: %w", err)
	}
	out := make([]byte, 0, 1+len(nonce)+len(plain)+s.aead.Overhead())
	out = append(out, sealVersion)
	out = append(out, nonce...)
	return s.aead.Seal(out, nonce, plain, []byte(aad)), nil
}

// openBytes reverses sealBytes. The caller clears the result when done.
func (s *sealer) openBytes(blob []byte, aad string) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(blob) < 1+ns+s.aead.Overhead() || blob[0] != sealVersion {
		return nil, errors.New("certs: sealed private key is malformed")
	}
	plain, err := s.aead.Open(nil, blob[1:1+ns], blob[1+ns:], []byte(aad))
	if err != nil {
		return nil, ErrWrongMasterKey
	}
	return plain, nil
}

// pgpAAD binds a sealed OpenPGP secret key to its row; the distinct prefix
// keeps a certificate's sealed key from being passed off as one.
func pgpAAD(email, fingerprint string) string { return "mailseal/v1 pgp " + email + " " + fingerprint }
