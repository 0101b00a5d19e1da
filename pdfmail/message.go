package pdfmail

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/htmlindex"
)

// maxDepth bounds MIME nesting: deeper parts are kept only inside message.eml.
const maxDepth = 20

// parsed is what Render needs from a message.
type parsed struct {
	From, To, Cc, Date, Subject string
	// Body is the text shown in the PDF (UTF-8; HTML already turned into text).
	Body string
	// FromHTML: the message had no text/plain part; Body is its HTML as text.
	FromHTML bool
	// Attachments are the decoded parts that are not the shown body text.
	Attachments []attachment
	// Damaged is set when part of the MIME structure could not be read; what was read
	// is still shown and the original message is embedded whole.
	Damaged bool
}

// attachment is one MIME part embedded as a file. Its bytes are not kept: they are
// decoded again from the message while the PDF is written (see Document.EncryptTo),
// so a large attachment is never held in memory.
type attachment struct {
	Name string
	Type string
	Size int64 // decoded size
	leaf int   // which leaf part of the message it is (1-based, in walk order)
}

// Source opens the message from its first byte; every call starts again. The
// message must not change between calls.
type Source func() (io.Reader, error)

// BytesSource is the Source of a message held in memory.
func BytesSource(msg []byte) Source {
	return func() (io.Reader, error) { return bytes.NewReader(msg), nil }
}

// ErrMalformed wraps a failure to read the message at all (today only a parser
// panic: a broken header section is shown as text instead).
var ErrMalformed = errors.New("pdfmail: message cannot be parsed")

// maxDamagedText bounds how much of a message whose header cannot be parsed is read
// to be shown as text (more is never laid out; message.eml keeps it all).
const maxDamagedText = 8 << 20

// parseMessage reads msg (see parseFrom).
func parseMessage(msg []byte) (*parsed, error) { return parseFrom(BytesSource(msg)) }

// parseFrom reads the message behind recover: go-message is a parser of outside
// data. Text parts shown as the body are decoded into memory; attachments are only
// measured, so their bytes never stay in memory.
func parseFrom(open Source) (p *parsed, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("%w: panic in parser: %v", ErrMalformed, r)
		}
	}()
	r, err := open()
	if err != nil {
		return nil, fmt.Errorf("pdfmail: read message: %w", err)
	}
	br := bufio.NewReader(r)
	h, err := textproto.ReadHeader(br)
	if err != nil {
		// A header section nobody can parse: show the message as text rather
		// than fail, so protected mail is still delivered (message.eml has it too).
		if r, err = open(); err != nil {
			return nil, fmt.Errorf("pdfmail: read message: %w", err)
		}
		text, err := io.ReadAll(io.LimitReader(r, maxDamagedText))
		if err != nil {
			return nil, fmt.Errorf("pdfmail: read message: %w", err)
		}
		return &parsed{Body: toUTF8(text, ""), Damaged: true}, nil
	}
	p = &parsed{
		From:    headerText(h, "From"),
		To:      headerText(h, "To"),
		Cc:      headerText(h, "Cc"),
		Date:    headerText(h, "Date"),
		Subject: headerText(h, "Subject"),
	}
	w := walker{p: p}
	w.walk(h, br, 0)
	switch {
	case len(w.plain) > 0:
		p.Body = strings.Join(w.plain, "\n\n")
	case len(w.html) > 0:
		p.FromHTML = true
		var parts []string
		for _, h := range w.html {
			parts = append(parts, htmlToText(h))
		}
		p.Body = strings.Join(parts, "\n\n")
	}
	return p, nil
}

// eachAttachment walks the message again and calls fn with the decoded bytes of
// every leaf part listed in leaves (in walk order), the parts parseFrom found to be
// attachments. fn must consume r before it returns.
func eachAttachment(open Source, leaves []int, fn func(i int, r io.Reader) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: panic in parser: %v", ErrMalformed, r)
		}
	}()
	if len(leaves) == 0 {
		return nil
	}
	r, err := open()
	if err != nil {
		return fmt.Errorf("pdfmail: read message: %w", err)
	}
	// A part that does not decode to the end keeps what decoded (as when it was
	// measured); a failure to read the message itself fails the whole PDF.
	src := &readErr{r: r}
	br := bufio.NewReader(src)
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	want := make(map[int]int, len(leaves))
	for i, l := range leaves {
		want[l] = i
	}
	w := walker{p: &parsed{}, emit: func(leaf int, h textproto.Header, body io.Reader) error {
		i, ok := want[leaf]
		if !ok {
			return nil
		}
		return fn(i, decodeErrEOF{transferDecoder(h, body)})
	}}
	w.walk(h, br, 0)
	if src.err != nil {
		return fmt.Errorf("pdfmail: read message: %w", src.err)
	}
	return w.err
}

// readErr remembers the first error other than io.EOF its reader returned.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// decodeErrEOF ends a part's decoded bytes at the first decoding error, as
// measuring did (the part is then shown as damaged).
type decodeErrEOF struct{ r io.Reader }

func (d decodeErrEOF) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		err = io.EOF
	}
	return n, err
}

type walker struct {
	p *parsed
	// emit, when set, makes the walk only hand every leaf part to it (see
	// eachAttachment); the first error it returns stops the walk.
	emit  func(leaf int, h textproto.Header, body io.Reader) error
	err   error
	plain []string
	html  []string
	n     int // leaf parts seen, for generated names and eachAttachment
}

func (w *walker) walk(h textproto.Header, body io.Reader, depth int) {
	if depth > maxDepth || w.err != nil {
		w.p.Damaged = true
		return
	}
	mh := message.Header{Header: h}
	// A bad parameter still leaves the media type (params are then empty); no
	// Content-Type at all means text/plain (RFC 2045).
	mediaType, params, _ := mh.ContentType()
	if mediaType == "" {
		mediaType = "text/plain"
	}
	if params == nil {
		params = map[string]string{}
	}
	if strings.HasPrefix(mediaType, "multipart/") && params["boundary"] != "" {
		mr := textproto.NewMultipartReader(body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				w.p.Damaged = true
				return
			}
			w.walk(part.Header, part, depth+1)
		}
	}
	w.n++
	if w.emit != nil {
		if err := w.emit(w.n, h, body); err != nil && w.err == nil {
			w.err = err
		}
		return
	}
	disp, dparams, _ := mh.ContentDisposition()
	name := decodeWord(dparams["filename"])
	if name == "" {
		name = decodeWord(params["name"])
	}
	isText := mediaType == "text/plain" || mediaType == "text/html"
	if isText && disp != "attachment" && name == "" {
		data, err := readAllSlack(transferDecoder(h, body))
		if err != nil {
			w.p.Damaged = true
		}
		text := toUTF8(data, params["charset"])
		if mediaType == "text/plain" {
			w.plain = append(w.plain, text)
		} else {
			w.html = append(w.html, text)
		}
		return
	}
	// Only measured here: the bytes are decoded again as the PDF is written.
	size, err := io.Copy(io.Discard, transferDecoder(h, body))
	if err != nil {
		w.p.Damaged = true
	}
	if name == "" {
		name = fmt.Sprintf("part-%d%s", w.n, extensionFor(mediaType))
	}
	w.p.Attachments = append(w.p.Attachments, attachment{Name: name, Type: mediaType, Size: size, leaf: w.n})
}

// transferDecoder undoes the Content-Transfer-Encoding only (never a charset), so an
// attachment keeps its bytes exactly. An unknown encoding leaves the body as it is:
// shown raw, never lost.
func transferDecoder(h textproto.Header, body io.Reader) io.Reader {
	var th textproto.Header
	th.Set("Content-Type", "application/octet-stream")
	if cte := h.Get("Content-Transfer-Encoding"); cte != "" {
		th.Set("Content-Transfer-Encoding", cte)
	}
	e, _ := message.New(message.Header{Header: th}, body)
	return e.Body
}

// readAllSlack reads r into a slice of exactly its size plus 16 bytes of spare
// capacity (one AES block, see aesBlock). It reads into chunks first and copies once:
// growing one slice would allocate about five times the data on the way.
func readAllSlack(r io.Reader) ([]byte, error) {
	var chunks [][]byte
	total := 0
	size := 4096
	var err error
	for err == nil {
		c := make([]byte, size)
		n := 0
		for n < len(c) && err == nil {
			var m int
			m, err = r.Read(c[n:])
			n += m
		}
		chunks = append(chunks, c[:n])
		total += n
		if size < 1<<20 {
			size *= 2
		}
	}
	if err == io.EOF {
		err = nil
	}
	out := make([]byte, 0, total+16)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out, err
}

// toUTF8 converts text in the named charset to UTF-8; unknown charsets are read as
// UTF-8 when valid, else as windows-1252, so no text disappears.
func toUTF8(b []byte, charset string) string {
	cs := strings.ToLower(strings.TrimSpace(charset))
	switch cs {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		if utf8.Valid(b) {
			return string(b)
		}
		cs = "windows-1252"
	}
	enc, err := htmlindex.Get(cs)
	if err != nil {
		if utf8.Valid(b) {
			return string(b)
		}
		enc, _ = htmlindex.Get("windows-1252")
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(out)
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(strings.ToLower(charset))
	if err != nil {
		return nil, err
	}
	return enc.NewDecoder().Reader(r), nil
}}

// headerText returns a header field decoded (RFC 2047) and unfolded; undecodable
// words stay as they were.
func headerText(h textproto.Header, key string) string {
	var vals []string
	for _, v := range h.Values(key) {
		vals = append(vals, decodeWord(v))
	}
	return strings.Join(vals, ", ")
}

func decodeWord(v string) string {
	if v == "" {
		return ""
	}
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		d = v
	}
	d = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "\t", " ").Replace(d)
	return strings.ToValidUTF8(strings.TrimSpace(d), "\uFFFD")
}

func extensionFor(mediaType string) string {
	switch mediaType {
	case "message/rfc822":
		return ".eml"
	case "text/plain":
		return ".txt"
	case "text/html":
		return ".html"
	}
	if exts, _ := mime.ExtensionsByType(mediaType); len(exts) > 0 {
		return exts[0]
	}
	return ".bin"
}
