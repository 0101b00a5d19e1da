package certs

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// pgpKeyConfig maps ca.key_type onto an OpenPGP key: version 4 keys only,
// since GnuPG 2.2 (Debian bookworm) reads neither v5 nor v6 keys. RSA keys
// get an RSA signing primary and an RSA encryption subkey of the same size;
// ecdsa-p256 gets an ECDSA primary and an ECDH subkey on NIST P-256 (RFC
// 6637), read by GnuPG since 2.1, chosen over Curve25519 so that the key
// type means the same curve for S/MIME and OpenPGP. The preferences
// advertise AES-256 and SHA-256, and no compression.
func pgpKeyConfig(k KeyType, created time.Time, lifetime time.Duration, rand io.Reader) (*packet.Config, error) {
	secs := lifetime / time.Second
	if secs <= 0 || secs > math.MaxUint32 {
		return nil, fmt.Errorf("certs: OpenPGP key lifetime %s out of range", lifetime)
	}
	cfg := &packet.Config{
		Rand:                   rand,
		DefaultHash:            crypto.SHA256,
		DefaultCipher:          packet.CipherAES256,
		DefaultCompressionAlgo: packet.CompressionNone,
		Time:                   func() time.Time { return created },
		KeyLifetimeSecs:        uint32(secs),
	}
	switch k {
	case KeyRSA3072:
		cfg.Algorithm, cfg.RSABits = packet.PubKeyAlgoRSA, 3072
	case KeyRSA2048:
		cfg.Algorithm, cfg.RSABits = packet.PubKeyAlgoRSA, 2048
	case KeyECDSAP256:
		cfg.Algorithm, cfg.Curve = packet.PubKeyAlgoECDSA, packet.CurveNistP256
	default:
		return nil, fmt.Errorf("certs: unknown key type %q", k)
	}
	return cfg, nil
}

// newPGPKey generates a primary signing key with an encryption subkey for
// email, created at created and valid for lifetime. The user ID is
// "<email>", the form every OpenPGP client recognises as an address.
func newPGPKey(k KeyType, email string, created time.Time, lifetime time.Duration, rand io.Reader) (*openpgp.Entity, error) {
	cfg, err := pgpKeyConfig(k, created, lifetime, rand)
	if err != nil {
		return nil, err
	}
	e, err := openpgp.NewEntity("", "", email, cfg)
	if err != nil {
		return nil, fmt.Errorf("certs: generate %s OpenPGP key for %s: %w", k, email, err)
	}
	return e, nil
}

// pgpFingerprint formats the primary key's fingerprint as gpg prints it.
func pgpFingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}

// armorPGPKey writes e as an armored transferable public key, or secret
// key (unprotected) when private is set. Self-signatures are written as
// generated, never re-signed.
func armorPGPKey(e *openpgp.Entity, private bool) ([]byte, error) {
	var buf bytes.Buffer
	typ := openpgp.PublicKeyType
	if private {
		typ = openpgp.PrivateKeyType
	}
	w, err := armor.Encode(&buf, typ, nil)
	if err != nil {
		return nil, fmt.Errorf("certs: armor OpenPGP key: %w", err)
	}
	if private {
		err = e.SerializePrivateWithoutSigning(w, nil)
	} else {
		err = e.Serialize(w)
	}
	if err != nil {
		return nil, fmt.Errorf("certs: serialize OpenPGP key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("certs: armor OpenPGP key: %w", err)
	}
	return buf.Bytes(), nil
}

// parsePGPPrivate reads an armored secret key as armorPGPKey wrote it and
// checks that it is the one key with fingerprint, unprotected, with the
// secret parts of every subkey. It never panics, whatever the input.
func parsePGPPrivate(armored []byte, fingerprint string) (e *openpgp.Entity, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, err = nil, fmt.Errorf("certs: parse OpenPGP key: malformed (%v)", r)
		}
	}()
	list, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("certs: parse OpenPGP key: %w", err)
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("certs: parse OpenPGP key: %d keys, want 1", len(list))
	}
	e = list[0]
	if got := pgpFingerprint(e); got != fingerprint {
		return nil, fmt.Errorf("certs: parse OpenPGP key: fingerprint %s, want %s", got, fingerprint)
	}
	if e.PrivateKey == nil || e.PrivateKey.Encrypted || e.PrivateKey.Dummy() {
		return nil, errors.New("certs: parse OpenPGP key: secret key missing or protected")
	}
	for _, sk := range e.Subkeys {
		if sk.PrivateKey == nil || sk.PrivateKey.Encrypted || sk.PrivateKey.Dummy() {
			return nil, errors.New("certs: parse OpenPGP key: secret subkey missing or protected")
		}
	}
	return e, nil
}
