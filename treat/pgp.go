package treat

import (
	"fmt"

	"github.com/mailseal/mailseal/crypto/pgpmime"
)

// EncryptPGP signs entity with the sender's OpenPGP key and encrypts it to
// recipients as one RFC 3156 multipart/encrypted message (always integrity
// protected). entity must be canonical, as Protect builds it. Callers add
// the sender's own public key to recipients.
func EncryptPGP(entity []byte, signer *pgpmime.PrivateKey, recipients []*pgpmime.PublicKey) (*Entity, error) {
	enc, err := pgpmime.Encrypt(entity, signer, recipients)
	if err != nil {
		return nil, fmt.Errorf("treat: PGP/MIME encrypt: %w", err)
	}
	return &Entity{Fields: []Field{{"Content-Type", enc.ContentType}}, Body: enc.Body}, nil
}
