package pgpmime

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	gocrypto "github.com/ProtonMail/gopenpgp/v2/crypto"
)

// MaxKeySize is the largest key block the parsers accept (armored or
// binary). Keys with many third-party signatures reach a few hundred KiB;
// anything larger is refused rather than parsed.
const MaxKeySize = 1 << 20

// MinRSABits is the smallest RSA key this package encrypts to or signs
// with: smaller ones are reported unusable.
const MinRSABits = 2048

// KeyInfo describes a key as of the time it was parsed.
type KeyInfo struct {
	// Fingerprint is the primary key's fingerprint, upper-case hex.
	Fingerprint string
	// KeyID is the primary key's 64-bit key ID, upper-case hex.
	KeyID string
	// Algorithm names the primary key's algorithm and size, e.g.
	// "rsa3072" or "eddsa-ed25519".
	Algorithm string
	// UserIDs are all user IDs, the primary one first.
	UserIDs []string
	// Emails are the lower-cased addresses of the user IDs that are not
	// revoked, in the order of UserIDs, without duplicates.
	Emails []string
	// Created is the primary key's creation time.
	Created time.Time
	// Expires is when the primary key expires; zero means never.
	Expires time.Time
	// Expired and Revoked describe the primary key at the parse time.
	Expired, Revoked bool
	// IntegrityProtection reports that the key announces support for
	// integrity-protected data (SEIPD, "MDC" feature).
	IntegrityProtection bool
	// CanEncrypt reports that mail can be encrypted to the key now: it has
	// a valid encryption-capable (sub)key that is neither expired nor
	// revoked, announces integrity protection and is not too weak.
	CanEncrypt bool
	// CanSign reports that the key has a valid signing (sub)key now.
	CanSign bool
	// Unusable says why CanEncrypt is false; empty when it is true.
	Unusable string
}

// PublicKey is a parsed public key.
type PublicKey struct {
	entity *openpgp.Entity
	info   KeyInfo
}

// Info describes the key as of the time it was parsed.
func (k *PublicKey) Info() KeyInfo { return k.info }

// Armored returns the transferable public key, ASCII-armored (what
// `mailseal keys export` prints).
func (k *PublicKey) Armored() ([]byte, error) {
	key, err := gocrypto.NewKeyFromEntity(k.entity)
	if err != nil {
		return nil, fmt.Errorf("pgpmime: export key %s: %w", k.info.Fingerprint, err)
	}
	s, err := key.GetArmoredPublicKeyWithCustomHeaders("", "")
	if err != nil {
		return nil, fmt.Errorf("pgpmime: export key %s: %w", k.info.Fingerprint, err)
	}
	return []byte(s), nil
}

// PrivateKey is a parsed, unlocked private key.
type PrivateKey struct {
	entity *openpgp.Entity
	info   KeyInfo
}

// Info describes the key as of the time it was parsed.
func (k *PrivateKey) Info() KeyInfo { return k.info }

// Public returns the public half of the key.
func (k *PrivateKey) Public() *PublicKey {
	return &PublicKey{entity: k.entity, info: k.info}
}

// ParsePublicKey reads one transferable public key, ASCII-armored or
// binary, and describes it as of now. A block holding a private key is
// accepted; only its public part is used. More than one key, a key over
// MaxKeySize, or anything else that is not exactly one valid key is
// refused with ErrMalformed. Keys that parse but cannot receive mail are
// returned with CanEncrypt false and the reason in Unusable.
//
// ParsePublicKey reads outside data: it never panics.
func ParsePublicKey(data []byte, now time.Time) (k *PublicKey, err error) {
	e, err := readEntity(data)
	if err != nil {
		return nil, err
	}
	// Secret material handed in by mistake is dropped, not kept around.
	e.PrivateKey = nil
	for i := range e.Subkeys {
		e.Subkeys[i].PrivateKey = nil
	}
	return &PublicKey{entity: e, info: describe(e, now)}, nil
}

// ParsePrivateKey reads one transferable secret key, ASCII-armored or
// binary, as GenerateKey returns it. A key locked with a passphrase, a key
// whose secret parts are missing (GnuPG stubs), and a key that cannot sign
// now are refused with ErrKeyUnusable.
func ParsePrivateKey(data []byte, now time.Time) (k *PrivateKey, err error) {
	e, err := readEntity(data)
	if err != nil {
		return nil, err
	}
	info := describe(e, now)
	if e.PrivateKey == nil {
		return nil, fmt.Errorf("%w: %s is a public key, not a private key", ErrKeyUnusable, info.Fingerprint)
	}
	if err := usablePrivate(e, now); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKeyUnusable, info.Fingerprint, err)
	}
	return &PrivateKey{entity: e, info: info}, nil
}

// readEntity parses exactly one entity from armored or binary data, behind
// recover: go-crypto's parsers are not hardened against every input.
func readEntity(data []byte) (e *openpgp.Entity, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, err = nil, fmt.Errorf("%w: key parser failed: %v", ErrMalformed, r)
		}
	}()
	if len(data) > MaxKeySize {
		return nil, fmt.Errorf("%w: key block of %d bytes exceeds %d", ErrMalformed, len(data), MaxKeySize)
	}
	var list openpgp.EntityList
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP")) {
		list, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(trimmed))
	} else {
		list, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch len(list) {
	case 0:
		return nil, fmt.Errorf("%w: no key found", ErrMalformed)
	case 1:
		return list[0], nil
	}
	return nil, fmt.Errorf("%w: %d keys in one block, expected one", ErrMalformed, len(list))
}

// describe fills KeyInfo for e as of now.
func describe(e *openpgp.Entity, now time.Time) KeyInfo {
	pk := e.PrimaryKey
	info := KeyInfo{
		Fingerprint: strings.ToUpper(fmt.Sprintf("%x", pk.Fingerprint)),
		KeyID:       fmt.Sprintf("%016X", pk.KeyId),
		Algorithm:   algorithmName(pk),
		Created:     pk.CreationTime,
		Revoked:     e.Revoked(now),
	}
	primary := e.PrimaryIdentity()
	names := make([]string, 0, len(e.Identities))
	for name := range e.Identities {
		names = append(names, name)
	}
	slices.Sort(names)
	if primary != nil {
		names = slices.DeleteFunc(names, func(n string) bool { return n == primary.Name })
		names = append([]string{primary.Name}, names...)
	}
	info.UserIDs = names
	for _, n := range names {
		id := e.Identities[n]
		if id.Revoked(now) || id.UserId == nil || id.UserId.Email == "" {
			continue
		}
		if addr := strings.ToLower(id.UserId.Email); !slices.Contains(info.Emails, addr) {
			info.Emails = append(info.Emails, addr)
		}
	}
	sig, _ := e.PrimarySelfSignature()
	if sig != nil {
		if sig.KeyLifetimeSecs != nil && *sig.KeyLifetimeSecs > 0 {
			info.Expires = pk.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
		}
		info.Expired = pk.KeyExpired(sig, now) || sig.SigExpired(now)
		info.IntegrityProtection = sig.SEIPDv1 || sig.SEIPDv2
	}
	_, info.CanSign = e.SigningKey(now)
	info.Unusable = unusable(e, sig, info, now)
	info.CanEncrypt = info.Unusable == ""
	return info
}

// unusable returns why mail cannot be encrypted to e now, or "".
func unusable(e *openpgp.Entity, sig *packet.Signature, info KeyInfo, now time.Time) string {
	switch {
	case sig == nil:
		return "no valid self-signature"
	case info.Revoked:
		return "revoked"
	case info.Expired:
		return "expired"
	case !info.IntegrityProtection:
		// Such a key's owner may run software that cannot read SEIPD,
		// the only kind of data we send.
		return "does not announce integrity protection (SEIPD/MDC)"
	}
	k, ok := e.EncryptionKey(now)
	if !ok {
		return "no valid encryption key"
	}
	if weak(k.PublicKey) {
		return fmt.Sprintf("encryption key too weak (%s)", algorithmName(k.PublicKey))
	}
	return ""
}

// usablePrivate checks that e can sign now with secret material at hand.
func usablePrivate(e *openpgp.Entity, now time.Time) error {
	k, ok := e.SigningKey(now)
	if !ok {
		return fmt.Errorf("no valid signing key (expired, revoked or none)")
	}
	if k.PrivateKey == nil || k.PrivateKey.Dummy() {
		return fmt.Errorf("secret signing key missing")
	}
	if k.PrivateKey.Encrypted {
		return fmt.Errorf("locked with a passphrase; mailseal keeps keys sealed, not passphrase-protected")
	}
	if weak(k.PublicKey) {
		return fmt.Errorf("signing key too weak (%s)", algorithmName(k.PublicKey))
	}
	return nil
}

// weak reports RSA (and DSA/ElGamal) keys below MinRSABits.
func weak(pk *packet.PublicKey) bool {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly,
		packet.PubKeyAlgoDSA, packet.PubKeyAlgoElGamal:
		bits, err := pk.BitLength()
		return err != nil || int(bits) < MinRSABits
	}
	return false
}

// algorithmName names a key's algorithm like GnuPG's --list-keys does.
func algorithmName(pk *packet.PublicKey) string {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
		return fmt.Sprintf("rsa%d", bitLength(pk))
	case packet.PubKeyAlgoDSA:
		return fmt.Sprintf("dsa%d", bitLength(pk))
	case packet.PubKeyAlgoElGamal:
		return fmt.Sprintf("elg%d", bitLength(pk))
	}
	name, ok := map[packet.PublicKeyAlgorithm]string{
		packet.PubKeyAlgoEdDSA: "eddsa", packet.PubKeyAlgoECDH: "ecdh", packet.PubKeyAlgoECDSA: "ecdsa",
		packet.PubKeyAlgoEd25519: "ed25519", packet.PubKeyAlgoX25519: "x25519",
		packet.PubKeyAlgoEd448: "ed448", packet.PubKeyAlgoX448: "x448",
	}[pk.PubKeyAlgo]
	if !ok {
		return fmt.Sprintf("algo%d", pk.PubKeyAlgo)
	}
	if curve, err := pk.Curve(); err == nil && curve != "" {
		name += "-" + strings.ToLower(string(curve))
	}
	return name
}

func bitLength(pk *packet.PublicKey) uint16 {
	bits, _ := pk.BitLength()
	return bits
}
