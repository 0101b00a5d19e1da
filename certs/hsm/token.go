//go:build pkcs11

package hsm

import (
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/ThalesGroup/crypto11"

	"github.com/mailseal/mailseal/certs"
)

// Supported reports whether this build can talk to PKCS#11 tokens.
const Supported = true

// Token is a logged-in session pool on one PKCS#11 token. It is safe for
// concurrent use; Close logs out.
type Token struct {
	cfg   Config
	ctx   *crypto11.Context
	id    []byte
	label []byte

	mu  sync.Mutex
	key crypto.Signer
}

var _ certs.CAKeyStore = (*Token)(nil)

// Open loads the module, finds the token and logs in with the PIN from
// cfg.PINFile.
func Open(cfg Config) (*Token, error) {
	id, err := cfg.keyID()
	if err != nil {
		return nil, err
	}
	if cfg.KeyLabel == "" && len(id) == 0 {
		return nil, errors.New("hsm: a key label or key id is needed")
	}
	pin, err := readPIN(cfg.PINFile)
	if err != nil {
		return nil, err
	}
	c := &crypto11.Config{Path: cfg.Module, Pin: pin}
	if cfg.TokenLabel != "" {
		c.TokenLabel = cfg.TokenLabel
	} else {
		slot := cfg.Slot
		c.SlotNumber = &slot
	}
	ctx, err := crypto11.Configure(c)
	if err != nil {
		return nil, fmt.Errorf("hsm: open %s (module %s): %w", cfg.Reference(), cfg.Module, err)
	}
	t := &Token{cfg: cfg, ctx: ctx, id: id}
	if cfg.KeyLabel != "" {
		t.label = []byte(cfg.KeyLabel)
	}
	return t, nil
}

// Reference names the key, e.g. "pkcs11:token=mailseal;object=mailseal-ca".
func (t *Token) Reference() string { return t.cfg.Reference() }

// CAKey finds the key pair by label and/or ID. When there is none and
// create is true, it generates an ECDSA P-384 pair inside the token:
// CKA_TOKEN, CKA_SENSITIVE true and CKA_EXTRACTABLE false, so the private
// key cannot be read out. A key found must be one that never left the
// token (CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE), so an imported
// copy of a key that exists elsewhere is refused.
func (t *Token) CAKey(create bool) (crypto.Signer, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.key != nil {
		return t.key, nil
	}
	keys, err := t.ctx.FindKeyPairs(t.id, t.label)
	if err != nil {
		return nil, fmt.Errorf("hsm: find key %s: %w", t.Reference(), err)
	}
	var key crypto.Signer
	switch {
	case len(keys) > 1:
		return nil, fmt.Errorf("hsm: %d key pairs match %s: set ca.pkcs11.key_id to pick one", len(keys), t.Reference())
	case len(keys) == 1:
		key = keys[0]
	case !create:
		return nil, fmt.Errorf("hsm: no key pair %s in the token (deleted, or another token?)", t.Reference())
	default:
		id := t.id
		if len(id) == 0 {
			// crypto11 finds pairs only by a non-empty CKA_ID.
			id = make([]byte, 16)
			if _, err := rand.Read(id); err != nil {
				return nil, fmt.Errorf("hsm: random key id: %w", err)
			}
		}
		if key, err = t.ctx.GenerateECDSAKeyPairWithLabel(id, t.label, elliptic.P384()); err != nil {
			return nil, fmt.Errorf("hsm: generate key %s: %w", t.Reference(), err)
		}
	}
	if err := t.checkNeverExtracted(key); err != nil {
		return nil, err
	}
	t.key = key
	return key, nil
}

// checkNeverExtracted refuses a private key that is or ever was readable
// outside the token.
func (t *Token) checkNeverExtracted(key crypto.Signer) error {
	attrs, err := t.ctx.GetAttributes(key, []crypto11.AttributeType{
		crypto11.CkaSensitive, crypto11.CkaExtractable, crypto11.CkaAlwaysSensitive, crypto11.CkaNeverExtractable,
	})
	if err != nil {
		return fmt.Errorf("hsm: read attributes of key %s: %w", t.Reference(), err)
	}
	want := []struct {
		attr crypto11.AttributeType
		name string
		val  bool
	}{
		{crypto11.CkaSensitive, "CKA_SENSITIVE", true},
		{crypto11.CkaExtractable, "CKA_EXTRACTABLE", false},
		{crypto11.CkaAlwaysSensitive, "CKA_ALWAYS_SENSITIVE", true},
		{crypto11.CkaNeverExtractable, "CKA_NEVER_EXTRACTABLE", true},
	}
	for _, w := range want {
		a := attrs[w.attr]
		if a == nil || len(a.Value) != 1 || (a.Value[0] != 0) != w.val {
			return fmt.Errorf("hsm: key %s is not kept inside the token (%s is not %t): use a key generated in the token as sensitive and not extractable, "+
				"or let mailseal generate one (a label/ID no key has yet)", t.Reference(), w.name, w.val)
		}
	}
	return nil
}

// Close logs out and unloads the module.
func (t *Token) Close() error { return t.ctx.Close() }
