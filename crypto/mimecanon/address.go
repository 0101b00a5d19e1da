package mimecanon

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// Address fields (RFC 5322 3.4) with 8-bit text are rewritten token by
// token: only display names, group names and the words of comments become
// RFC 2047 encoded words (RFC 2047 section 5 (1) and (3)); addresses, group
// syntax ("undisclosed-recipients:;"), angle brackets, quoted local parts
// and the comments themselves stay where they are. An address (addr-spec)
// with 8-bit bytes (an internationalised address) has no 7-bit form: the
// caller then falls back to encoding the whole value.

// addressFields are the fields whose value is an address list.
var addressFields = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "reply-to": true, "sender": true,
	"resent-from": true, "resent-to": true, "resent-cc": true, "resent-bcc": true,
	"resent-sender": true, "resent-reply-to": true, "disposition-notification-to": true,
	"return-receipt-to": true, "mail-followup-to": true, "mail-reply-to": true,
}

type tokKind int

const (
	tokWSP     tokKind = iota
	tokWord            // atom or dot-atom (8-bit bytes included), or a domain literal
	tokQuoted          // quoted-string, quotes included
	tokComment         // comment, parentheses included (nested ones too)
	tokAngle           // angle-addr "<...>"
	tokSpecial         // one of , : ; @ and stray specials
)

type addrToken struct {
	kind tokKind
	text string
}

// lexAddress splits an unfolded address field value into tokens. It never
// fails: an unterminated quoted string, comment or angle-addr runs to the
// end of the value.
func lexAddress(s string) []addrToken {
	var out []addrToken
	for i := 0; i < len(s); {
		start := i
		kind := tokWord
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			kind = tokWSP
			for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
				i++
			}
		case c == '"':
			kind = tokQuoted
			i = skipQuoted(s, i)
		case c == '(':
			kind = tokComment
			i = skipComment(s, i)
		case c == '<':
			kind = tokAngle
			for i++; i < len(s) && s[i] != '>'; i++ {
				if s[i] == '"' {
					i = skipQuoted(s, i) - 1
				}
			}
			i = min(i+1, len(s))
		case c == '[':
			for i++; i < len(s) && s[i] != ']'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
			i = min(i+1, len(s))
		case strings.IndexByte(`,:;@>)]\`, c) >= 0:
			kind = tokSpecial
			i++
		default:
			for i < len(s) && strings.IndexByte(" \t\"(<[,:;@>)]\\", s[i]) < 0 {
				i++
			}
		}
		out = append(out, addrToken{kind: kind, text: s[start:i]})
	}
	return out
}

// skipQuoted returns the offset after the quoted string starting at s[i].
func skipQuoted(s string, i int) int {
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(s)
}

// skipComment returns the offset after the (nested) comment at s[i].
func skipComment(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return len(s)
}

// rewriteAddressList returns a 7-bit form of an address field value that
// encodes only phrases and comments, or ok=false when 8-bit text or
// control characters sit where no encoded word may stand.
func rewriteAddressList(v string) (string, bool) {
	toks := lexAddress(v)
	var b strings.Builder
	pending := 0 // first token of the current phrase or addr-spec
	flush := func(end int, phrase bool) bool {
		if phrase {
			b.WriteString(encodePhrase(toks[pending:end]))
		} else {
			for _, t := range toks[pending:end] {
				switch {
				case t.kind == tokComment:
					b.WriteString(encodeComment(t.text))
				case needsWords(t.text):
					return false
				default:
					b.WriteString(t.text)
				}
			}
		}
		pending = end
		return true
	}
	for i, t := range toks {
		switch {
		case t.kind == tokAngle || (t.kind == tokSpecial && t.text == ":"):
			// What precedes is a display name or a group name.
			if !flush(i, true) || needsWords(t.text) {
				return "", false
			}
			b.WriteString(t.text)
			pending = i + 1
		case t.kind == tokSpecial && (t.text == "," || t.text == ";"):
			if !flush(i, false) {
				return "", false
			}
			b.WriteString(t.text)
			pending = i + 1
		}
	}
	if !flush(len(toks), false) {
		return "", false
	}
	return b.String(), true
}

// phraseWord is the text a word of a phrase stands for.
func phraseWord(t addrToken) string {
	if t.kind == tokQuoted {
		return unquote(t.text)
	}
	return t.text
}

// encodePhrase writes a phrase (words, white space and comments) with every
// run of words between comments that holds 8-bit text turned into encoded
// words: from its first to its last such word, so ASCII words around stay
// readable. A comment inside a phrase gets its own words encoded.
func encodePhrase(toks []addrToken) string {
	var b strings.Builder
	for len(toks) > 0 {
		if toks[0].kind == tokComment {
			b.WriteString(encodeComment(toks[0].text))
			toks = toks[1:]
			continue
		}
		n := 0
		for n < len(toks) && toks[n].kind != tokComment {
			n++
		}
		b.WriteString(encodeRun(toks[:n], phraseWord))
		toks = toks[n:]
	}
	return b.String()
}

// encodeRun writes words separated by white space (tokWSP); words from the
// first to the last one that needs encoding become encoded words of their
// joined text (word(t) is the text a token stands for).
func encodeRun(toks []addrToken, word func(addrToken) string) string {
	first, last := -1, -1
	for i, t := range toks {
		if t.kind != tokWSP && needsWords(t.text) {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	var b strings.Builder
	if first < 0 {
		for _, t := range toks {
			b.WriteString(t.text)
		}
		return b.String()
	}
	for _, t := range toks[:first] {
		b.WriteString(t.text)
	}
	var text []string
	for _, t := range toks[first : last+1] {
		if t.kind != tokWSP {
			text = append(text, word(t))
		}
	}
	if first > 0 && toks[first-1].kind != tokWSP {
		b.WriteByte(' ') // an encoded word must stand apart from other words
	}
	b.WriteString(encodedWords(strings.Join(text, " ")))
	if last+1 < len(toks) && toks[last+1].kind != tokWSP {
		b.WriteByte(' ')
	}
	for _, t := range toks[last+1:] {
		b.WriteString(t.text)
	}
	return b.String()
}

// encodeComment encodes the words of a comment that hold 8-bit text or
// control characters (RFC 2047 5 (1)); parentheses, nesting, white space
// and ASCII words stay.
func encodeComment(c string) string {
	if !needsWords(c) {
		return c
	}
	var b strings.Builder
	var run []addrToken // the current run of words and white space
	endRun := func() {
		b.WriteString(encodeRun(run, unescapeComment))
		run = run[:0]
	}
	for i := 0; i < len(c); {
		switch ch := c[i]; {
		case ch == '(' || ch == ')':
			endRun()
			b.WriteByte(ch)
			i++
		case ch == ' ' || ch == '\t':
			j := i
			for j < len(c) && (c[j] == ' ' || c[j] == '\t') {
				j++
			}
			run = append(run, addrToken{kind: tokWSP, text: c[i:j]})
			i = j
		default:
			j := i
			for j < len(c) && c[j] != '(' && c[j] != ')' && c[j] != ' ' && c[j] != '\t' {
				if c[j] == '\\' && j+1 < len(c) {
					j++
				}
				j++
			}
			run = append(run, addrToken{kind: tokWord, text: c[i:j]})
			i = j
		}
	}
	endRun()
	return b.String()
}

// unescapeComment removes the backslashes of quoted pairs in a comment word.
func unescapeComment(t addrToken) string {
	if !strings.Contains(t.text, `\`) {
		return t.text
	}
	var b strings.Builder
	for i := 0; i < len(t.text); i++ {
		if t.text[i] == '\\' && i+1 < len(t.text) {
			i++
		}
		b.WriteByte(t.text[i])
	}
	return b.String()
}

// toUTF8 returns s as UTF-8: text that is not valid UTF-8 is taken as
// windows-1252, the superset of ISO-8859-1 that mail clients mean when they
// send 8-bit "Latin-1" headers.
func toUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	if d, err := charmap.Windows1252.NewDecoder().String(s); err == nil {
		return d
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// ewMax is the longest encoded word (RFC 2047 2); ewPrefix and "?=" frame it.
const (
	ewMax    = 75
	ewPrefix = "=?utf-8?q?"
)

// encodedWords encodes text as UTF-8 "Q" encoded words of at most 75
// characters, split between characters and separated by spaces. Only the
// characters RFC 2047 5 (3) allows in a phrase stay literal, so the words
// are valid in phrases and comments alike.
func encodedWords(text string) string {
	text = toUTF8(text)
	var b strings.Builder
	n := 0 // length of the current word
	for _, r := range text {
		var enc [4 * 3]byte
		var e []byte
		switch {
		case r == ' ':
			e = append(enc[:0], '_')
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!*+-/", r)):
			e = append(enc[:0], byte(r))
		default:
			var u [utf8.UTFMax]byte
			for _, c := range u[:utf8.EncodeRune(u[:], r)] {
				e = append(e, '=', hexDigits[c>>4], hexDigits[c&0x0f])
			}
		}
		if n > 0 && n+len(e)+2 > ewMax {
			b.WriteString("?= ")
			n = 0
		}
		if n == 0 {
			b.WriteString(ewPrefix)
			n = len(ewPrefix)
		}
		b.Write(e)
		n += len(e)
	}
	if n > 0 {
		b.WriteString("?=")
	}
	return b.String()
}
