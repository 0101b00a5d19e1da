package mimecanon

import "bytes"

// delim is one delimiter line of a multipart body.
type delim struct {
	l     line
	close bool
}

// multipartBody is a multipart body split at its delimiter lines.
type multipartBody struct {
	body   []byte
	delims []delim // up to and including the close delimiter, if any
}

// isDelim reports whether content is "--boundary" or "--boundary--",
// followed only by transport padding (spaces and tabs).
func isDelim(content []byte, dash []byte) (ok, closing bool) {
	if !bytes.HasPrefix(content, dash) {
		return false, false
	}
	rest := content[len(dash):]
	if bytes.HasPrefix(rest, []byte("--")) {
		closing = true
		rest = rest[2:]
	}
	for _, c := range rest {
		if c != ' ' && c != '\t' {
			return false, false
		}
	}
	return true, closing
}

// splitMultipart finds the delimiter lines of body. It fails when the
// boundary is unusable or never occurs.
func splitMultipart(body []byte, boundary string) (multipartBody, bool) {
	if boundary == "" || len(boundary) > 200 || bytes.ContainsAny([]byte(boundary), "\r\n") {
		return multipartBody{}, false
	}
	dash := []byte("--" + boundary)
	mb := multipartBody{body: body}
	for off := 0; off < len(body); {
		l := nextLine(body, off)
		if ok, closing := isDelim(body[l.start:l.end], dash); ok {
			mb.delims = append(mb.delims, delim{l: l, close: closing})
			if closing {
				break
			}
		}
		off = l.next
	}
	return mb, len(mb.delims) > 0
}

// writeExtra writes a preamble or epilogue: as is when clean, else nothing
// (also when a line starts with "From ", which mbox delivery would quote).
func (c canon) writeExtra(b []byte) {
	if Is7BitClean(b) && !hasFromLine(b) {
		writeCRLF(c.w, b)
	}
}

// writeDelim writes a delimiter line with its CRLF (if it had a line end).
func (c canon) writeDelim(body []byte, d delim) {
	c.w.Write(body[d.l.start:d.l.end])
	if d.l.hasEOL {
		c.w.WriteString("\r\n")
	}
}

// multipart writes a cleaned multipart body. The line end before each
// delimiter belongs to the delimiter (RFC 2046 5.1.1).
func (c canon) multipart(mb multipartBody, mt string, depth int) error {
	body := mb.body
	first := mb.delims[0]
	if first.l.start > 0 {
		c.writeExtra(trimEOL(body[:first.l.start]))
		c.w.WriteString("\r\n")
	}
	defType := "text/plain"
	if mt == "multipart/digest" {
		defType = "message/rfc822"
	}
	for i, d := range mb.delims {
		c.writeDelim(body, d)
		if d.close {
			if d.l.hasEOL {
				c.writeExtra(body[d.l.next:])
			}
			return nil
		}
		var part []byte
		sep := false
		if i+1 < len(mb.delims) {
			next := mb.delims[i+1].l.start
			if next > d.l.next {
				part, sep = trimEOL(body[d.l.next:next]), true
			}
		} else {
			part = body[d.l.next:] // no close delimiter: the part runs to the end
		}
		if len(part) > 0 {
			h, pbody, bare := parseHeader(part)
			if err := c.entity(h, pbody, bare, defType, depth+1); err != nil {
				return err
			}
		}
		if sep {
			c.w.WriteString("\r\n")
		}
	}
	return nil
}
