package pgpmime

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	gocrypto "github.com/ProtonMail/gopenpgp/v2/crypto"
)

// Encrypted is the multipart/encrypted replacement of a message.
type Encrypted struct {
	// ContentType is the complete value of the new top-level Content-Type
	// field. The caller replaces all top-level Content-* fields by this one
	// field and makes sure "MIME-Version: 1.0" is present.
	ContentType string
	// Body is the new body: CRLF line endings, 7-bit, short lines.
	Body []byte
}

// Encrypt signs entity with signer and encrypts it to recipients, as one
// OpenPGP message (RFC 3156 section 6.2, combined method: the signature is
// inside the encryption), and returns the multipart/encrypted replacement
// (RFC 3156 section 4). entity is the complete MIME entity to protect,
// header fields and body, normally package protect's Result.Entity; it
// should have CRLF line endings (bare LF is turned into CRLF, RFC 3156
// wants the canonical form). recipients must include the sender's own key
// if the sender is to read the sent copy; duplicates are dropped.
//
// The data is always integrity protected (SEIPD with MDC, AES-256 unless
// a recipient announces only AES-128), uncompressed, and the literal data
// is marked binary so that no reader rewrites line ends. A recipient key
// that cannot receive it (expired, revoked, no encryption key, no SEIPD
// support, too weak) fails with ErrKeyUnusable naming the key.
//
// Encrypt never panics.
func Encrypt(entity []byte, signer *PrivateKey, recipients []*PublicKey) (enc *Encrypted, err error) {
	defer func() {
		if r := recover(); r != nil {
			enc, err = nil, fmt.Errorf("%w: encrypt: %v", ErrInternal, r)
		}
	}()
	// gopenpgp reads the time from the system clock (a package-wide
	// setting, UpdateTime, that mailseal never sets): check at the same
	// clock.
	now := time.Now()
	if signer == nil {
		return nil, fmt.Errorf("pgpmime: encrypt: no signing key")
	}
	if err := usablePrivate(signer.entity, now); err != nil {
		return nil, fmt.Errorf("%w: signing key %s: %v", ErrKeyUnusable, signer.info.Fingerprint, err)
	}
	signRing, err := keyRing(signer.entity)
	if err != nil {
		return nil, err
	}
	if len(recipients) == 0 {
		return nil, fmt.Errorf("pgpmime: encrypt: no recipients")
	}
	toRing, err := gocrypto.NewKeyRing(nil)
	if err != nil {
		return nil, fmt.Errorf("pgpmime: encrypt: %w", err)
	}
	seen := map[string]bool{}
	for _, r := range recipients {
		if r == nil {
			return nil, fmt.Errorf("pgpmime: encrypt: nil recipient key")
		}
		fp := r.info.Fingerprint
		if seen[fp] {
			continue
		}
		seen[fp] = true
		sig, _ := r.entity.PrimarySelfSignature()
		info := describe(r.entity, now)
		if why := unusable(r.entity, sig, info, now); why != "" {
			return nil, fmt.Errorf("%w: recipient key %s: %s", ErrKeyUnusable, fp, why)
		}
		k, err := gocrypto.NewKeyFromEntity(r.entity)
		if err != nil {
			return nil, fmt.Errorf("pgpmime: encrypt: recipient key %s: %w", fp, err)
		}
		if err := toRing.AddKey(k); err != nil {
			return nil, fmt.Errorf("pgpmime: encrypt: recipient key %s: %w", fp, err)
		}
	}

	entity = canonicalLineEnds(entity)
	boundary, err := randomBoundary()
	if err != nil {
		return nil, err
	}
	var w bytes.Buffer
	w.Grow(armoredSize(len(entity)))
	w.WriteString(preamble)
	w.WriteString(boundary)
	w.WriteString(versionPart)
	w.WriteString(boundary)
	w.WriteString(dataPartHeader)
	// go-crypto's armor writes LF line ends; crlfWriter makes them CRLF
	// on the way, so the armored text is not copied again.
	aw, err := armor.Encode(crlfWriter{&w}, "PGP MESSAGE", nil)
	if err != nil {
		return nil, fmt.Errorf("pgpmime: encrypt: armor: %w", err)
	}
	// Streaming encryption with binary metadata: like NewPlainMessage
	// (not NewPlainMessageFromString, which rewrites line ends) it keeps
	// the bytes, without holding a second copy of the message.
	pw, err := toRing.EncryptStream(aw, &gocrypto.PlainMessageMetadata{IsBinary: true, ModTime: now.Unix()}, signRing)
	if err != nil {
		return nil, fmt.Errorf("pgpmime: encrypt: %w", err)
	}
	// In chunks: each layer below (partial-length packets, the cipher's
	// StreamWriter) allocates per write as much as it is handed.
	// Those per-write buffers are garbage at once; for a large message
	// they are collected every few MiB instead of piling up to the heap
	// goal (twice what is alive).
	written := 0
	for rest := entity; len(rest) > 0; {
		n := min(len(rest), writeChunk)
		if _, err := pw.Write(rest[:n]); err != nil {
			return nil, fmt.Errorf("pgpmime: encrypt: %w", err)
		}
		rest = rest[n:]
		if written += n; len(entity) >= bigEntity && written >= bigEntity {
			written = 0
			runtime.GC()
		}
	}
	if err := pw.Close(); err != nil {
		return nil, fmt.Errorf("pgpmime: encrypt: %w", err)
	}
	if err := aw.Close(); err != nil {
		return nil, fmt.Errorf("pgpmime: encrypt: armor: %w", err)
	}
	w.WriteString("\r\n\r\n--")
	w.WriteString(boundary)
	w.WriteString("--\r\n")
	return &Encrypted{
		ContentType: `multipart/encrypted; protocol="application/pgp-encrypted"; boundary="` + boundary + `"`,
		Body:        w.Bytes(),
	}, nil
}

// writeChunk is how much of the entity is handed to the encryption at once.
const writeChunk = 64 << 10

// bigEntity is the size from which Encrypt collects its per-write garbage
// as it goes.
const bigEntity = 8 << 20

const (
	preamble    = "This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n--"
	versionPart = "\r\nContent-Type: application/pgp-encrypted\r\n" +
		"Content-Description: PGP/MIME version identification\r\n\r\n" +
		"Version: 1\r\n\r\n--"
	dataPartHeader = "\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n" +
		"Content-Description: OpenPGP encrypted message\r\n" +
		"Content-Disposition: inline; filename=\"encrypted.asc\"\r\n\r\n"
)

// armoredSize bounds the body Encrypt writes for an entity of n bytes, so
// the buffer is allocated once: the OpenPGP message (n plus packet
// headers, session keys and signature: 4 KiB covers RSA-4096 keys for a
// few recipients, more only costs one regrowth), base64 in lines of 64
// with CRLF, and the MIME frame.
func armoredSize(n int) int {
	bin := n + n/512 + 4096 // partial-length headers: 1 byte per 512 B chunk at least
	b64 := (bin + 2) / 3 * 4
	return b64 + b64/64*2 + 1024
}

// randomBoundary returns a fresh boundary. It contains '_', which ASCII
// armor (base64, '=', '-', header lines we do not write) never does, so it
// cannot occur in the body.
func randomBoundary() (string, error) {
	var rnd [18]byte
	if _, err := io.ReadFull(rand.Reader, rnd[:]); err != nil {
		return "", fmt.Errorf("pgpmime: boundary randomness: %w", err)
	}
	return "=_mailseal_" + hex.EncodeToString(rnd[:]), nil
}

// keyRing wraps one entity for gopenpgp.
func keyRing(e *openpgp.Entity) (*gocrypto.KeyRing, error) {
	k, err := gocrypto.NewKeyFromEntity(e)
	if err != nil {
		return nil, fmt.Errorf("pgpmime: key %X: %w", e.PrimaryKey.Fingerprint, err)
	}
	ring, err := gocrypto.NewKeyRing(k)
	if err != nil {
		return nil, fmt.Errorf("pgpmime: key %X: %w", e.PrimaryKey.Fingerprint, err)
	}
	return ring, nil
}

// canonicalLineEnds returns b with every bare LF turned into CRLF; b
// itself when it has none (the usual case), so nothing is copied.
func canonicalLineEnds(b []byte) []byte {
	bare := 0
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			bare++
		}
	}
	if bare == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+bare)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// crlfWriter writes to a buffer, turning each LF into CRLF. Only used for
// armor output, which contains no CR.
type crlfWriter struct{ w *bytes.Buffer }

func (c crlfWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.w.Write(p)
			break
		}
		c.w.Write(p[:i])
		c.w.WriteString("\r\n")
		p = p[i+1:]
	}
	return n, nil
}
