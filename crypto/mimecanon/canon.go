// Package mimecanon turns a MIME entity into the canonical, 7-bit clean
// form that is signed (S/MIME, PGP/MIME): CRLF line endings, no 8-bit data,
// no NULs or bare CRs, no line over 998 octets. Parts that are already clean
// are kept byte for byte (only line endings become CRLF), so that a
// signature over the result survives any relay, including Postfix's 8-bit
// to 7-bit downgrade.
//
// Cleaning rules for a leaf part that is not 7-bit clean:
//   - Content-Transfer-Encoding 7bit/8bit/binary/absent: text/* is encoded
//     quoted-printable, anything else base64; the header is updated.
//   - quoted-printable: repaired in place (8-bit bytes become =XX, long lines
//     get soft breaks); the decoded text does not change.
//   - base64: characters outside the base64 alphabet are dropped and the
//     lines rewrapped at 76; the decoded data does not change.
//   - any other encoding: the body is base64-encoded as it stands.
//
// multipart/* is walked recursively (preamble and epilogue that are not
// clean are dropped: readers ignore them). message/rfc822 is walked too: the
// encapsulated message's header fields and body are cleaned like the rest,
// because RFC 2046 forbids base64 or quoted-printable for message/rfc822. A
// multipart without a usable boundary, or another message/* type that must
// be re-encoded, is turned into application/octet-stream and base64-encoded.
// A multipart or message/rfc822 declared 8bit or binary is relabelled 7bit,
// as is a clean leaf so declared (Postfix would otherwise re-encode it).
//
// Header fields with 8-bit bytes or control characters are re-encoded:
// Content-Type and Content-Disposition parameters with RFC 2231, address
// fields with RFC 2047 encoded words for display names, group names and
// comment words only (address.go), other fields as RFC 2047 encoded words
// (charset utf-8, or iso-8859-1 when the bytes are not UTF-8). Fields are
// folded only at white space; one that cannot be (a word over 998 octets)
// is an error rather than a cut value. A part header line that is not a
// field ends the header section (see parseHeader).
//
// No line of the result starts with "From ", because mbox delivery quotes
// such lines as ">From " and the signature would break: a clean part with
// such a line is re-encoded (quoted-printable, or repaired in place when it
// already is QP or base64), and QP soft breaks never leave "From " at a line
// start.
package mimecanon

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Field is one header field; Value may be folded with LF or CRLF.
type Field struct{ Name, Value string }

// ErrMalformed is returned (wrapped) for input that cannot be processed.
var ErrMalformed = errors.New("mimecanon: malformed message")

// ErrUnfoldable is the ErrMalformed case a sender can fix: a header field
// holds a word longer than a mail line may be (998 octets), which no relay
// carries and folding cannot split.
var ErrUnfoldable = fmt.Errorf("%w: header word too long to fold", ErrMalformed)

// MaxDepth is how deeply multiparts and messages may nest.
const MaxDepth = 50

// Entity returns the canonical form of one MIME entity: its header block,
// an empty line and its cleaned body, all CRLF, all 7-bit, no line over 998
// octets. fields are the entity's content header fields; fields whose name
// does not start with "Content-" are ignored. Without a Content-Type the
// entity gets "text/plain; charset=us-ascii", or charset=utf-8 when the body
// has 8-bit bytes.
//
// Entity never panics; any internal failure is returned as ErrMalformed.
func Entity(fields []Field, body []byte) ([]byte, error) {
	var w bytes.Buffer
	w.Grow(Estimate(body))
	if err := AppendEntity(&w, fields, body); err != nil {
		return nil, err
	}
	return w.Bytes(), nil
}

// AppendEntity writes Entity's result to the end of w, so that a caller
// building a larger body around it needs no second copy. On error w may
// hold part of the entity.
func AppendEntity(w *bytes.Buffer, fields []Field, body []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: internal error: %v", ErrMalformed, r)
		}
	}()
	var h header
	for _, f := range fields {
		name := strings.TrimSpace(f.Name)
		if !validName(name) || len(name) < 8 || !strings.EqualFold(name[:8], "content-") {
			continue
		}
		h = append(h, fieldFromValue(name, f.Value))
	}
	if _, ok := h.get("Content-Type"); !ok {
		cs := "us-ascii"
		if has8Bit(body) {
			cs = "utf-8"
		}
		h = append(h, field{name: "Content-Type", raw: []byte("Content-Type: text/plain; charset=" + cs)})
	}
	c := canon{w: w}
	return c.entity(h, body, false, "text/plain", 0)
}

// Estimate is the buffer room to reserve for canonicalising body, so that a
// large message is not copied again and again while the buffer doubles:
// an 8-bit byte becomes at most three (=XX in quoted-printable; base64 of
// binary takes less), line ends may gain a CR and long lines a soft break.
func Estimate(body []byte) int {
	eightBit := 0
	for _, c := range body {
		if c >= 0x80 {
			eightBit++
		}
	}
	return len(body) + 2*eightBit + len(body)/16 + 1024
}

type canon struct{ w *bytes.Buffer }

// cte returns the normalised transfer encoding named in h ("" when absent).
func cte(h header) string {
	v, _ := h.get("Content-Transfer-Encoding")
	v, _, _ = strings.Cut(v, "(") // a comment
	return strings.ToLower(strings.TrimSpace(v))
}

func identityCTE(e string) bool { return e == "" || e == "7bit" || e == "8bit" || e == "binary" }

// relabel turns an 8bit/binary declaration into 7bit.
func relabel(h header) header {
	if e := cte(h); e == "8bit" || e == "binary" {
		return h.set("Content-Transfer-Encoding", "7bit")
	}
	return h
}

// writeHeader writes the header block and the empty line that ends it; a
// bare part (its header section not ended by an empty line, see
// parseHeader) stays bare: its body follows the fields directly.
func (c canon) writeHeader(h header, bare bool) {
	for _, f := range h {
		c.w.Write(f.raw)
		c.w.WriteString("\r\n")
	}
	if !bare {
		c.w.WriteString("\r\n")
	}
}

// entity writes one cleaned entity. defType is the media type assumed when
// there is no Content-Type (message/rfc822 inside multipart/digest).
func (c canon) entity(h header, body []byte, bare bool, defType string, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("%w: nested more than %d levels", ErrMalformed, MaxDepth)
	}
	h, err := h.clean()
	if err != nil {
		return err
	}
	mt, boundary := defType, ""
	if v, ok := h.get("Content-Type"); ok {
		mt, boundary = contentType(v)
	}
	enc := cte(h)
	switch {
	case strings.HasPrefix(mt, "multipart/") && identityCTE(enc):
		if parts, ok := splitMultipart(body, boundary); ok {
			c.writeHeader(relabel(h), bare)
			return c.multipart(parts, mt, depth)
		}
	case mt == "message/rfc822" && identityCTE(enc) && len(body) > 0:
		c.writeHeader(relabel(h), bare)
		ih, ibody, ibare := parseHeader(dropEnvelopeLine(body))
		return c.entity(ih, ibody, ibare, "text/plain", depth+1)
	}
	c.leaf(h, body, bare, mt, enc)
	return nil
}

// dropEnvelopeLine removes the mbox envelope line ("From sender date") that
// some clients leave at the top of a forwarded message. It is no part of
// the message (RFC 5322) and readers skip it, but signed as is, mbox
// delivery would quote it; kept as body it would hide the whole header.
func dropEnvelopeLine(msg []byte) []byte {
	if !bytes.HasPrefix(msg, fromLine) {
		return msg
	}
	l := nextLine(msg, 0)
	if name, ok := fieldName(msg[:l.end]); ok && validName(name) {
		return msg // "From :" is a (sloppy) field, kept and rewritten
	}
	return msg[l.next:]
}

// leaf writes a part that is not walked into. A clean part with a line
// starting "From " is re-encoded too: mbox delivery would quote that line as
// ">From " and so break the signature.
func (c canon) leaf(h header, body []byte, bare bool, mt, enc string) {
	clean := Is7BitClean(body)
	if clean && !hasFromLine(body) {
		if identityCTE(enc) {
			h = relabel(h)
		}
		c.writeHeader(h, bare)
		writeCRLF(c.w, body)
		return
	}
	composite := strings.HasPrefix(mt, "multipart/") || strings.HasPrefix(mt, "message/")
	switch {
	case enc == "base64":
		c.writeHeader(h, bare)
		repairBase64(c.w, body)
	case enc == "quoted-printable":
		c.writeHeader(h, bare)
		repairQP(c.w, body)
	case identityCTE(enc) && (strings.HasPrefix(mt, "text/") || (clean && !composite)):
		c.writeHeader(h.set("Content-Transfer-Encoding", "quoted-printable"), false)
		writeQP(c.w, body)
	default:
		if strings.HasPrefix(mt, "multipart/") || (strings.HasPrefix(mt, "message/") && mt != "message/global") {
			// These may not be base64-encoded (RFC 2046 5.1, 5.2).
			h = h.set("Content-Type", "application/octet-stream")
		}
		c.writeHeader(h.set("Content-Transfer-Encoding", "base64"), false)
		writeBase64(c.w, body)
	}
}
