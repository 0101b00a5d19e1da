// Package hsm holds the built-in CA's private key in a PKCS#11 token (an
// HSM, or SoftHSM2 for tests): the key is generated inside the token as
// sensitive and not extractable, and every signature is made there.
//
// PKCS#11 modules are C libraries, so talking to one needs cgo. The default
// mailseal build is static (CGO_ENABLED=0) and has no PKCS#11 support: Open
// then fails with ErrNotSupported. Build with `-tags pkcs11` (and cgo) for it.
package hsm

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ErrNotSupported is returned by Open in a build without the pkcs11 tag.
var ErrNotSupported = errors.New("this mailseal was built without PKCS#11 support; build with -tags pkcs11 (CGO_ENABLED=1)")

// Config selects the token and the key (the ca.pkcs11.* keys).
type Config struct {
	Module     string // path of the PKCS#11 library
	TokenLabel string // token by label, or
	Slot       int    // token by slot number (-1: use TokenLabel)
	PINFile    string // file holding the user PIN
	KeyLabel   string // CKA_LABEL of the key pair
	KeyID      string // CKA_ID of the key pair, hex; may be empty
}

// Reference names the key in the RFC 7512 PKCS#11 URI style, for logs and
// for the CA row (which records where its key is).
func (c Config) Reference() string {
	var b strings.Builder
	b.WriteString("pkcs11:")
	if c.Slot >= 0 && c.TokenLabel == "" {
		fmt.Fprintf(&b, "slot-id=%d", c.Slot)
	} else {
		b.WriteString("token=" + c.TokenLabel)
	}
	if c.KeyLabel != "" {
		b.WriteString(";object=" + c.KeyLabel)
	}
	if c.KeyID != "" {
		b.WriteString(";id=" + strings.ToLower(c.KeyID))
	}
	return b.String()
}

// keyID decodes KeyID.
func (c Config) keyID() ([]byte, error) {
	if c.KeyID == "" {
		return nil, nil
	}
	id, err := hex.DecodeString(c.KeyID)
	if err != nil {
		return nil, fmt.Errorf("hsm: key id %q is not hex", c.KeyID)
	}
	return id, nil
}

// readPIN reads the PIN file: the first line, surrounding white space
// removed. Like the master key, the file must not be readable by group or
// others.
func readPIN(path string) (string, error) {
	if path == "" {
		return "", errors.New("hsm: no PIN file (ca.pkcs11.pin_file)")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hsm: PIN file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("hsm: PIN file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("hsm: PIN file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("hsm: PIN file %s has mode %04o: it must not be accessible by group or others (chmod 600)", path, perm)
	}
	raw, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("hsm: read PIN file: %w", err)
	}
	pin, _, _ := strings.Cut(string(raw), "\n")
	pin = strings.TrimSpace(pin)
	if pin == "" {
		return "", fmt.Errorf("hsm: PIN file %s is empty", path)
	}
	return pin, nil
}
