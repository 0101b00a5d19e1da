package mimecanon

import (
	"mime"
	"strings"
)

type param struct{ key, value string }

// parseParams is a tolerant parser for "type/sub; k=v; k2="v 2"" values. It
// accepts what mime.ParseMediaType refuses (8-bit bytes in unquoted values,
// duplicate keys) and keeps the order of the parameters.
func parseParams(v string) (mediaType string, ps []param, ok bool) {
	segs := splitUnquoted(v, ';')
	mediaType = strings.TrimSpace(segs[0])
	if mediaType == "" {
		return "", nil, false
	}
	for _, s := range segs[1:] {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		k, val, found := strings.Cut(s, "=")
		k = strings.TrimSpace(k)
		if !found || k == "" || needsWords(k) || strings.ContainsAny(k, " \t\"") {
			return "", nil, false
		}
		val = strings.TrimSpace(val)
		if strings.HasPrefix(val, "\"") {
			val = unquote(val)
		}
		ps = append(ps, param{key: k, value: val})
	}
	return mediaType, ps, true
}

// splitUnquoted splits s at sep outside double quotes.
func splitUnquoted(s string, sep byte) []string {
	var out []string
	inQuote, esc, start := false, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case esc:
			esc = false
		case c == '\\' && inQuote:
			esc = true
		case c == '"':
			inQuote = !inQuote
		case c == sep && !inQuote:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unquote removes the quotes and backslash escapes of a quoted string; an
// unterminated string runs to the end.
func unquote(s string) string {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			b.WriteByte(s[i])
			continue
		}
		if c == '"' {
			break
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?=", c) >= 0 {
			return false
		}
	}
	return true
}

// formatParams writes a parameter value list with one parameter per folded
// line. Values with 8-bit or control characters, and values too long for
// one line, use RFC 2231 extended syntax (with continuations).
func formatParams(mediaType string, ps []param) string {
	var b strings.Builder
	b.WriteString(mediaType)
	for _, p := range ps {
		for _, s := range formatParam(p) {
			b.WriteString("; ")
			b.WriteString(s)
		}
	}
	return b.String()
}

const paramChunk = 60 // characters of encoded value per continuation

func formatParam(p param) []string {
	if strings.HasSuffix(p.key, "*") {
		// Already RFC 2231 extended: only escape what may not appear, and
		// split a long value into continuations (name*0*=, name*1*=, …) so
		// the field can be folded; a continuation key is left as it is.
		enc := pctEncode(p.value, true)
		base := strings.TrimSuffix(p.key, "*")
		if len(enc) <= paramChunk || strings.Contains(base, "*") {
			return []string{p.key + "=" + enc}
		}
		return continuations(base, "", enc)
	}
	if !needsWords(p.value) && len(p.value) <= paramChunk {
		if isToken(p.value) {
			return []string{p.key + "=" + p.value}
		}
		return []string{p.key + "=" + quote(p.value)}
	}
	enc := pctEncode(p.value, false)
	prefix := charsetFor(p.value) + "''"
	if len(enc) <= paramChunk {
		return []string{p.key + "*=" + prefix + enc}
	}
	return continuations(p.key, prefix, enc)
}

// continuations splits a percent-encoded value into RFC 2231 continuations
// key*0*=prefix…, key*1*=…, never inside a %XX escape.
func continuations(key, prefix, enc string) []string {
	var out []string
	for i := 0; len(enc) > 0; i++ {
		n := min(paramChunk, len(enc))
		// never split a %XX escape
		if n < len(enc) {
			if enc[n-1] == '%' {
				n--
			} else if n >= 2 && enc[n-2] == '%' {
				n -= 2
			}
		}
		s := key + "*" + itoa(i) + "*="
		if i == 0 {
			s += prefix
		}
		out = append(out, s+enc[:n])
		enc = enc[n:]
	}
	return out
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// pctEncode percent-encodes everything but RFC 2231 attribute-chars; with
// keepPct an existing "%" stays (the value is already encoded).
func pctEncode(s string, keepPct bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keepPct && c > ' ' && c < 0x7f && c != ';' && c != '"' && c != '\\' {
			b.WriteByte(c)
			continue
		}
		if !keepPct && c != '%' && c != '*' && c != '\'' && isToken(string(c)) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0x0f])
	}
	return b.String()
}

// contentType returns the lower-cased media type and the boundary parameter
// of a Content-Type value, falling back to the tolerant parser.
func contentType(v string) (mediaType, boundary string) {
	mt, ps, err := mime.ParseMediaType(v)
	if err == nil {
		return mt, ps["boundary"]
	}
	mt, pl, ok := parseParams(v)
	if !ok {
		mt, _, _ = strings.Cut(v, ";")
		return strings.ToLower(strings.TrimSpace(mt)), ""
	}
	for _, p := range pl {
		if strings.EqualFold(p.key, "boundary") {
			boundary = p.value
		}
	}
	return strings.ToLower(mt), boundary
}
