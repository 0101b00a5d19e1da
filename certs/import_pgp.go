package certs

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

var armorStart = []byte("-----BEGIN PGP ")

// ParsePGPKeys reads the OpenPGP keys in a file: binary, or any number of
// ASCII-armored blocks, each holding one or more keys. Secret keys are
// refused: the directory keeps partners' public keys only. Self-signatures
// are verified by the parser. It never panics on crafted input.
func ParsePGPKeys(data []byte) (list openpgp.EntityList, err error) {
	defer func() {
		if r := recover(); r != nil {
			list, err = nil, fmt.Errorf("certs: malformed OpenPGP data (%v)", r)
		}
	}()
	if len(data) > MaxKeyFileSize {
		return nil, fmt.Errorf("certs: file larger than %d bytes", MaxKeyFileSize)
	}
	if i := bytes.Index(data, armorStart); i >= 0 {
		// armor.Decode reads through a buffer, so decode block by block.
		for _, chunk := range bytes.Split(data[i:], armorStart)[1:] {
			block, err := armor.Decode(bytes.NewReader(append(slices.Clip(armorStart), chunk...)))
			if err != nil {
				return nil, fmt.Errorf("certs: OpenPGP armor: %w", err)
			}
			switch block.Type {
			case openpgp.PublicKeyType:
			case openpgp.PrivateKeyType:
				return nil, errors.New("certs: this is a secret key: export and import the public key only")
			default:
				return nil, fmt.Errorf("certs: OpenPGP armor block %q is not a public key", block.Type)
			}
			el, err := openpgp.ReadKeyRing(block.Body)
			if err != nil {
				return nil, fmt.Errorf("certs: OpenPGP key: %w", err)
			}
			list = append(list, el...)
		}
	} else if list, err = openpgp.ReadKeyRing(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("certs: OpenPGP key: %w", err)
	}
	if len(list) == 0 {
		return nil, errors.New("certs: no OpenPGP public key found")
	}
	for _, e := range list {
		if e.PrivateKey != nil {
			return nil, errors.New("certs: this is a secret key: export and import the public key only")
		}
	}
	return list, nil
}

// partnerPGPFingerprint is the primary key's fingerprint, upper-case hex as gpg
// shows it.
func partnerPGPFingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}

// checkPGPEntity returns the key to encrypt to at now, or says why there is
// none: revoked, expired, no encryption-capable (sub)key, or a weak one.
func checkPGPEntity(e *openpgp.Entity, now time.Time) (openpgp.Key, error) {
	if e.Revoked(now) {
		return openpgp.Key{}, errors.New("the key is revoked")
	}
	sig, _ := e.PrimarySelfSignature()
	if sig == nil {
		return openpgp.Key{}, errors.New("no valid self-signature")
	}
	if e.PrimaryKey.KeyExpired(sig, now) {
		if exp := keyExpiry(e.PrimaryKey, sig); !exp.IsZero() && now.After(exp) {
			return openpgp.Key{}, fmt.Errorf("the key expired on %s", exp.UTC().Format(time.RFC3339))
		}
		return openpgp.Key{}, errors.New("the key is not valid yet")
	}
	k, ok := e.EncryptionKey(now)
	if !ok {
		return openpgp.Key{}, errors.New("no valid encryption key (missing, expired or revoked subkey)")
	}
	switch k.PublicKey.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoElGamal:
		bits, err := k.PublicKey.BitLength()
		if err != nil || bits < 2048 {
			return openpgp.Key{}, fmt.Errorf("encryption key of %d bits: at least 2048 are required", bits)
		}
	}
	return k, nil
}

// keyExpiry is when pk expires by its self-signature sig; zero for never.
func keyExpiry(pk *packet.PublicKey, sig *packet.Signature) time.Time {
	if sig == nil || sig.KeyLifetimeSecs == nil || *sig.KeyLifetimeSecs == 0 {
		return time.Time{}
	}
	return pk.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
}

// pgpAddresses returns the normalised addresses of the user IDs that are
// self-signed and not revoked at now, sorted.
func pgpAddresses(e *openpgp.Entity, now time.Time) []string {
	var out []string
	for _, id := range e.Identities {
		if id.UserId == nil || id.SelfSignature == nil || id.Revoked(now) || id.SelfSignature.SigExpired(now) {
			continue
		}
		if norm, err := NormalizeAddress(id.UserId.Email); err == nil && !slices.Contains(out, norm) {
			out = append(out, norm)
		}
	}
	slices.Sort(out)
	return out
}

// ImportPGPKeys stores the public keys in one file (see ParsePGPKeys). Each
// key is checked on its own; the error is for store failures only.
func (d *Directory) ImportPGPKeys(ctx context.Context, name string, data []byte, opts ImportOptions) (*ImportResult, error) {
	opts = opts.withDefaults()
	res := &ImportResult{}
	list, err := ParsePGPKeys(data)
	if err != nil {
		res.reject(name, "", "%s", trimPkg(err))
		return res, nil
	}
	now := d.now()
	seen := map[string]bool{}
	for _, e := range list {
		fp := partnerPGPFingerprint(e)
		if seen[fp] {
			continue // the same key twice in one file
		}
		seen[fp] = true
		item := "key " + fp
		rec, err := pgpRecord(e, now)
		if err != nil {
			res.reject(name, item, "%v", err)
			continue
		}
		rec.Provenance, rec.Trust, rec.AddedAt = opts.Provenance, opts.Trust, now
		if err := d.store.PutPartnerPGPKey(ctx, rec); err != nil {
			return res, err
		}
		res.Stored = append(res.Stored, ImportedKey{Fingerprint: fp, Emails: rec.Emails, NotAfter: rec.ExpiresAt})
	}
	return res, nil
}

// pgpRecord checks a parsed key and builds its record. The checks walk
// signatures and key material from outside: they run behind recover too.
func pgpRecord(e *openpgp.Entity, now time.Time) (rec *PartnerPGPKey, err error) {
	defer func() {
		if r := recover(); r != nil {
			rec, err = nil, fmt.Errorf("malformed key (%v)", r)
		}
	}()
	k, err := checkPGPEntity(e, now)
	if err != nil {
		return nil, err
	}
	emails := pgpAddresses(e, now)
	if len(emails) == 0 {
		return nil, errors.New("no valid user ID with an email address")
	}
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("cannot serialise: %w", err)
	}
	primarySig, _ := e.PrimarySelfSignature()
	expires := keyExpiry(e.PrimaryKey, primarySig)
	if sub := keyExpiry(k.PublicKey, k.SelfSignature); !sub.IsZero() && (expires.IsZero() || sub.Before(expires)) {
		expires = sub
	}
	return &PartnerPGPKey{
		Fingerprint: partnerPGPFingerprint(e),
		KeyData:     buf.Bytes(),
		Emails:      emails,
		CreatedAt:   k.PublicKey.CreationTime,
		ExpiresAt:   expires,
	}, nil
}
