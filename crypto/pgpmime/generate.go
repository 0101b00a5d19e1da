package pgpmime

import (
	"crypto"
	"crypto/rand"
	"fmt"
	"io"
	"math"
	"net/mail"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	gocrypto "github.com/ProtonMail/gopenpgp/v2/crypto"
)

// Algorithm is the public-key algorithm of a generated key.
type Algorithm int

const (
	// RSA3072 makes an RSA-3072 signing primary key with an RSA-3072
	// encryption subkey: the widest support (every OpenPGP client,
	// including ones without elliptic curves), the same key size as the
	// S/MIME default. It is the default.
	RSA3072 Algorithm = iota
	// Curve25519 makes an Ed25519 signing primary key with a Curve25519
	// (ECDH) encryption subkey in the version 4 format GnuPG 2.1+ reads
	// ("ed25519/cv25519"): small and fast, but not read by some older
	// commercial PGP products.
	Curve25519
)

func (a Algorithm) String() string {
	switch a {
	case RSA3072:
		return "rsa3072"
	case Curve25519:
		return "curve25519"
	}
	return fmt.Sprintf("Algorithm(%d)", int(a))
}

// KeyOptions tune GenerateKey. The zero value makes an RSA-3072 key that
// does not expire, dated now.
type KeyOptions struct {
	Algorithm Algorithm
	// Lifetime is how long the key is valid from its creation; zero means
	// it does not expire. Whole seconds, at most about 136 years.
	Lifetime time.Duration
	// Now is the clock (key creation time); nil means time.Now.
	Now func() time.Time
	// Rand is the randomness source; nil means crypto/rand.
	Rand io.Reader
}

// GeneratedKey is a new OpenPGP key.
type GeneratedKey struct {
	// Private is the transferable secret key, ASCII-armored, NOT protected
	// by a passphrase: seal it before it is stored.
	Private []byte
	// Public is the transferable public key, ASCII-armored: what
	// correspondents import.
	Public []byte
	// Fingerprint is the primary key's fingerprint, upper-case hex.
	Fingerprint string
}

// GenerateKey makes a new key for one person: a signing primary key with
// the user ID "name <email>" and an encryption subkey. Its self-signature
// prefers AES-256, SHA-256 and no compression and announces support for
// integrity-protected data (SEIPD version 1 only, so that correspondents
// never send AEAD packets that GnuPG 2.2 cannot read).
func GenerateKey(name, email string, opts KeyOptions) (*GeneratedKey, error) {
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || strings.ContainsAny(email, "()<>\x00") {
		return nil, fmt.Errorf("pgpmime: generate key: invalid email address %q", email)
	}
	if strings.ContainsAny(name, "()<>\x00\r\n") {
		return nil, fmt.Errorf("pgpmime: generate key: name %q contains one of ()<> or a control character", name)
	}
	if opts.Lifetime < 0 || opts.Lifetime.Seconds() > math.MaxUint32 {
		return nil, fmt.Errorf("pgpmime: generate key: lifetime %v out of range", opts.Lifetime)
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	random := opts.Rand
	if random == nil {
		random = rand.Reader
	}
	created := now()
	cfg := &packet.Config{
		Rand:                   random,
		Time:                   func() time.Time { return created },
		DefaultHash:            crypto.SHA256,
		DefaultCipher:          packet.CipherAES256,
		DefaultCompressionAlgo: packet.CompressionNone,
		KeyLifetimeSecs:        uint32(opts.Lifetime / time.Second),
	}
	switch opts.Algorithm {
	case RSA3072:
		cfg.Algorithm, cfg.RSABits = packet.PubKeyAlgoRSA, 3072
	case Curve25519:
		// The legacy EdDSA/ECDH algorithm IDs: the RFC 9580 Ed25519/X25519
		// ones are unknown to GnuPG 2.2.
		cfg.Algorithm, cfg.Curve = packet.PubKeyAlgoEdDSA, packet.Curve25519
	default:
		return nil, fmt.Errorf("pgpmime: generate key: unknown algorithm %v", opts.Algorithm)
	}
	entity, err := openpgp.NewEntity(name, "", email, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgpmime: generate key for %s: %w", email, err)
	}
	key, err := gocrypto.NewKeyFromEntity(entity)
	if err != nil {
		return nil, fmt.Errorf("pgpmime: generate key for %s: %w", email, err)
	}
	// No Version/Comment armor headers: they only advertise the library.
	priv, err := key.ArmorWithCustomHeaders("", "")
	if err != nil {
		return nil, fmt.Errorf("pgpmime: armor private key: %w", err)
	}
	pub, err := key.GetArmoredPublicKeyWithCustomHeaders("", "")
	if err != nil {
		return nil, fmt.Errorf("pgpmime: armor public key: %w", err)
	}
	return &GeneratedKey{
		Private:     []byte(priv),
		Public:      []byte(pub),
		Fingerprint: strings.ToUpper(key.GetFingerprint()),
	}, nil
}
