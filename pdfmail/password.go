package pdfmail

import (
	"encoding/base32"
	"fmt"
	"io"
	"strings"
)

// passwordAlphabet has 32 symbols (5 bits each) people can read aloud and type:
// lower-case letters and digits without the look-alikes 0/o, 1/l.
const passwordAlphabet = "abcdefghijkmnpqrstuvwxyz23456789"

// Password shape: 4 groups of 4 symbols = 16 symbols × 5 bits = 80 bits.
const (
	passwordGroups    = 4
	passwordGroupSize = 4
	// PasswordBits is the entropy of a NewPassword password.
	PasswordBits = passwordGroups * passwordGroupSize * 5
)

// NewPassword returns a random user password of PasswordBits (80) bits in groups
// people can type, like "kfp3-x7qa-m9dt-hw2e". rand should be crypto/rand.Reader.
func NewPassword(rand io.Reader) (string, error) {
	buf := make([]byte, passwordGroups*passwordGroupSize)
	if _, err := io.ReadFull(rand, buf); err != nil {
		return "", fmt.Errorf("pdfmail: password: %w", err)
	}
	var b strings.Builder
	for i, c := range buf {
		if i > 0 && i%passwordGroupSize == 0 {
			b.WriteByte('-')
		}
		// 256 is a multiple of 32: taking the low 5 bits is unbiased.
		b.WriteByte(passwordAlphabet[c&31])
	}
	return b.String(), nil
}

// NewOwnerPassword returns a random owner password (256 bits) that nobody needs to
// type: it only guards the permissions and is never shown.
func NewOwnerPassword(rand io.Reader) (string, error) {
	buf := make([]byte, 32)
	if _, err := io.ReadFull(rand, buf); err != nil {
		return "", fmt.Errorf("pdfmail: owner password: %w", err)
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(buf)), nil
}
