package mimecanon

import "bytes"

// MaxLineLength is the longest line (without CRLF) allowed by RFC 5322.
const MaxLineLength = 998

// Is7BitClean reports whether b can travel over 7-bit SMTP unchanged:
// no byte above 0x7F, no NUL, no CR that is not followed by LF and no line
// longer than MaxLineLength octets. Bare LF is allowed (it is canonicalised
// to CRLF).
func Is7BitClean(b []byte) bool {
	lineLen := 0
	for i, c := range b {
		switch {
		case c >= 0x80 || c == 0:
			return false
		case c == '\r':
			if i+1 >= len(b) || b[i+1] != '\n' {
				return false
			}
		case c == '\n':
			lineLen = 0
		default:
			lineLen++
			if lineLen > MaxLineLength {
				return false
			}
		}
	}
	return true
}

// has8Bit reports whether b contains a byte above 0x7F.
func has8Bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// writeCRLF appends b to w with every LF (bare or after CR) written as CRLF.
// Bare CRs are copied unchanged; callers only pass 7-bit clean data.
func writeCRLF(w *bytes.Buffer, b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			w.Write(b)
			return
		}
		line := b[:i]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		w.Write(line)
		w.WriteString("\r\n")
		b = b[i+1:]
	}
}

// line is one line of a body: b[start:end] is its content without line
// ending; next is the offset of the following line (len(b) at the end);
// hasEOL tells whether the line ended with LF.
type line struct {
	start, end, next int
	hasEOL           bool
}

// nextLine returns the line starting at off in b.
func nextLine(b []byte, off int) line {
	i := bytes.IndexByte(b[off:], '\n')
	if i < 0 {
		return line{start: off, end: len(b), next: len(b)}
	}
	end := off + i
	l := line{start: off, end: end, next: end + 1, hasEOL: true}
	if end > off && b[end-1] == '\r' {
		l.end = end - 1
	}
	return l
}

// trimEOL removes one trailing LF or CRLF from b.
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}
