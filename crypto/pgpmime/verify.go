package pgpmime

import (
	"bufio"
	"bytes"
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// ErrNotPGPMIME means the message is not an RFC 3156 multipart/signed
// message (protocol application/pgp-signature): S/MIME, inline-signed text
// or anything else is for another verifier.
var ErrNotPGPMIME = errors.New("pgpmime: not a PGP/MIME signed message")

// Verified is the outcome of verifying a PGP/MIME signature.
type Verified struct {
	// Status is SignatureGood only for a valid signature, by a key among the
	// caller's keys that is neither expired nor revoked now, with a strong
	// digest and key.
	Status SignatureStatus
	// KeyID is the key ID the signature names, upper-case hex.
	KeyID string
	// Fingerprint is the primary fingerprint of the caller's key that the
	// signature names (empty for UnknownSigner), upper-case hex.
	Fingerprint string
	// Signer is that key's primary user ID.
	Signer string
	// Created is the signature's creation time as the signer claims it.
	Created time.Time
	// Digest is the signature's hash algorithm, e.g. "SHA-256".
	Digest string
	// MicAlg is the micalg parameter as sent (RFC 3156 section 5).
	MicAlg string
	// Problem says in words why Status is not SignatureGood.
	Problem string
	// Content is the signed entity exactly as verified: the first part's
	// header and body, line ends CRLF.
	Content []byte
}

// Verify checks an RFC 3156 multipart/signed message (contentType is the
// top-level Content-Type value, body the body as received) against keys,
// the keys the caller trusts, at the current time. See VerifyAt.
func Verify(contentType string, body []byte, keys []*PublicKey) (*Verified, error) {
	return VerifyAt(contentType, body, keys, time.Now())
}

// VerifyAt is Verify at the time now (expiry and revocation of the key).
//
// The signed data is the first part, header and body, exactly as it
// arrived between the first delimiter line and the CRLF before the second
// one, with every line end made CRLF (RFC 3156 section 5: an MTA may have
// converted them). Nothing else is changed: trailing white space is signed
// data (section 3 makes the signer encode it away). Only keys can make a
// good signature; with no keys every signature is UnknownSigner (gopenpgp's
// nil key ring would skip verification instead).
//
// Errors: ErrNotPGPMIME for anything but multipart/signed with protocol
// application/pgp-signature; ErrMalformed for such a message that cannot
// be read (parts missing or extra, no signature packet). VerifyAt reads
// outside data: it never panics.
func VerifyAt(contentType string, body []byte, keys []*PublicKey, now time.Time) (v *Verified, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("%w: verify: %v", ErrMalformed, r)
		}
	}()
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("%w: Content-Type: %v", ErrNotPGPMIME, err)
	}
	if mt != "multipart/signed" || !strings.EqualFold(params["protocol"], "application/pgp-signature") {
		return nil, fmt.Errorf("%w: %s (protocol %q)", ErrNotPGPMIME, mt, params["protocol"])
	}
	if params["boundary"] == "" {
		return nil, fmt.Errorf("%w: multipart/signed without boundary", ErrMalformed)
	}
	signed, sigPart, err := splitSigned(toCRLF(body), params["boundary"])
	if err != nil {
		return nil, err
	}
	sig, sigBin, err := signaturePacket(sigPart)
	if err != nil {
		return nil, err
	}
	v = &Verified{MicAlg: params["micalg"], Content: signed, Created: sig.CreationTime, Digest: hashName(sig.Hash)}
	if sig.IssuerKeyId != nil {
		v.KeyID = fmt.Sprintf("%016X", *sig.IssuerKeyId)
	}
	var ring openpgp.EntityList
	for _, k := range keys {
		if k != nil && k.entity != nil {
			ring = append(ring, k.entity)
		}
	}
	if sig.IssuerKeyId == nil || len(ring) == 0 {
		v.Status, v.Problem = UnknownSigner, "the signing key is not among the known keys"
		return v, nil
	}
	named := ring.KeysById(*sig.IssuerKeyId)
	if len(named) == 0 {
		v.Status, v.Problem = UnknownSigner, "the signing key is not among the known keys"
		return v, nil
	}
	signer := named[0]
	v.Fingerprint = strings.ToUpper(fmt.Sprintf("%x", signer.Entity.PrimaryKey.Fingerprint))
	if id := signer.Entity.PrimaryIdentity(); id != nil {
		v.Signer = id.Name
	}
	cfg := &packet.Config{Time: func() time.Time { return now }}
	_, _, verr := openpgp.VerifyDetachedSignature(ring, bytes.NewReader(signed), bytes.NewReader(sigBin), cfg)
	switch {
	case verr == nil:
	case errors.Is(verr, pgperrors.ErrKeyRevoked):
		v.Status, v.Problem = SignatureKeyRevoked, "the signing key is revoked"
		return v, nil
	case errors.Is(verr, pgperrors.ErrKeyExpired):
		v.Status, v.Problem = SignatureKeyExpired, "the signing key has expired"
		return v, nil
	case errors.Is(verr, pgperrors.ErrSignatureExpired):
		v.Status, v.Problem = SignatureKeyExpired, "the signature or the key's self-signature has expired"
		return v, nil
	case errors.Is(verr, pgperrors.ErrUnknownIssuer):
		// Named a key of ours that may not sign (no signing flag).
		v.Status, v.Problem = SignatureBad, "the named key is not a signing key"
		return v, nil
	default:
		v.Status, v.Problem = SignatureBad, "the signature does not match the content: "+verr.Error()
		return v, nil
	}
	if !acceptedHashes[sig.Hash] {
		v.Status, v.Problem = SignatureWeak, "the signature uses the weak digest "+v.Digest
		return v, nil
	}
	for _, k := range named {
		if weak(k.PublicKey) {
			v.Status, v.Problem = SignatureWeak, fmt.Sprintf("the signing key is too weak (%s)", algorithmName(k.PublicKey))
			return v, nil
		}
	}
	v.Status = SignatureGood
	return v, nil
}

// toCRLF makes every line end CRLF (a bare LF gains a CR; CRLF stays).
func toCRLF(b []byte) []byte {
	n := bytes.Count(b, []byte("\n")) - bytes.Count(b, []byte("\r\n"))
	if n == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+n)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// splitSigned returns the two parts of a multipart/signed body (CRLF): the
// first exactly (the CRLF before the next delimiter belongs to that
// delimiter, RFC 2046 section 5.1.1), the second whole.
func splitSigned(body []byte, boundary string) (signed, sigPart []byte, err error) {
	delim := []byte("--" + boundary)
	var starts []int // offset just after each delimiter line
	var ends []int   // offset of the CRLF before each delimiter line (or its start)
	closed := false
	for off := 0; off < len(body) && !closed; {
		end := bytes.Index(body[off:], []byte("\r\n"))
		line := body[off:]
		next := len(body)
		if end >= 0 {
			line, next = body[off:off+end], off+end+2
		}
		if rest, ok := bytes.CutPrefix(line, delim); ok {
			isClose := bytes.HasPrefix(rest, []byte("--"))
			if isClose {
				rest = rest[2:]
			}
			// Only transport padding may follow the boundary.
			if len(bytes.Trim(rest, " \t")) == 0 {
				ends = append(ends, max(off-2, 0))
				starts = append(starts, next)
				closed = isClose
			}
		}
		off = next
	}
	switch {
	case len(starts) < 3:
		return nil, nil, fmt.Errorf("%w: multipart/signed needs two parts and a close delimiter, found %d delimiters", ErrMalformed, len(starts))
	case len(starts) > 3 || !closed:
		return nil, nil, fmt.Errorf("%w: multipart/signed has %d parts, want 2", ErrMalformed, len(starts)-1)
	}
	cut := func(i int) []byte {
		if ends[i+1] < starts[i] {
			return nil
		}
		return body[starts[i]:ends[i+1]]
	}
	return cut(0), cut(1), nil
}

// signaturePacket reads the application/pgp-signature part: one armored
// signature packet (transfer encoding undone if there is one).
func signaturePacket(part []byte) (*packet.Signature, []byte, error) {
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(part)))
	h, err := tp.ReadMIMEHeader()
	if err != nil && err != io.EOF {
		return nil, nil, fmt.Errorf("%w: signature part header: %v", ErrMalformed, err)
	}
	ct, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if ct != "application/pgp-signature" {
		return nil, nil, fmt.Errorf("%w: second part is %q, not application/pgp-signature", ErrMalformed, ct)
	}
	var data io.Reader = tp.R
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		data = base64.NewDecoder(base64.StdEncoding, &stripSpace{r: tp.R})
	case "quoted-printable":
		data = quotedprintable.NewReader(tp.R)
	}
	block, err := armor.Decode(io.LimitReader(data, MaxKeySize))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: signature armor: %v", ErrMalformed, err)
	}
	if block.Type != "PGP SIGNATURE" {
		return nil, nil, fmt.Errorf("%w: armor block is %q, not PGP SIGNATURE", ErrMalformed, block.Type)
	}
	bin, err := io.ReadAll(block.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: signature armor: %v", ErrMalformed, err)
	}
	r := packet.NewReader(bytes.NewReader(bin))
	var sig *packet.Signature
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: signature packet: %v", ErrMalformed, err)
		}
		s, ok := p.(*packet.Signature)
		if !ok {
			return nil, nil, fmt.Errorf("%w: %T in the signature part", ErrMalformed, p)
		}
		if sig != nil {
			// One verdict per message: several signers are not supported.
			return nil, nil, fmt.Errorf("%w: more than one signature", ErrMalformed)
		}
		sig = s
	}
	if sig == nil {
		return nil, nil, fmt.Errorf("%w: no signature packet", ErrMalformed)
	}
	switch sig.SigType {
	case packet.SigTypeBinary, packet.SigTypeText:
	default:
		return nil, nil, fmt.Errorf("%w: signature type %#x is not a document signature", ErrMalformed, sig.SigType)
	}
	return sig, bin, nil
}

// stripSpace drops line ends and blanks from base64 text.
type stripSpace struct{ r io.Reader }

func (s *stripSpace) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		k := 0
		for _, c := range p[:n] {
			if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
				p[k] = c
				k++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

func hashName(h crypto.Hash) string {
	switch h {
	case crypto.SHA1:
		return "SHA-1"
	case crypto.SHA224:
		return "SHA-224"
	case crypto.SHA256:
		return "SHA-256"
	case crypto.SHA384:
		return "SHA-384"
	case crypto.SHA512:
		return "SHA-512"
	case crypto.MD5:
		return "MD5"
	case crypto.RIPEMD160:
		return "RIPEMD-160"
	}
	return h.String()
}
