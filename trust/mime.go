package trust

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"strings"
)

// Bounds on what one message may make us parse: outside input decides how
// deep and wide the MIME tree is, so each walk stops early.
const (
	// maxFields is the most header fields one entity may have.
	maxFields = 2000
	// maxDepth is how deep the walk looks for a signed part.
	maxDepth = 32
	// maxEntities is how many entities one walk may parse.
	maxEntities = 2000
)

var errMalformed = errors.New("malformed MIME")

// field is one header field, its value unfolded.
type field struct{ name, value string }

// entity is one MIME entity of a CRLF message.
type entity struct {
	fields []field
	body   []byte
}

// canonicalCRLF returns b with every bare LF made CRLF (the canonical form
// signatures are computed over). b itself is returned when it has none.
func canonicalCRLF(b []byte) []byte {
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

// parseEntity splits a CRLF entity into its header fields and body. A
// header line that is neither a field nor a continuation ends the header
// (as Postfix and most readers see it); that line starts the body.
func parseEntity(b []byte) (e entity, err error) {
	// Continuation lines are collected and joined once: appending to the
	// value line by line is quadratic in a field of 100,000 lines.
	var more [][]string
	defer func() {
		if err != nil {
			return
		}
		for i, m := range more {
			if len(m) > 0 {
				e.fields[i].value += " " + strings.Join(m, " ")
			}
		}
	}()
	rest := b
	for len(rest) > 0 {
		end := bytes.Index(rest, []byte("\r\n"))
		line := rest
		next := []byte(nil)
		if end >= 0 {
			line, next = rest[:end], rest[end+2:]
		}
		if len(line) == 0 { // the blank line
			e.body = next
			return e, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(e.fields) == 0 {
				break // a continuation without a field: body starts here
			}
			more[len(more)-1] = append(more[len(more)-1], strings.TrimSpace(string(line)))
			rest = next
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !validName(line[:colon]) {
			break
		}
		if len(e.fields) == maxFields {
			return entity{}, fmt.Errorf("%w: more than %d header fields", errMalformed, maxFields)
		}
		more = append(more, nil)
		e.fields = append(e.fields, field{
			name:  string(bytes.TrimRight(line[:colon], " \t")),
			value: strings.TrimSpace(string(line[colon+1:])),
		})
		rest = next
	}
	e.body = rest
	return e, nil
}

func validName(n []byte) bool {
	n = bytes.TrimRight(n, " \t") // "From :" is read as From
	if len(n) == 0 {
		return false
	}
	for _, c := range n {
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// all returns the values of every field called name (ASCII case-insensitive).
func (e entity) all(name string) []string {
	var out []string
	for _, f := range e.fields {
		if strings.EqualFold(f.name, name) {
			out = append(out, f.value)
		}
	}
	return out
}

// contentType returns the lower-cased media type and parameters. No
// Content-Type is text/plain; two are malformed (readers disagree about
// which one counts, which a forger could use).
func (e entity) contentType() (string, map[string]string, error) {
	cts := e.all("Content-Type")
	switch len(cts) {
	case 0:
		return "text/plain", nil, nil
	case 1:
	default:
		return "", nil, fmt.Errorf("%w: %d Content-Type fields", errMalformed, len(cts))
	}
	mt, params, err := mime.ParseMediaType(cts[0])
	if mt == "" {
		return "", nil, fmt.Errorf("%w: Content-Type %q: %v", errMalformed, cts[0], err)
	}
	return strings.ToLower(mt), params, nil
}

// transferEncoding is the lower-cased Content-Transfer-Encoding.
func (e entity) transferEncoding() string {
	v := e.all("Content-Transfer-Encoding")
	if len(v) == 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(v[0]))
}

// decodedBody undoes base64 (the encoding of every CMS part in practice);
// other encodings leave the body as it is.
func (e entity) decodedBody() ([]byte, error) {
	if e.transferEncoding() != "base64" {
		return e.body, nil
	}
	clean := make([]byte, 0, len(e.body))
	for _, c := range e.body {
		switch c {
		case '\r', '\n', ' ', '\t':
		default:
			clean = append(clean, c)
		}
	}
	clean = bytes.TrimRight(clean, "=")
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, err := base64.RawStdEncoding.Decode(out, clean)
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %v", errMalformed, err)
	}
	return out[:n], nil
}

// splitMultipart returns the parts of a CRLF multipart body: each part's
// exact bytes between the CRLF ending a delimiter line and the CRLF that
// precedes the next one (RFC 2046 5.1.1: that CRLF belongs to the
// delimiter). At most max parts are returned.
func splitMultipart(body []byte, boundary string, max int) ([][]byte, error) {
	if boundary == "" || len(boundary) > 200 {
		return nil, fmt.Errorf("%w: bad boundary", errMalformed)
	}
	dash := []byte("--" + boundary)
	var parts [][]byte
	start := -1 // start of the current part
	closed := false
	for off := 0; off < len(body) && !closed; {
		end := bytes.Index(body[off:], []byte("\r\n"))
		lineEnd, next := len(body), len(body)
		if end >= 0 {
			lineEnd, next = off+end, off+end+2
		}
		line := body[off:lineEnd]
		if bytes.HasPrefix(line, dash) {
			tail := line[len(dash):]
			isClose := bytes.HasPrefix(tail, []byte("--"))
			if isClose {
				tail = tail[2:]
			}
			if len(bytes.Trim(tail, " \t")) == 0 {
				if start >= 0 {
					partEnd := off - 2 // the CRLF before the delimiter
					if partEnd < start {
						partEnd = start
					}
					if len(parts) == max {
						return nil, fmt.Errorf("%w: more than %d parts", errMalformed, max)
					}
					parts = append(parts, body[start:partEnd])
				}
				start = next
				closed = isClose
			}
		}
		off = next
	}
	if !closed {
		return nil, fmt.Errorf("%w: multipart without its closing delimiter", errMalformed)
	}
	return parts, nil
}
