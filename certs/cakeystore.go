package certs

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
	"strings"
)

// CAKeyStore keeps the built-in CA's private key outside the store, in a
// PKCS#11 token (package certs/hsm): the key is generated inside the token
// and never leaves it; every signature (certificates, CRLs, OCSP answers)
// is made by the token. The CA certificate stays in the store as usual.
type CAKeyStore interface {
	// CAKey returns the CA's signing key. create: the CA is being created,
	// so a new ECDSA P-384 key is generated inside the token when it holds
	// none under the configured label/ID.
	CAKey(create bool) (crypto.Signer, error)
	// Reference names the key for logs and error messages, e.g.
	// "pkcs11:token=mailseal;object=mailseal-ca".
	Reference() string
}

// hsmRefPrefix starts the sealed blob of a CA whose key lives in a token:
// the ca row then holds, sealed with the master key like any key, only the
// key's reference. Sealing keeps master key rotation and its check that a
// key opens the CA row working unchanged; a PKCS#8 key (DER, first byte
// 0x30) can never start with it.
const hsmRefPrefix = "mailseal-ca-key-in-token:"

// newCAKey makes the key of a new built-in CA: in the token when
// Options.CAKeyStore is set (ref names it), else nil: createRoot makes it.
func (m *Manager) newCAKey() (key crypto.Signer, ref string, err error) {
	ks := m.opts.CAKeyStore
	if ks == nil {
		return nil, "", nil
	}
	key, err = ks.CAKey(true)
	if err != nil {
		return nil, "", fmt.Errorf("certs: create the built-in CA key in %s: %w", ks.Reference(), err)
	}
	return key, ks.Reference(), nil
}

// sealCAKey returns the ca row's sealed blob for key (ref == "") or for
// the token reference ref.
func (m *Manager) sealCAKey(key crypto.Signer, ref, aad string) ([]byte, error) {
	if ref != "" {
		return m.sealer.sealBytes([]byte(hsmRefPrefix+ref), aad)
	}
	return m.sealer.sealKey(key, aad)
}

// openCAKey opens the ca row's sealed blob: a software key, or the token
// reference, whose key then comes from Options.CAKeyStore. A mismatch
// between where the key is and what the configuration says is an error,
// never a silent new key.
func (m *Manager) openCAKey(blob []byte, aad string) (key crypto.Signer, ref string, err error) {
	plain, err := m.sealer.openBytes(blob, aad)
	if err != nil {
		return nil, "", err
	}
	defer clear(plain)
	ks := m.opts.CAKeyStore
	if r, ok := strings.CutPrefix(string(plain), hsmRefPrefix); ok {
		if ks == nil {
			return nil, "", fmt.Errorf("certs: the built-in CA's key is in a PKCS#11 token (%s), but no token is configured: set ca.pkcs11.* (and use a mailseal built with -tags pkcs11)", r)
		}
		if key, err = ks.CAKey(false); err != nil {
			return nil, "", fmt.Errorf("certs: built-in CA key in %s (created as %s): %w", ks.Reference(), r, err)
		}
		return key, ks.Reference(), nil
	}
	if ks != nil {
		return nil, "", fmt.Errorf("certs: ca.pkcs11 is set, but the built-in CA was created with its key sealed in the store; "+
			"keys are generated inside the token, never moved there: remove ca.pkcs11.*, or start with a new state (a new CA) to have its key in %s", ks.Reference())
	}
	k, err := x509.ParsePKCS8PrivateKey(plain)
	if err != nil {
		return nil, "", fmt.Errorf("certs: parse private key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, "", fmt.Errorf("certs: private key of type %T cannot sign", k)
	}
	return signer, "", nil
}

// CAKeyReference names the token key of the built-in CA, or "" when its
// key is sealed in the store (or an external issuer is used).
func (m *Manager) CAKeyReference() string { return m.caKeyRef }

// closeCAKeyStore releases the token session, if the key store has one.
func (m *Manager) closeCAKeyStore() error {
	if c, ok := m.opts.CAKeyStore.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
