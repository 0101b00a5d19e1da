package smime

import (
	"bytes"
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
// Encrypt never panics; errors wrap ErrRecipient, ErrNoRecipients or
// ErrInternal where they apply.
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
// (up to the size limit) while everything around it is small, so the
// ciphertext is never assembled in a DER buffer: it is encrypted in
// chunks and base64-encoded straight into the output (for CBC; GCM seals
// in one piece), which keeps the allocations near 1.4 (CBC) or 2.4 (GCM)
// times the message.
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
	var (
		contentType = oidEnvelopedData
		mime        = contentTypeEnveloped
		alg         []byte
		ctLen       int
		sealed      []byte // GCM: ciphertext and tag
		iv          []byte
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
		contentType, mime, version = oidAuthEnvelopedData, contentTypeAuthEnveloped, 0
		gcm, err := cipher.NewGCMWithTagSize(block, gcmTagSize)
		if err != nil {
			return nil, fmt.Errorf("smime: encrypt: %w", err)
		}
		nonce := make([]byte, gcm.NonceSize())
		if _, err := io.ReadFull(rnd, nonce); err != nil {
			return nil, fmt.Errorf("smime: encrypt: nonce randomness: %w", err)
		}
		// GCMParameters: aes-ICVlen defaults to 12, so 16 is written.
		alg = derAlgorithm(oidAES256GCM, tlv(tagSequence, tlv(tagOctetString, nonce), derInt(gcmTagSize)))
		ctLen = n
		sealed = make([]byte, 0, n+gcmTagSize)
		if len(parts) == 1 {
			sealed = gcm.Seal(sealed, nonce, parts[0], nil)
		} else {
			for _, p := range parts {
				sealed = append(sealed, p...)
			}
			sealed = gcm.Seal(sealed[:0], nonce, sealed, nil)
		}
	}

	// ContentInfo { contentType, [0] { (Auth)EnvelopedData { version,
	// recipientInfos, EncryptedContentInfo { id-data, alg, [0] ciphertext }
	// [, mac] } } }
	riSet := derSetOf(ris)
	eciHead := append(derOID(oidData), alg...)
	eciLen := len(eciHead) + headerLen(ctLen) + ctLen
	var suffix []byte
	if sealed != nil {
		suffix = tlv(tagOctetString, sealed[ctLen:])
	}
	ver := derInt(version)
	edLen := len(ver) + len(riSet) + headerLen(eciLen) + eciLen + len(suffix)
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

	out := newBase64Lines(total)
	out.Write(prefix)
	if sealed != nil {
		out.Write(sealed[:ctLen])
	} else {
		cbcEncrypt(out, cipher.NewCBCEncrypter(block, iv), parts)
	}
	out.Write(suffix)
	body := out.Close()
	if out.written != total {
		return nil, fmt.Errorf("%w: encrypt: wrote %d DER octets, computed %d", ErrInternal, out.written, total)
	}
	return &Encrypted{ContentType: mime, Body: body}, nil
}

const gcmTagSize = 16

// cbcChunk is the piece of plaintext encrypted at a time (a multiple of
// the block size).
const cbcChunk = 64 << 10

// cbcEncrypt encrypts the concatenation of parts with PKCS #7 padding
// (RFC 5652 6.3) into w, one chunk at a time.
func cbcEncrypt(w io.Writer, mode cipher.BlockMode, parts [][]byte) {
	buf := make([]byte, cbcChunk+aes.BlockSize)
	readers := make([]io.Reader, len(parts))
	for i, p := range parts {
		readers[i] = bytes.NewReader(p)
	}
	r := io.MultiReader(readers...)
	for {
		n, _ := io.ReadFull(r, buf[:cbcChunk]) // reading memory fails only at the end
		if n == cbcChunk {
			mode.CryptBlocks(buf[:n], buf[:n])
			w.Write(buf[:n])
			continue
		}
		pad := aes.BlockSize - n%aes.BlockSize
		for i := range pad {
			buf[n+i] = byte(pad)
		}
		n += pad
		mode.CryptBlocks(buf[:n], buf[:n])
		w.Write(buf[:n])
		return
	}
}

// base64Lines base64-encodes what is written into lines of 76 characters
// ended by CRLF, into a buffer sized once for the known DER length.
type base64Lines struct {
	buf     []byte
	col     int
	enc     io.WriteCloser
	written int
}

func newBase64Lines(derLen int) *base64Lines {
	b64 := base64.StdEncoding.EncodedLen(derLen)
	l := &base64Lines{buf: make([]byte, 0, b64+2*((b64+75)/76))}
	l.enc = base64.NewEncoder(base64.StdEncoding, lineSplitter{l})
	return l
}

func (l *base64Lines) Write(p []byte) (int, error) {
	l.written += len(p)
	return l.enc.Write(p)
}

// Close flushes the encoder and returns the text.
func (l *base64Lines) Close() []byte {
	l.enc.Close()
	if l.col > 0 {
		l.buf = append(l.buf, '\r', '\n')
	}
	return l.buf
}

type lineSplitter struct{ l *base64Lines }

func (s lineSplitter) Write(p []byte) (int, error) {
	l, n := s.l, len(p)
	for len(p) > 0 {
		k := min(76-l.col, len(p))
		l.buf = append(l.buf, p[:k]...)
		l.col += k
		p = p[k:]
		if l.col == 76 {
			l.buf = append(l.buf, '\r', '\n')
			l.col = 0
		}
	}
	return n, nil
}
