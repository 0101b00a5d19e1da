// Package protect builds the inner entity of an encrypted message with
// header protection (RFC 9788, "Header Protection for Cryptographically
// Protected Email"), for S/MIME and PGP/MIME alike.
//
// The header fields that matter to a reader (Subject, From, To, Cc, Date,
// Message-ID, …) are copied into the header of the entity that gets
// encrypted, whose Content-Type carries hp="cipher" (RFC 9788) and the
// older protected-headers="v1" (read by Thunderbird and K-9/Thunderbird for
// Android). For every protected field the inner header also records the
// value the outer message shows, as "HP-Outer: Name: value" (RFC 9788
// section 2.2.1), so a reader can tell which values were hidden. The outer
// message keeps every field except the Subject, which is replaced by a
// placeholder ("..." by default, what Thunderbird writes; RFC 9788's
// hcp_baseline writes "[...]": either may be chosen with
// Options.SubjectReplacement).
//
// The package knows nothing of milters, policy or keys: header fields and
// a body in, the inner entity out. The caller encrypts Result.Entity and
// sets the outer Subject to Result.OuterSubject.
package protect

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"runtime/debug"
	"strings"

	"github.com/mailseal/mailseal/crypto/mimecanon"
)

// Field is one header field. Value may be folded with LF or CRLF and may
// hold 8-bit text; it is canonicalised (CRLF folding, RFC 2047).
type Field struct{ Name, Value string }

// ErrMalformed means a field or the content could not be processed. It is
// permanent: the same message fails again.
var ErrMalformed = errors.New("protect: malformed message")

// bigEntity is the size from which Wrap collects the garbage of
// canonicalising before it allocates the entity, so that a large message
// is held twice at the most, not three times.
const bigEntity = 8 << 20

// DefaultSubject is the outer Subject used when Options.SubjectReplacement
// is empty.
const DefaultSubject = "..."

// DefaultFields returns the names of the fields protected by default: those
// a reader shows or threads by. Bcc is left out on purpose (the encrypted
// part reaches every recipient), as are trace and transport fields
// (Received, DKIM-Signature, …) which describe the outer message.
func DefaultFields() []string {
	return []string{
		"Subject", "From", "Sender", "Reply-To", "To", "Cc", "Date",
		"Message-ID", "In-Reply-To", "References", "Keywords", "Comments",
	}
}

// Options tune Wrap. The zero value is ready to use.
type Options struct {
	// SubjectReplacement is the Subject the outer message shows instead
	// of the real one. Empty means DefaultSubject.
	SubjectReplacement string
	// Fields names the header fields to protect (case-insensitive). Nil
	// means DefaultFields(). Content-* and MIME-Version are never copied:
	// they describe the inner entity itself.
	Fields []string
}

// Result is the inner entity and what the outer message must change.
type Result struct {
	// Entity is the complete inner MIME entity: its content header fields
	// (Content-Type with hp="cipher" and protected-headers="v1"), the
	// protected fields, the HP-Outer fields, an empty line and the body.
	// CRLF line endings, 7-bit clean, no line over 998 octets.
	Entity []byte
	// HasSubject reports whether the message had a Subject; only then must
	// the caller replace the outer Subject by OuterSubject.
	HasSubject bool
	// OuterSubject is the Subject value for the outer message.
	OuterSubject string
}

// Wrap builds the inner entity of a message with protected headers.
// header holds the message's top-level header fields (all of them, or at
// least the ones to protect, in order); content holds the content header
// fields of the entity to encrypt and body its body (any line ending
// convention, possibly 8-bit: it is made canonical, see package
// mimecanon).
//
// Wrap never panics; errors wrap ErrMalformed.
func Wrap(header []Field, content []Field, body []byte, opts Options) (res *Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("%w: internal error: %v", ErrMalformed, r)
		}
	}()
	replacement := opts.SubjectReplacement
	if replacement == "" {
		replacement = DefaultSubject
	}
	if strings.ContainsAny(replacement, "\r\n") {
		return nil, fmt.Errorf("%w: subject replacement contains a line break", ErrMalformed)
	}
	want := opts.Fields
	if want == nil {
		want = DefaultFields()
	}

	mf := make([]mimecanon.Field, len(content))
	for i, f := range content {
		mf[i] = mimecanon.Field{Name: f.Name, Value: f.Value}
	}
	canonical, err := mimecanon.Entity(mf, body)
	if err != nil {
		return nil, fmt.Errorf("protect: canonicalise content: %w", err)
	}
	end := bytes.Index(canonical, []byte("\r\n\r\n"))
	if end < 0 {
		return nil, fmt.Errorf("%w: canonical entity without header", ErrMalformed)
	}
	contentFields := splitFields(canonical[:end+2])
	inner := canonical[end+4:]

	var protected, outer []string
	res = &Result{OuterSubject: replacement}
	for _, f := range header {
		name := strings.TrimSpace(f.Name)
		if !wanted(name, want) || structural(name) {
			continue
		}
		in, err := mimecanon.FormatField(name, f.Value)
		if err != nil {
			return nil, fmt.Errorf("protect: field %s: %w", name, err)
		}
		protected = append(protected, in)
		shown := in
		if strings.EqualFold(name, "Subject") {
			res.HasSubject = true
			shown = name + ": " + replacement
		}
		// The outer value, encoded on its own first, so that the name in
		// front of it is never swallowed by an encoded word.
		hp, err := mimecanon.FormatField("HP-Outer", shown)
		if err != nil {
			return nil, fmt.Errorf("protect: HP-Outer for %s: %w", name, err)
		}
		outer = append(outer, hp)
	}

	if len(canonical) >= bigEntity {
		// The body as given is no longer needed (only its canonical form
		// is): collect it before the entity, a third copy, is allocated.
		body = nil
		debug.FreeOSMemory()
	}
	var w bytes.Buffer
	w.Grow(len(canonical) + 256*(len(protected)+1))
	for _, cf := range contentFields {
		if fieldName(cf) == "content-type" {
			ct, err := markContentType(cf)
			if err != nil {
				return nil, err
			}
			cf = ct
		}
		w.WriteString(cf)
		w.WriteString("\r\n")
	}
	for _, p := range protected {
		w.WriteString(p)
		w.WriteString("\r\n")
	}
	for _, o := range outer {
		w.WriteString(o)
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	w.Write(inner)
	res.Entity = w.Bytes()
	return res, nil
}

// wanted reports whether name is in the list (case-insensitive).
func wanted(name string, list []string) bool {
	for _, n := range list {
		if strings.EqualFold(strings.TrimSpace(n), name) {
			return true
		}
	}
	return false
}

// structural reports fields that describe an entity rather than the
// message: they belong to the inner entity's own content header.
func structural(name string) bool {
	l := strings.ToLower(name)
	return strings.HasPrefix(l, "content-") || l == "mime-version"
}

// splitFields splits a canonical header block (CRLF, folded lines start
// with white space, ending in CRLF) into fields without the final CRLF.
func splitFields(block []byte) []string {
	var out []string
	for _, line := range strings.SplitAfter(string(block), "\r\n") {
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1] += line
			continue
		}
		out = append(out, line)
	}
	for i := range out {
		out[i] = strings.TrimSuffix(out[i], "\r\n")
	}
	return out
}

// fieldName returns the lower-case name of a raw field.
func fieldName(raw string) string {
	name, _, _ := strings.Cut(raw, ":")
	return strings.ToLower(strings.TrimSpace(name))
}

// markContentType adds hp="cipher" and protected-headers="v1" to a raw
// Content-Type field. The field is kept byte for byte when it has neither
// parameter yet (the usual case); otherwise it is rebuilt with ours.
func markContentType(raw string) (string, error) {
	_, v, _ := strings.Cut(raw, ":")
	value := strings.TrimSpace(strings.NewReplacer("\r\n", "", "\r", "", "\n", "").Replace(v))
	mt, params, perr := mime.ParseMediaType(value)
	if perr == nil {
		if _, hp := params["hp"]; !hp {
			if _, ph := params["protected-headers"]; !ph {
				return raw + ";\r\n protected-headers=\"v1\"; hp=\"cipher\"", nil
			}
		}
		delete(params, "hp")
		delete(params, "protected-headers")
		params["hp"] = "cipher"
		params["protected-headers"] = "v1"
		nv := mime.FormatMediaType(mt, params)
		if nv == "" {
			return "", fmt.Errorf("%w: cannot rewrite Content-Type %q", ErrMalformed, value)
		}
		return mimecanon.FormatField("Content-Type", nv)
	}
	if hasParam(value, "hp") || hasParam(value, "protected-headers") {
		return "", fmt.Errorf("%w: unparsable Content-Type %q: %v", ErrMalformed, value, perr)
	}
	return raw + ";\r\n protected-headers=\"v1\"; hp=\"cipher\"", nil
}

// hasParam reports whether a Content-Type value that mime.ParseMediaType
// refused still names the parameter key (a rough split at ';' and '=').
func hasParam(value, key string) bool {
	for _, seg := range strings.Split(value, ";")[1:] {
		k, _, _ := strings.Cut(seg, "=")
		if strings.EqualFold(strings.TrimSpace(k), key) {
			return true
		}
	}
	return false
}
