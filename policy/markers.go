package policy

import (
	"io"
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
)

// Header is one message header as the milter received it (value may be folded).
type Header struct{ Name, Value string }

var headerDecoder = &mime.WordDecoder{
	// Known charsets (windows-1252, iso-8859-15, …) are decoded to UTF-8;
	// an unknown one must not hide a marker: its bytes are read as Latin-1,
	// which keeps ASCII tags matchable and the result valid UTF-8.
	CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
		if enc, err := htmlindex.Get(charset); err == nil {
			return enc.NewDecoder().Reader(r), nil
		}
		return charmap.ISO8859_1.NewDecoder().Reader(r), nil
	},
}

// decodeHeaderValue unfolds and RFC 2047-decodes a header value; undecodable
// values are used as they are.
func decodeHeaderValue(v string) string {
	v = unfold(v)
	if d, err := headerDecoder.DecodeHeader(v); err == nil {
		v = d
	}
	return strings.TrimSpace(v)
}

func unfold(v string) string {
	v = strings.ReplaceAll(v, "\r\n", "\n")
	return strings.ReplaceAll(v, "\n", "")
}

// Confidential reports whether the message is marked confidential, which
// marker said so (for logs and Explain), and the subject with every subject
// tag removed. cleanSubject is the decoded (UTF-8, unfolded) text when a tag
// was removed — the milter must RFC 2047-encode it again if it is not ASCII —
// and subject unchanged otherwise. Markers are checked in this order: subject
// tags, Sensitivity, configured headers; why names the first that matched.
func (e *Engine) Confidential(subject string, headers []Header) (marked bool, why string, cleanSubject string) {
	marked, why, cleanSubject, _ = e.confidential(subject, headers)
	return marked, why, cleanSubject
}

func (e *Engine) confidential(subject string, headers []Header) (marked bool, why string, cleanSubject string, removed bool) {
	clean, tag, removed := e.stripTags(subject)
	if removed {
		marked, why = true, "subject tag "+quote(tag)
		cleanSubject = clean
	} else {
		cleanSubject = subject
	}
	if !marked && e.sensitivity {
		for _, h := range headers {
			if !strings.EqualFold(strings.TrimSpace(h.Name), "Sensitivity") {
				continue
			}
			v := decodeHeaderValue(h.Value)
			if strings.EqualFold(v, "Company-Confidential") || strings.EqualFold(v, "Private") {
				marked, why = true, "Sensitivity: "+v
				break
			}
		}
	}
	for _, m := range e.markers {
		if marked {
			break
		}
		for _, h := range headers {
			if !strings.EqualFold(strings.TrimSpace(h.Name), m.name) {
				continue
			}
			if m.value == "" || strings.EqualFold(decodeHeaderValue(h.Value), m.value) {
				marked, why = true, "header "+quote(m.raw)
				break
			}
		}
	}
	return marked, why, cleanSubject, removed
}

// stripTags removes every configured tag from the decoded subject. It returns
// the first tag found (as configured) and whether anything was removed.
func (e *Engine) stripTags(subject string) (clean, first string, removed bool) {
	if len(e.tags) == 0 || subject == "" {
		return subject, "", false
	}
	s := decodeHeaderValue(subject)
	for _, tag := range e.tags {
		for {
			a, b := indexFold(s, tag)
			if a < 0 {
				break
			}
			if !removed {
				first, removed = tag, true
			}
			s = joinAround(s[:a], s[b:])
		}
	}
	return s, first, removed
}

// joinAround glues the text left and right of a removed tag: whitespace on
// either side collapses to one space, none at the ends.
func joinAround(left, right string) string {
	l := strings.TrimRightFunc(left, unicode.IsSpace)
	r := strings.TrimLeftFunc(right, unicode.IsSpace)
	switch {
	case l == "":
		return r
	case r == "":
		return l
	case len(l) != len(left) || len(r) != len(right):
		return l + " " + r
	default:
		return l + r
	}
}

// indexFold finds sub in s under Unicode simple case folding and returns the
// byte range of the match in s, or -1, -1.
func indexFold(s, sub string) (int, int) {
	if sub == "" {
		return -1, -1
	}
	for i := 0; i < len(s); {
		if end := prefixFold(s[i:], sub); end >= 0 {
			return i, i + end
		}
		_, n := utf8.DecodeRuneInString(s[i:])
		i += n
	}
	return -1, -1
}

// prefixFold returns the length in s of a case-folded match of sub at its start, or -1.
func prefixFold(s, sub string) int {
	j := 0
	for _, want := range sub {
		if j >= len(s) {
			return -1
		}
		got, n := utf8.DecodeRuneInString(s[j:])
		if !runeEqualFold(got, want) {
			return -1
		}
		j += n
	}
	return j
}

func runeEqualFold(a, b rune) bool {
	if a == b {
		return true
	}
	for f := unicode.SimpleFold(a); f != a; f = unicode.SimpleFold(f) {
		if f == b {
			return true
		}
	}
	return false
}

func quote(s string) string { return `"` + s + `"` }
