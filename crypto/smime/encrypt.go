package smime

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"
)

// Cipher is the content encryption of an encrypted message.
type Cipher int

const (
	// AES256CBC is AES-256-CBC in an EnvelopedData (RFC 5652, RFC 3565):
	// every S/MIME client reads it. The zero value, so the default.
	AES256CBC Cipher = iota
	// AES256GCM is AES-256-GCM with a 16-octet tag in an AuthEnvelopedData
	// (RFC 5083, RFC 5084), the S/MIME 4.0 (RFC 8551) choice: the content
	// cannot be altered unnoticed. Only for recipients that announced it.
	AES256GCM
)

// String returns the name used in configuration (smime_cipher).
func (c Cipher) String() string {
	switch c {
	case AES256CBC:
		return "aes256-cbc"
	case AES256GCM:
		return "aes256-gcm"
	}
	return fmt.Sprintf("Cipher(%d)", int(c))
}

// EncryptOptions tune Encrypt. The zero value is AES-256-CBC with the
// system's randomness and clock.
type EncryptOptions struct {
	Cipher Cipher
	// Rand is the source of content keys, IVs, nonces, ephemeral keys and
	// RSA padding (default crypto/rand.Reader). It need not be safe for
	// concurrent use: one Encrypt call uses it from one goroutine.
	Rand io.Reader
	// Now is the clock for the recipient certificate validity check
	// (default time.Now).
	Now func() time.Time
}

// Encrypted is the application/pkcs7-mime replacement of a message.
type Encrypted struct {
	// ContentType is the complete value of the new top-level Content-Type
	// field. The caller replaces all top-level Content-* fields by the
	// fields of Header and makes sure "MIME-Version: 1.0" is present.
	ContentType string
	// Body is the base64 of the CMS structure in lines of 76 characters,
	// each ended by CRLF.
	Body []byte
}

// Header returns the content header fields of the encrypted message:
// Content-Type, Content-Transfer-Encoding, Content-Disposition and
// Content-Description.
func (e *Encrypted) Header() []HeaderField {
	return []HeaderField{
		{"Content-Type", e.ContentType},
		{"Content-Transfer-Encoding", "base64"},
		{"Content-Disposition", `attachment; filename="smime.p7m"`},
		{"Content-Description", "S/MIME Encrypted Message"},
	}
}

var (
	// ErrRecipient means a recipient certificate cannot be encrypted to
	// (wrong key type or size, key usage, expired). Permanent until the
	// recipient's certificate changes.
	ErrRecipient = errors.New("smime: unusable recipient certificate")
	// ErrNoRecipients means Encrypt was called without recipients.
	ErrNoRecipients = errors.New("smime: no recipients")
)

// Content types of the encrypted message (RFC 8551 3.2.2; "authEnveloped-
// data" since S/MIME 4.0).
const (
	contentTypeEnveloped     = `application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"`
	contentTypeAuthEnveloped = `application/pkcs7-mime; smime-type=authEnveloped-data; name="smime.p7m"`
)

// Encrypt encrypts one MIME entity to recipients. entity is a complete
// MIME entity with CRLF line ends: its content header fields, an empty
// line and the body, for example "Content-Type: " + signed.ContentType +
// "\r\n\r\n" + signed.Body (EncryptSigned does exactly that without
// copying the body). Its bytes are encrypted as they are; they come back
// byte for byte from the recipients' clients.
//
// Every recipient gets its own RecipientInfo, identified by issuer and
// serial number (or subject key identifier, Recipient.BySKI): RSA keys by
// key transport, EC keys by ephemeral-static ECDH (RFC 5753). To keep a
// bounce readable by the sender, include the sender's own certificate
// among the recipients. A certificate listed twice gets one
// RecipientInfo.
//
// Encrypt never panics; errors wrap ErrRecipient, ErrNoRecipients,
// ErrTooLarge or ErrInternal where they apply.
func Encrypt(entity []byte, recipients []Recipient, opts EncryptOptions) (*Encrypted, error) {
	return encryptParts([][]byte{entity}, recipients, opts)
}

// EncryptSigned encrypts the multipart/signed result of Signer.Sign: the
// entity "Content-Type: <signed.ContentType>" CRLF CRLF <signed.Body>
// (RFC 8551 3.4: sign first, then encrypt).
func EncryptSigned(signed *Signed, recipients []Recipient, opts EncryptOptions) (*Encrypted, error) {
	if signed == nil {
		return nil, errors.New("smime: encrypt: nothing to encrypt")
	}
	head := []byte("Content-Type: " + signed.ContentType + "\r\n\r\n")
	return encryptParts([][]byte{head, signed.Body}, recipients, opts)
}

// encryptParts encrypts the concatenation of parts. The message is large
// (up to the size limit) while everything around it is small, so neither
// a copy of the plaintext nor a DER buffer is made: the parts are copied
// into the end of the output buffer, encrypted there in place, and the
// DER around them is base64-encoded with them into the same buffer. The
// allocations stay near 1.37 times the message (the base64 text) for
// either cipher.
func encryptParts(parts [][]byte, recipients []Recipient, opts EncryptOptions) (enc *Encrypted, err error) {
	defer func() {
		if r := recover(); r != nil {
			enc, err = nil, fmt.Errorf("%w: encrypt: %v", ErrInternal, r)
		}
	}()
	rnd := opts.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	if opts.Cipher != AES256CBC && opts.Cipher != AES256GCM {
		return nil, fmt.Errorf("smime: encrypt: unknown cipher %v", opts.Cipher)
	}
	cek := make([]byte, 32)
	if _, err := io.ReadFull(rnd, cek); err != nil {
		return nil, fmt.Errorf("smime: encrypt: content key randomness: %w", err)
	}
	ris, version, err := recipientInfos(recipients, cek, rnd, now())
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, fmt.Errorf("smime: encrypt: %w", err)
	}
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n > maxEncryptSize {
		return nil, fmt.Errorf("%w: %d octets to encrypt, at most %d", ErrTooLarge, n, maxEncryptSize)
	}
	var (
		contentType = oidEnvelopedData
		mime        = contentTypeEnveloped
		alg         []byte
		ctLen       = n
		tagLen      int
		iv          []byte
		aead        cipher.AEAD
	)
	switch opts.Cipher {
	case AES256CBC:
		iv = make([]byte, aes.BlockSize)
		if _, err := io.ReadFull(rnd, iv); err != nil {
			return nil, fmt.Errorf("smime: encrypt: IV randomness: %w", err)
		}
		alg = derAlgorithm(oidAES256CBC, tlv(tagOctetString, iv))
		ctLen = (n/aes.BlockSize + 1) * aes.BlockSize
	case AES256GCM:
		contentType, mime, version, tagLen = oidAuthEnvelopedData, contentTypeAuthEnveloped, 0, gcmTagSize
		if aead, err = cipher.NewGCMWithTagSize(block, gcmTagSize); err != nil {
			return nil, fmt.Errorf("smime: encrypt: %w", err)
		}
		iv = make([]byte, aead.NonceSize())
		if _, err := io.ReadFull(rnd, iv); err != nil {
			return nil, fmt.Errorf("smime: encrypt: nonce randomness: %w", err)
		}
		// GCMParameters: aes-ICVlen defaults to 12, so 16 is written.
		alg = derAlgorithm(oidAES256GCM, tlv(tagSequence, tlv(tagOctetString, iv), derInt(gcmTagSize)))
	}

	// ContentInfo { contentType, [0] { (Auth)EnvelopedData { version,
	// recipientInfos, EncryptedContentInfo { id-data, alg, [0] ciphertext }
	// [, mac] } } }
	riSet := derSetOf(ris)
	eciHead := append(derOID(oidData), alg...)
	eciLen := len(eciHead) + headerLen(ctLen) + ctLen
	macLen := 0
	if tagLen > 0 {
		macLen = headerLen(tagLen) + tagLen
	}
	ver := derInt(version)
	edLen := len(ver) + len(riSet) + headerLen(eciLen) + eciLen + macLen
	wrapLen := headerLen(edLen) + edLen
	oid := derOID(contentType)
	ciLen := len(oid) + headerLen(wrapLen) + wrapLen
	var prefix []byte
	prefix = appendHeader(prefix, tagSequence, ciLen)
	prefix = append(prefix, oid...)
	prefix = appendHeader(prefix, 0xa0, wrapLen)
	prefix = appendHeader(prefix, tagSequence, edLen)
	prefix = append(prefix, ver...)
	prefix = append(prefix, riSet...)
	prefix = appendHeader(prefix, tagSequence, eciLen)
	prefix = append(prefix, eciHead...)
	prefix = appendHeader(prefix, 0x80, ctLen)
	total := headerLen(ciLen) + ciLen

	// The ciphertext (and GCM tag) is made at the end of the output buffer
	// and base64-encoded forward from the start of it; the text never
	// overtakes the ciphertext still to be read (see encodeLines).
	out := make([]byte, base64LinesLen(total))
	off := len(out) - ctLen - tagLen
	ct := out[off : off+ctLen]
	w := off
	for _, p := range parts {
		w += copy(out[w:], p)
	}
	var suffix []byte
	switch opts.Cipher {
	case AES256CBC:
		pad := byte(ctLen - n) // PKCS #7 padding, RFC 5652 6.3
		for i := off + n; i < off+ctLen; i++ {
			out[i] = pad
		}
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, ct)
	case AES256GCM:
		sealed := aead.Seal(out[off:off], iv, out[off:off+n], nil)
		suffix = tlv(tagOctetString, sealed[ctLen:]) // the tag, copied before the text reaches it
	}
	if got := encodeLines(out, [][]byte{prefix, ct, suffix}); got != len(out) || len(prefix)+ctLen+len(suffix) != total {
		return nil, fmt.Errorf("%w: encrypt: encoded %d octets of %d", ErrInternal, got, len(out))
	}
	return &Encrypted{ContentType: mime, Body: out}, nil
}

const gcmTagSize = 16

// maxEncryptSize keeps every DER length within four octets (and far above
// any mail size limit).
const maxEncryptSize = 1<<31 - 1<<20

// base64LinesLen is the length of encodeLines' output for n octets.
func base64LinesLen(n int) int {
	b64 := base64.StdEncoding.EncodedLen(n)
	return b64 + 2*((b64+75)/76)
}

// encodeLines writes the base64 of the concatenated segments into out in
// lines of 76 characters, each ended by CRLF, and returns the length
// written.
//
// A segment may lie in out itself, at its end (the ciphertext): line k
// reads 57 octets and then writes 78, so for a segment placed to end where
// the text ends (less a tag kept elsewhere), the text written so far
// stays before the octets still to be read: after k full lines it has
// written 78k and read 57k octets, and 21k stays below the room left
// (len(out) - DER length is about 21 per line, plus the last line).
func encodeLines(out []byte, segs [][]byte) int {
	var line [57]byte
	w, si, sp := 0, 0, 0
	for {
		k := 0
		for k < len(line) && si < len(segs) {
			c := copy(line[k:], segs[si][sp:])
			k, sp = k+c, sp+c
			if sp == len(segs[si]) {
				si, sp = si+1, 0
			}
		}
		if k == 0 {
			return w
		}
		base64.StdEncoding.Encode(out[w:], line[:k])
		w += base64.StdEncoding.EncodedLen(k)
		out[w], out[w+1] = '\r', '\n'
		w += 2
		if k < len(line) {
			return w
		}
	}
}
