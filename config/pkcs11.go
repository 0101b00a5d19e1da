package config

import (
	"encoding/hex"
	"fmt"
)

// validatePKCS11 checks ca.pkcs11.*. In a build without the pkcs11 tag a
// configured token is an error (exit 2), never a silent fallback to a key
// in the store: the operator wanted the key in hardware.
func validatePKCS11(p PKCS11Config, backend string) Problems {
	var ps Problems
	bad := func(key, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
	}
	if !p.Enabled() {
		if p.TokenLabel != "" || p.Slot >= 0 || p.PINFile != "" || p.KeyID != "" {
			bad("ca.pkcs11.module", "must be set when other ca.pkcs11 keys are (the PKCS#11 library of the token)")
		}
		return ps
	}
	if !pkcs11Built {
		bad("ca.pkcs11.module", "this mailseal was built without PKCS#11 support; build with -tags pkcs11 (CGO_ENABLED=1), or remove ca.pkcs11.*")
	}
	if backend != "builtin" {
		bad("ca.pkcs11.module", "only the built-in CA (ca.backend: builtin) keeps its key in a token")
	}
	switch {
	case p.TokenLabel == "" && p.Slot < 0:
		bad("ca.pkcs11.token_label", "set ca.pkcs11.token_label or ca.pkcs11.slot to pick the token")
	case p.TokenLabel != "" && p.Slot >= 0:
		bad("ca.pkcs11.slot", "set either ca.pkcs11.token_label or ca.pkcs11.slot, not both")
	}
	if p.Slot < -1 {
		bad("ca.pkcs11.slot", "must be a slot number or -1 (not set), got %d", p.Slot)
	}
	if p.PINFile == "" {
		bad("ca.pkcs11.pin_file", "must name the file holding the token's user PIN")
	}
	if p.KeyLabel == "" && p.KeyID == "" {
		bad("ca.pkcs11.key_label", "set ca.pkcs11.key_label or ca.pkcs11.key_id to name the CA key")
	}
	if p.KeyID != "" {
		if _, err := hex.DecodeString(p.KeyID); err != nil {
			bad("ca.pkcs11.key_id", "%q is not hex (e.g. 01a2)", p.KeyID)
		}
	}
	return ps
}
