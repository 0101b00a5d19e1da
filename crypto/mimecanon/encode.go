package mimecanon

import (
	"bytes"
	"encoding/base64"
)

const (
	qpLineMax  = 76 // RFC 2045 6.7 (5): encoded lines are at most 76 characters
	b64LineMax = 76
	hexDigits  = "0123456789ABCDEF"
)

// writeBase64 writes data base64-encoded in lines of 76 characters, each
// ended by CRLF.
func writeBase64(w *bytes.Buffer, data []byte) {
	enc := make([]byte, base64.StdEncoding.EncodedLen(len(data)))
	base64.StdEncoding.Encode(enc, data)
	writeWrapped(w, enc)
}

func writeWrapped(w *bytes.Buffer, enc []byte) {
	for len(enc) > 0 {
		n := min(b64LineMax, len(enc))
		w.Write(enc[:n])
		w.WriteString("\r\n")
		enc = enc[n:]
	}
}

// repairBase64 rewrites a base64 body that is not 7-bit clean (typically
// one endless line, or stray 8-bit garbage): it keeps only characters of the
// base64 alphabet, which are the only ones a decoder uses, and wraps them
// at 76 characters. The decoded content does not change.
func repairBase64(w *bytes.Buffer, body []byte) {
	keep := make([]byte, 0, len(body))
	for _, c := range body {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' {
			keep = append(keep, c)
		}
	}
	writeWrapped(w, keep)
}

// qpLiteral reports whether c may appear unencoded in quoted-printable text.
func qpLiteral(c byte) bool {
	return c == '\t' || (c >= ' ' && c <= '~' && c != '=')
}

// qpLine collects one encoded line and inserts soft line breaks.
type qpLine struct {
	w *bytes.Buffer
	n int // characters on the current output line
}

// token writes one encoded token (a literal byte or "=XX"), breaking the line
// first when it would not fit.
func (q *qpLine) token(t []byte) {
	if q.n+len(t) > qpLineMax-1 { // keep room for the soft break "="
		q.w.WriteString("=\r\n")
		q.n = 0
	}
	q.w.Write(t)
	q.n += len(t)
}

func (q *qpLine) escaped(c byte) {
	q.token([]byte{'=', hexDigits[c>>4], hexDigits[c&0x0f]})
}

// literal writes c unencoded unless it would start an output line (the
// line's start or just after a soft break) as the "F" of "From ": mbox
// delivery quotes such a line as ">From ", which breaks a signature, so
// that "F" is written as =46 (rest holds c and what follows it).
func (q *qpLine) literal(c byte, rest []byte) {
	if c == 'F' && (q.n == 0 || q.n+1 > qpLineMax-1) && bytes.HasPrefix(rest, fromLine) {
		q.escaped(c)
		return
	}
	q.token([]byte{c})
}

// fromLine is what mbox delivery quotes at the start of a line.
var fromLine = []byte("From ")

// hasFromLine reports whether a line of b starts with "From ".
func hasFromLine(b []byte) bool {
	if bytes.HasPrefix(b, fromLine) {
		return true
	}
	return bytes.Contains(b, []byte("\nFrom "))
}

// writeQP encodes text body data as quoted-printable. LF and CRLF are hard
// line breaks (written as CRLF); a bare CR is data (=0D). Trailing white
// space and "From " at the start of an output line (also after a soft
// break) are encoded so that no relay or mailbox can alter them.
func writeQP(w *bytes.Buffer, data []byte) {
	for off := 0; off < len(data); {
		l := nextLine(data, off)
		q := qpLine{w: w}
		content := data[l.start:l.end]
		for i, c := range content {
			switch {
			case c == '.' && i == 0 && len(content) == 1:
				q.escaped(c)
			case (c == ' ' || c == '\t') && i == len(content)-1:
				q.escaped(c)
			case qpLiteral(c):
				q.literal(c, content[i:])
			default:
				q.escaped(c)
			}
		}
		if l.hasEOL {
			w.WriteString("\r\n")
		}
		off = l.next
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f'
}

// repairQP rewrites a quoted-printable body that is not 7-bit clean, or has
// a line starting "From ", without changing what a lenient decoder makes of
// it: raw 8-bit bytes, NULs, bare CRs and other control characters become
// =XX, lines longer than 76 characters get soft line breaks (never inside an
// =XX escape) and an "F" that would start a line as "From " becomes =46.
// Valid escapes and soft line breaks are kept.
func repairQP(w *bytes.Buffer, body []byte) {
	for off := 0; off < len(body); {
		l := nextLine(body, off)
		content := body[l.start:l.end]
		if Is7BitClean(content) && len(content) <= MaxLineLength && bytes.IndexByte(content, '\r') < 0 && !bytes.HasPrefix(content, fromLine) {
			w.Write(content) // this line travels as is
		} else {
			q := qpLine{w: w}
			for i := 0; i < len(content); i++ {
				c := content[i]
				switch {
				case c == '=' && i+2 < len(content) && isHex(content[i+1]) && isHex(content[i+2]):
					q.token(content[i : i+3])
					i += 2
				case c == '=' && i == len(content)-1:
					q.w.WriteByte('=') // existing soft line break
					q.n++
				case c == '=':
					q.escaped(c) // malformed "=": lenient decoders keep it literally
				case qpLiteral(c):
					q.literal(c, content[i:])
				default:
					q.escaped(c)
				}
			}
		}
		if l.hasEOL {
			w.WriteString("\r\n")
		}
		off = l.next
	}
}
