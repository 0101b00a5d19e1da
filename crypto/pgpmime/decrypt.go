package pgpmime

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// SignatureStatus is the outcome of verifying a decrypted message.
type SignatureStatus int

const (
	// Unsigned: the message carries no signature.
	Unsigned SignatureStatus = iota
	// SignatureGood: signed by one of the verification keys, and the
	// signature is valid now.
	SignatureGood
	// UnknownSigner: signed by a key that is not among the verification
	// keys; nothing is known about the signature.
	UnknownSigner
	// SignatureBad: signed by a verification key, but the signature does
	// not verify (altered content; for Decrypt also an expired or revoked
	// key or a weak hash).
	SignatureBad
	// SignatureKeyExpired (Verify): the signature is by a known key that
	// has expired (or whose signature has).
	SignatureKeyExpired
	// SignatureKeyRevoked (Verify): the signature is by a revoked key.
	SignatureKeyRevoked
	// SignatureWeak (Verify): a valid signature with a weak digest (SHA-1,
	// MD5, RIPEMD-160) or by a key below MinRSABits.
	SignatureWeak
)

func (s SignatureStatus) String() string {
	switch s {
	case Unsigned:
		return "unsigned"
	case SignatureGood:
		return "good"
	case UnknownSigner:
		return "unknown signer"
	case SignatureBad:
		return "bad"
	case SignatureKeyExpired:
		return "key expired"
	case SignatureKeyRevoked:
		return "key revoked"
	case SignatureWeak:
		return "weak algorithm"
	}
	return fmt.Sprintf("SignatureStatus(%d)", int(s))
}

// DecryptOptions tune Decrypt. The zero value is ready to use.
type DecryptOptions struct {
	// Now is the time signatures and keys are checked at; zero means
	// time.Now().
	Now time.Time
	// MaxSize limits the decrypted content (compressed data can expand
	// enormously); zero means DefaultMaxDecryptedSize.
	MaxSize int64
}

// DefaultMaxDecryptedSize is the default limit on decrypted content.
const DefaultMaxDecryptedSize = 256 << 20

// Decrypted is a decrypted message and what is known of its signature.
type Decrypted struct {
	// Entity is the decrypted MIME entity, byte for byte.
	Entity []byte
	// Signature is the verification outcome.
	Signature SignatureStatus
	// SignerFingerprint is the primary fingerprint of the verification
	// key that made a good or bad signature, upper-case hex.
	SignerFingerprint string
	// SignerKeyID is the key ID the signature names (any status but
	// Unsigned), upper-case hex.
	SignerKeyID string
	// Signed is the signature's creation time (good or bad signatures).
	Signed time.Time
	// SignatureError says why a signature is bad.
	SignatureError error
}

// Decrypt decrypts a PGP/MIME message (RFC 3156: contentType is the
// top-level Content-Type value, body the body) with key and verifies its
// signature against verifiers. Only keys in verifiers can make a good
// signature: with none, a signed message is reported UnknownSigner, never
// good (unlike gopenpgp, whose nil verification key ring skips
// verification silently).
//
// Refused: data that is not multipart/encrypted PGP/MIME or cannot be
// parsed (ErrMalformed), OpenPGP data that is not encrypted
// (ErrNotEncrypted) or lacks integrity protection
// (ErrNotIntegrityProtected), data not for key or altered (ErrDecrypt),
// content over the size limit (ErrTooLarge).
//
// Decrypt reads outside data: it never panics.
func Decrypt(contentType string, body []byte, key *PrivateKey, verifiers []*PublicKey, opts DecryptOptions) (d *Decrypted, err error) {
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, fmt.Errorf("%w: decrypt: %v", ErrMalformed, r)
		}
	}()
	if key == nil {
		return nil, fmt.Errorf("pgpmime: decrypt: no decryption key")
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	limit := opts.MaxSize
	if limit <= 0 {
		limit = DefaultMaxDecryptedSize
	}
	armored, err := encryptedPart(contentType, body)
	if err != nil {
		return nil, err
	}
	block, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("%w: armor: %v", ErrMalformed, err)
	}
	if block.Type != "PGP MESSAGE" {
		return nil, fmt.Errorf("%w: armor block is %q, not PGP MESSAGE", ErrMalformed, block.Type)
	}
	bin, err := io.ReadAll(block.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: armor: %v", ErrMalformed, err)
	}
	if err := checkEncrypted(bin); err != nil {
		return nil, err
	}

	// One key ring for go-crypto: our key decrypts, the verifiers (and,
	// unavoidably, our own key) can be found as signers; a signature by a
	// key outside verifiers is reported UnknownSigner below.
	ring := openpgp.EntityList{key.entity}
	trusted := map[string]bool{}
	for _, v := range verifiers {
		if v == nil {
			continue
		}
		ring = append(ring, v.entity)
		trusted[v.info.Fingerprint] = true
	}
	cfg := &packet.Config{Time: func() time.Time { return now }}
	md, err := openpgp.ReadMessage(bytes.NewReader(bin), ring, nil, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	if !md.IsEncrypted || md.IsSymmetricallyEncrypted {
		return nil, fmt.Errorf("%w: not encrypted to a key", ErrNotEncrypted)
	}
	var out bytes.Buffer
	n, err := out.ReadFrom(io.LimitReader(md.UnverifiedBody, limit+1))
	if err != nil {
		// The MDC (or a signature packet) is checked at the end of the
		// data: an error here means altered or truncated data.
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, limit)
	}
	d = &Decrypted{Entity: out.Bytes()}
	verify(d, md, trusted)
	return d, nil
}

// acceptedHashes are the signature digests accepted as good.
var acceptedHashes = map[crypto.Hash]bool{
	crypto.SHA224: true, crypto.SHA256: true, crypto.SHA384: true, crypto.SHA512: true,
	crypto.SHA3_256: true, crypto.SHA3_512: true,
}

// verify fills the signature fields of d after the body was read to EOF
// (only then has go-crypto checked the signature).
func verify(d *Decrypted, md *openpgp.MessageDetails, trusted map[string]bool) {
	if !md.IsSigned {
		d.Signature = Unsigned
		return
	}
	d.SignerKeyID = fmt.Sprintf("%016X", md.SignedByKeyId)
	if md.SignedBy == nil || md.SignedBy.Entity == nil {
		d.Signature = UnknownSigner
		return
	}
	fp := strings.ToUpper(fmt.Sprintf("%x", md.SignedBy.Entity.PrimaryKey.Fingerprint))
	if !trusted[fp] {
		d.Signature = UnknownSigner
		return
	}
	d.SignerFingerprint = fp
	if md.Signature != nil {
		d.Signed = md.Signature.CreationTime
	}
	switch {
	case md.SignatureError != nil:
		d.Signature, d.SignatureError = SignatureBad, md.SignatureError
	case md.Signature == nil:
		d.Signature, d.SignatureError = SignatureBad, errors.New("no signature packet")
	case !acceptedHashes[md.Signature.Hash]:
		d.Signature, d.SignatureError = SignatureBad, fmt.Errorf("weak signature digest %v", md.Signature.Hash)
	default:
		d.Signature = SignatureGood
	}
}

// encryptedPart checks the RFC 3156 structure and returns the armored
// OpenPGP message from the second part.
func encryptedPart(contentType string, body []byte) ([]byte, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("%w: Content-Type: %v", ErrMalformed, err)
	}
	if mt != "multipart/encrypted" || !strings.EqualFold(params["protocol"], "application/pgp-encrypted") {
		return nil, fmt.Errorf("%w: %s (protocol %q) is not PGP/MIME", ErrMalformed, mt, params["protocol"])
	}
	if params["boundary"] == "" {
		return nil, fmt.Errorf("%w: multipart/encrypted without boundary", ErrMalformed)
	}
	r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var parts [][]byte
	var types []string
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: multipart: %v", ErrMalformed, err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, fmt.Errorf("%w: multipart: %v", ErrMalformed, err)
		}
		t, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts, types = append(parts, data), append(types, t)
		if len(parts) > 2 {
			break
		}
	}
	if len(parts) != 2 {
		return nil, fmt.Errorf("%w: multipart/encrypted has %d parts, want 2", ErrMalformed, len(parts))
	}
	if types[0] != "application/pgp-encrypted" || !bytes.Contains(parts[0], []byte("Version: 1")) {
		return nil, fmt.Errorf("%w: first part is %q, not the application/pgp-encrypted \"Version: 1\" part", ErrMalformed, types[0])
	}
	if types[1] != "application/octet-stream" {
		return nil, fmt.Errorf("%w: second part is %q, not application/octet-stream", ErrMalformed, types[1])
	}
	return parts[1], nil
}

// checkEncrypted walks the packets in front of the encrypted data: only
// session key packets may precede it, and the data packet must be
// integrity protected (SEIPD v1 with MDC, SEIPD v2 or the AEAD packet).
// go-crypto would refuse a SED packet too, but would also "decrypt" a
// message that is not encrypted at all.
func checkEncrypted(bin []byte) error {
	r := packet.NewReader(bytes.NewReader(bin))
	for {
		p, err := r.Next()
		if err == io.EOF {
			return fmt.Errorf("%w: no encrypted data", ErrNotEncrypted)
		}
		if err != nil {
			return fmt.Errorf("%w: OpenPGP packets: %v", ErrMalformed, err)
		}
		switch p := p.(type) {
		case *packet.EncryptedKey, *packet.SymmetricKeyEncrypted:
			continue
		case *packet.SymmetricallyEncrypted:
			if !p.IntegrityProtected {
				return ErrNotIntegrityProtected
			}
			return nil
		case *packet.AEADEncrypted:
			return nil
		default:
			return fmt.Errorf("%w: found %T before any encrypted data", ErrNotEncrypted, p)
		}
	}
}
