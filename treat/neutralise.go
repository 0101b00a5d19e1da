package treat

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"strings"

	"golang.org/x/text/encoding/htmlindex"

	"github.com/mailseal/mailseal/pdfmail"
)

// NeutralisedNote is the Content-Description of a part Neutralise rewrote.
const NeutralisedNote = "HTML shown as plain text by the mail gateway: the message arrived encrypted without integrity protection (AES-CBC), so active content in it could have been planted"

// maxNeutraliseDepth bounds how deeply Neutralise follows multiparts and
// attached messages; deeper content is treated as hostile.
const maxNeutraliseDepth = 32

// maxNeutraliseParts bounds the parts Neutralise walks in one entity.
const maxNeutraliseParts = 2000

var errHostile = errors.New("treat: structure too odd to rewrite part by part")

// Neutralise makes an unauthenticated decrypted entity safe to show: every
// part a mail reader would render as active markup (text/html, XHTML, SVG,
// XML, also inside attached messages) is replaced by a text/plain part
// holding its text (links written out as "text <url>", images as their alt
// text, nothing loaded, nothing run), marked with NeutralisedNote. Other
// parts keep their bytes. An entity whose structure cannot be walked part
// by part (broken multipart, nesting too deep) is replaced as a whole by a
// short notice with the decrypted entity attached as a file.
//
// This is the defence against EFAIL's CBC gadgets: someone who captured an
// encrypted message can alter its CBC ciphertext to plant, say,
// <img src="http://evil/? in front of the plaintext; after decryption a
// reader rendering that HTML would send the plaintext away. Text cannot do
// that. changed reports whether anything was rewritten.
func Neutralise(e *Entity) (out *Entity, changed bool) {
	defer func() {
		if r := recover(); r != nil {
			out, changed = wrapHostile(e), true
		}
	}()
	n := 0
	fields, body, changed, err := neutralise(e.Fields, e.Body, "text/plain", 0, &n)
	if err != nil {
		return wrapHostile(e), true
	}
	if !changed {
		return e, false
	}
	if fieldValue(fields, "MIME-Version") == "" {
		fields = append([]Field{{"MIME-Version", "1.0"}}, fields...)
	}
	return &Entity{Fields: fields, Body: body}, true
}

// activeType reports media types readers render as active markup.
func activeType(mt string) bool {
	return strings.Contains(mt, "html") || strings.Contains(mt, "xml") || strings.Contains(mt, "svg")
}

// mediaType parses a Content-Type leniently. A value that does not parse
// is judged by its text: anything naming markup counts as markup, since a
// reader may guess so.
func mediaType(ct string) (string, map[string]string, bool) {
	return mediaTypeOr(ct, "text/plain")
}

// mediaTypeOr is mediaType with the default for a part without
// Content-Type (message/rfc822 inside multipart/digest, RFC 2046 5.1.5).
func mediaTypeOr(ct, def string) (string, map[string]string, bool) {
	if ct == "" {
		return def, map[string]string{}, true
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(ct), map[string]string{}, false
	}
	return mt, params, true
}

func neutralise(fields []Field, body []byte, def string, depth int, parts *int) ([]Field, []byte, bool, error) {
	if depth > maxNeutraliseDepth {
		return nil, nil, false, errHostile
	}
	if *parts++; *parts > maxNeutraliseParts {
		return nil, nil, false, errHostile
	}
	n := 0
	for _, f := range fields {
		if strings.EqualFold(strings.TrimSpace(f.Name), "Content-Type") {
			n++
		}
	}
	if n > 1 {
		// Readers differ on which one counts: we cannot know what they show.
		return nil, nil, false, errHostile
	}
	mt, params, ok := mediaTypeOr(fieldValue(fields, "Content-Type"), def)
	switch {
	case activeType(mt):
		return htmlAsText(fields, body, params)
	case !ok && (strings.HasPrefix(mt, "multipart/") || strings.HasPrefix(mt, "message/")):
		// A container whose type does not parse (say, two boundary
		// parameters): a reader may still open it, and we cannot know
		// which parts it would see.
		return nil, nil, false, errHostile
	case !ok:
		// An unreadable type that names no markup: readers show it as
		// text/plain or an attachment.
		return fields, body, false, nil
	case strings.HasPrefix(mt, "multipart/"):
		return neutraliseMultipart(fields, body, params["boundary"], mt == "multipart/digest", depth, parts)
	case mt == "message/rfc822" || mt == "message/global":
		inner, ibody, err := splitHeader(body)
		if err != nil {
			return nil, nil, false, errHostile
		}
		var content []Field
		for _, f := range inner {
			if isContentField(f.Name) {
				content = append(content, f)
			}
		}
		if cte := strings.ToLower(fieldValue(fields, "Content-Transfer-Encoding")); cte == "base64" || cte == "quoted-printable" {
			// Not allowed for message/rfc822 (RFC 2046 5.2.1), yet some
			// readers decode it: we cannot see inside without doing the
			// same, so treat it as hostile.
			return nil, nil, false, errHostile
		}
		nf, nb, changed, err := neutralise(content, ibody, "text/plain", depth+1, parts)
		if err != nil || !changed {
			return fields, body, false, err
		}
		var b bytes.Buffer
		for _, f := range inner {
			if !isContentField(f.Name) {
				writeField(&b, f)
			}
		}
		for _, f := range nf {
			writeField(&b, f)
		}
		b.WriteString("\r\n")
		b.Write(nb)
		return fields, b.Bytes(), true, nil
	}
	return fields, body, false, nil
}

func neutraliseMultipart(fields []Field, body []byte, boundary string, digest bool, depth int, parts *int) ([]Field, []byte, bool, error) {
	def := "text/plain"
	if digest {
		def = "message/rfc822"
	}
	if boundary == "" {
		return nil, nil, false, errHostile
	}
	raws, err := splitMultipart(body, boundary)
	if err != nil {
		return nil, nil, false, err
	}
	out := make([][]byte, len(raws))
	changed := false
	for i, raw := range raws {
		pf, pb, err := splitHeader(raw)
		if err != nil {
			return nil, nil, false, errHostile
		}
		nf, nb, c, err := neutralise(pf, pb, def, depth+1, parts)
		if err != nil {
			return nil, nil, false, err
		}
		if !c {
			out[i] = raw
			continue
		}
		changed = true
		var b bytes.Buffer
		for _, f := range nf {
			writeField(&b, f)
		}
		b.WriteString("\r\n")
		b.Write(nb)
		out[i] = b.Bytes()
	}
	if !changed {
		return fields, body, false, nil
	}
	// Preamble and epilogue are dropped: readers do not show them, and
	// nothing outside the parts should survive a rewrite unseen.
	var b bytes.Buffer
	for _, p := range out {
		b.WriteString("--" + boundary + "\r\n")
		b.Write(p)
		b.WriteString("\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return fields, b.Bytes(), true, nil
}

// splitMultipart returns the parts of a multipart body, each the exact
// bytes between its delimiter line and the CRLF before the next delimiter
// (what a multipart/signed signature covers). A missing close delimiter is
// tolerated as readers tolerate it; no delimiter at all is an error.
func splitMultipart(body []byte, boundary string) ([][]byte, error) {
	delim := []byte("--" + boundary)
	var parts [][]byte
	start := -1 // start of the current part's bytes
	pos := 0
	for pos <= len(body) {
		lineEnd := bytes.Index(body[pos:], []byte("\r\n"))
		next := len(body) + 1
		line := body[pos:]
		if lineEnd >= 0 {
			line = body[pos : pos+lineEnd]
			next = pos + lineEnd + 2
		}
		if bytes.HasPrefix(line, delim) {
			rest := bytes.TrimRight(line[len(delim):], " \t")
			closing := bytes.Equal(rest, []byte("--"))
			if closing || len(rest) == 0 {
				if start >= 0 {
					end := pos - 2 // the CRLF before the delimiter belongs to it
					if end < start {
						end = start
					}
					parts = append(parts, body[start:end])
				}
				if closing {
					return parts, nil
				}
				start = next
				if start > len(body) {
					start = len(body)
				}
			}
		}
		pos = next
	}
	if start < 0 {
		return nil, fmt.Errorf("%w: multipart without delimiter", errHostile)
	}
	parts = append(parts, bytes.TrimRight(body[start:], "\r\n"))
	return parts, nil
}

// htmlAsText replaces an active part by its text.
func htmlAsText(fields []Field, body []byte, params map[string]string) ([]Field, []byte, bool, error) {
	decoded := decodePart(fieldValue(fields, "Content-Transfer-Encoding"), body)
	text := pdfmail.HTMLText(toUTF8(decoded, params["charset"]))
	nf := []Field{
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "base64"},
		{"Content-Disposition", "inline"},
		{"Content-Description", NeutralisedNote},
	}
	return nf, base64Lines([]byte(text + "\n")), true, nil
}

// decodePart undoes a part's transfer encoding leniently (a broken
// encoding shows the raw bytes: they become inactive text all the same).
func decodePart(cte string, body []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		clean := bytes.Map(func(r rune) rune {
			if strings.ContainsRune(" \t\r\n", r) {
				return -1
			}
			return r
		}, body)
		out := make([]byte, base64.StdEncoding.DecodedLen(len(clean)))
		n, err := base64.StdEncoding.Decode(out, clean)
		if err != nil {
			if n2, err2 := base64.RawStdEncoding.Decode(out, bytes.TrimRight(clean, "=")); err2 == nil {
				return out[:n2]
			}
			return body
		}
		return out[:n]
	case "quoted-printable":
		out, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		if err != nil {
			return body
		}
		return out
	}
	return body
}

// toUTF8 converts text in charset to UTF-8; unknown charsets are read as
// UTF-8 (invalid bytes become U+FFFD when the text is written).
func toUTF8(b []byte, charset string) string {
	if charset == "" || strings.EqualFold(charset, "utf-8") || strings.EqualFold(charset, "us-ascii") {
		return string(b)
	}
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return string(b)
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return string(b)
	}
	return string(out)
}

// base64Lines encodes b in lines of 76 characters, CRLF.
func base64Lines(b []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(b)
	var out bytes.Buffer
	out.Grow(len(enc) + len(enc)/76*2 + 2)
	for len(enc) > 76 {
		out.WriteString(enc[:76])
		out.WriteString("\r\n")
		enc = enc[76:]
	}
	out.WriteString(enc)
	out.WriteString("\r\n")
	return out.Bytes()
}

// hostileNote is the text shown in place of an entity Neutralise could not
// walk.
const hostileNote = "This message arrived encrypted without integrity protection (AES-CBC),\r\n" +
	"and its structure could not be checked part by part for active content\r\n" +
	"(such as HTML that loads images from the internet). To protect you, the\r\n" +
	"mail gateway does not show it directly: the decrypted message is attached\r\n" +
	"as a file. Open it only if you trust the sender, and preferably with\r\n" +
	"remote content turned off.\r\n"

// wrapHostile replaces e by a notice with e attached as a file.
func wrapHostile(e *Entity) *Entity {
	// The boundary comes from the content, so the same content always
	// makes the same bytes (each recipient's decryption is compared); it
	// cannot occur inside: the note is fixed text and the rest base64.
	sum := sha256.Sum256(e.Bytes())
	boundary := "=_mailseal_" + hex.EncodeToString(sum[:12])
	var b bytes.Buffer
	b.WriteString("--" + boundary + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n")
	b.WriteString(hostileNote)
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: application/octet-stream; name=\"decrypted-message.bin\"\r\n")
	b.WriteString("Content-Disposition: attachment; filename=\"decrypted-message.bin\"\r\n")
	b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
	b.Write(base64Lines(e.Bytes()))
	b.WriteString("--" + boundary + "--\r\n")
	return &Entity{
		Fields: []Field{
			{"MIME-Version", "1.0"},
			{"Content-Type", "multipart/mixed; boundary=\"" + boundary + "\""},
		},
		Body: b.Bytes(),
	}
}
