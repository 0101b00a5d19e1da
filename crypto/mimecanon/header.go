package mimecanon

import (
	"bytes"
	"fmt"
	"mime"
	"strings"
	"unicode/utf8"
)

// field is one header field as it will be written: raw holds the complete
// field (name, colon, value, folding as CRLF + WSP) without the final CRLF.
type field struct {
	name string // field name as written, "" for a line without a colon
	raw  []byte
}

type header []field

// value returns the unfolded value of f.
func (f field) value() string {
	i := bytes.IndexByte(f.raw, ':')
	if i < 0 {
		return ""
	}
	return unfold(f.raw[i+1:])
}

// unfold removes line breaks (and any other CR/LF) and trims white space.
func unfold(v []byte) string {
	var b strings.Builder
	b.Grow(len(v))
	for _, c := range v {
		if c != '\r' && c != '\n' {
			b.WriteByte(c)
		}
	}
	return strings.TrimSpace(b.String())
}

// get returns the unfolded value of the first field called name.
func (h header) get(name string) (string, bool) {
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			return f.value(), true
		}
	}
	return "", false
}

// set replaces the first field called name (dropping further ones) or
// appends it.
func (h header) set(name, value string) header {
	out := h[:0:0]
	done := false
	for _, f := range h {
		if !strings.EqualFold(f.name, name) {
			out = append(out, f)
			continue
		}
		if !done {
			out = append(out, field{name: f.name, raw: []byte(f.name + ": " + value)})
			done = true
		}
	}
	if !done {
		out = append(out, field{name: name, raw: []byte(name + ": " + value)})
	}
	return out
}

// validName reports whether s is a field name per RFC 5322 (printable ASCII
// except colon).
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 || s[i] == ':' {
			return false
		}
	}
	return true
}

// fieldFromValue builds a field from a name and a value as a milter delivers
// it (folded with "\n\t", "\r\n " or worse). Every line break becomes CRLF,
// continuation lines are made to start with white space and empty
// continuation lines are dropped, so a value can never start a new field.
func fieldFromValue(name, value string) field {
	var b bytes.Buffer
	b.WriteString(name)
	b.WriteByte(':')
	if value == "" || (value[0] != ' ' && value[0] != '\t') {
		b.WriteByte(' ')
	}
	value = strings.ReplaceAll(value, "\r\n", "\n")
	value = strings.ReplaceAll(value, "\r", "\n")
	for i, seg := range strings.Split(value, "\n") {
		if i == 0 {
			b.WriteString(seg)
			continue
		}
		if strings.TrimSpace(seg) == "" {
			continue
		}
		b.WriteString("\r\n")
		if seg[0] != ' ' && seg[0] != '\t' {
			b.WriteByte(' ')
		}
		b.WriteString(seg)
	}
	return field{name: name, raw: b.Bytes()}
}

// parseHeader splits the header block at the start of a body part. It
// returns the fields, the body and whether the header section is ended by
// the blank line. bare is true when a line that is neither a field nor a
// continuation comes first or before the blank line: the header section
// ends there and that line starts the body, as Postfix and most readers
// see it. A part that is written back unchanged then keeps its bytes (no
// blank line is added); one whose body is re-encoded gets the blank line,
// so a field we add can never land in what readers take for the body.
func parseHeader(b []byte) (h header, body []byte, bare bool) {
	if len(b) == 0 {
		return nil, nil, false
	}
	for off := 0; off < len(b); {
		l := nextLine(b, off)
		content := b[l.start:l.end]
		if len(content) == 0 {
			return h, b[l.next:], false
		}
		if (content[0] == ' ' || content[0] == '\t') && len(h) > 0 {
			last := &h[len(h)-1]
			last.raw = append(append(last.raw, '\r', '\n'), content...)
		} else if name, ok := fieldName(content); ok && validName(name) {
			h = append(h, field{name: name, raw: append([]byte(nil), content...)})
		} else {
			return h, b[off:], true
		}
		off = l.next
	}
	return h, nil, false
}

// fieldName returns the trimmed text before the first colon of a line.
func fieldName(l []byte) (string, bool) {
	i := bytes.IndexByte(l, ':')
	if i < 0 {
		return "", false
	}
	return strings.TrimRight(string(l[:i]), " \t"), true
}

// needsRewrite reports whether a field cannot travel over 7-bit SMTP as is.
func (f field) needsRewrite() bool {
	if !Is7BitClean(f.raw) || bytes.HasPrefix(f.raw, fromLine) {
		// "From :" (space before the colon) would be quoted by mbox delivery.
		return true
	}
	for i := 0; i < len(f.raw); i++ {
		// A line break must be CRLF followed by white space (it always is
		// for parsed fields; checked for safety).
		if f.raw[i] == '\n' && (i+1 >= len(f.raw) || (f.raw[i+1] != ' ' && f.raw[i+1] != '\t')) {
			return true
		}
	}
	return false
}

// clean returns the header with every field made 7-bit clean: fields with
// 8-bit bytes, control characters or overlong lines are re-encoded (RFC 2231
// parameters, RFC 2047 encoded words) and refolded at white space; lines
// that are not fields and cannot travel are dropped. Clean fields are kept
// byte for byte. A field with a word too long to fold is an error
// (ErrMalformed): the sender is told, rather than the value being cut.
func (h header) clean() (header, error) {
	out := make(header, 0, len(h))
	for _, f := range h {
		if !f.needsRewrite() {
			out = append(out, f)
			continue
		}
		if !validName(f.name) {
			continue // garbage line with 8-bit bytes: nothing to preserve
		}
		v := rewriteValue(f.name, f.value())
		raw, ok := fold([]byte(f.name + ": " + v))
		if !ok {
			return nil, fmt.Errorf("%w: header field %s has a word longer than %d octets, which cannot be folded", ErrUnfoldable, f.name, MaxLineLength)
		}
		out = append(out, field{name: f.name, raw: raw})
	}
	return out, nil
}

// charsetFor names the charset of 8-bit header text: UTF-8 when it is valid
// UTF-8, else ISO-8859-1 (every byte sequence is valid Latin-1, so nothing
// is lost and the original bytes are recoverable).
func charsetFor(s string) string {
	if utf8.ValidString(s) {
		return "utf-8"
	}
	return "iso-8859-1"
}

// needsWords reports whether s must be carried in encoded words.
func needsWords(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || (c < ' ' && c != '\t') || c == 0x7f {
			return true
		}
	}
	return false
}

// rewriteValue returns a 7-bit form of the unfolded value of a field.
func rewriteValue(name, v string) string {
	switch strings.ToLower(name) {
	case "content-type", "content-disposition":
		if mt, ps, ok := parseParams(v); ok && !needsWords(mt) {
			return formatParams(mt, ps)
		}
	}
	if addressFields[strings.ToLower(name)] {
		if s, ok := rewriteAddressList(v); ok {
			return s
		}
	}
	if !needsWords(v) {
		return v // only too long: folding is enough
	}
	return encodeText(v)
}

// latin1Chunk is how many ISO-8859-1 bytes go into one "B" encoded word:
// "=?iso-8859-1?b?" + 56 base64 characters + "?=" stays within 75.
const latin1Chunk = 42

// encodeText encodes unstructured text as RFC 2047 "B" encoded words of at
// most 75 characters each, separated by spaces so that the field can be
// folded. Go's encoder splits only UTF-8 text; ISO-8859-1 text (one byte a
// character) is split here.
func encodeText(v string) string {
	cs := charsetFor(v)
	if cs == "utf-8" {
		return mime.BEncoding.Encode(cs, v)
	}
	var words []string
	for len(v) > 0 {
		n := min(latin1Chunk, len(v))
		words = append(words, mime.BEncoding.Encode(cs, v[:n]))
		v = v[n:]
	}
	return strings.Join(words, " ")
}

// fold breaks every line of raw that is longer than 78 characters at white
// space (folding adds CRLF before it, RFC 5322 2.2.3), so the result has no
// line over 998 octets. A run of more than 998 octets without white space
// cannot be folded: cutting it would change the value (a Content-ID would no
// longer match its "cid:" reference), so fold reports ok=false instead.
// raw holds no CR or LF except CRLF+WSP folds.
func fold(raw []byte) (folded []byte, ok bool) {
	const soft = 78
	var out bytes.Buffer
	for off := 0; off < len(raw); {
		l := nextLine(raw, off)
		rest := raw[l.start:l.end]
		for len(rest) > soft {
			cut := bytes.LastIndexAny(rest[:soft], " \t")
			if cut <= 0 {
				// No white space early enough: take the first one after.
				j := bytes.IndexAny(rest[soft:], " \t")
				if j < 0 && len(rest) <= MaxLineLength {
					break
				}
				if j < 0 || soft+j > MaxLineLength {
					return nil, false
				}
				cut = soft + j
			}
			out.Write(rest[:cut])
			out.WriteString("\r\n")
			rest = rest[cut:] // starts with the white space
		}
		out.Write(rest)
		if l.hasEOL {
			out.WriteString("\r\n")
		}
		off = l.next
	}
	return out.Bytes(), true
}
