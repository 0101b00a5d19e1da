package treat

import (
	"fmt"
	"runtime/debug"

	"github.com/mailseal/mailseal/crypto/smime"
)

// bigEntity is the size from which a step collects garbage between its
// phases (see EncryptSMIME).
const bigEntity = 8 << 20

// EncryptSMIME signs entity with s (unless s is nil) and encrypts the
// result to recipients: application/pkcs7-mime enveloped-data (AES-256-CBC)
// or authEnveloped-data (AES-256-GCM). entity must be canonical, as Protect
// builds it. Callers add the sender's own certificate to recipients so the
// sent copy stays readable.
func EncryptSMIME(entity []byte, s *smime.Signer, recipients []smime.Recipient, opts smime.EncryptOptions) (*Entity, error) {
	var enc *smime.Encrypted
	var err error
	if s != nil {
		signed, serr := s.SignEntity(entity)
		if serr != nil {
			return nil, fmt.Errorf("treat: sign: %w", serr)
		}
		if len(entity) >= bigEntity {
			// The entity is inside signed now; collect it before the
			// ciphertext is allocated, or the heap grows to twice what
			// is alive.
			entity = nil
			debug.FreeOSMemory()
		}
		enc, err = smime.EncryptSigned(signed, recipients, opts)
	} else {
		enc, err = smime.Encrypt(entity, recipients, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("treat: S/MIME encrypt: %w", err)
	}
	e := &Entity{Body: enc.Body}
	for _, f := range enc.Header() {
		e.Fields = append(e.Fields, Field{f.Name, f.Value})
	}
	return e, nil
}
