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

// attachment is one decoded MIME part. Data has 16 bytes of spare capacity so that
// pdfcpu's AES padding (an append) does not copy it.
type attachment struct {
	Name string
	Type string
	Data []byte
}

// ErrMalformed wraps a failure to read the message at all (today only a parser
// panic: a broken header section is shown as text instead).
var ErrMalformed = errors.New("pdfmail: message cannot be parsed")

// parseMessage reads msg behind recover: go-message is a parser of outside data.
func parseMessage(msg []byte) (p *parsed, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("%w: panic in parser: %v", ErrMalformed, r)
		}
	}()
	br := bufio.NewReader(bytes.NewReader(msg))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		// A header section nobody can parse: show the whole message as text rather
		// than fail, so protected mail is still delivered (message.eml has it too).
		return &parsed{Body: toUTF8(msg, ""), Damaged: true}, nil
	}
	p = &parsed{
		From:    headerText(h, "From"),
		To:      headerText(h, "To"),
		Cc:      headerText(h, "Cc"),
		Date:    headerText(h, "Date"),
		Subject: headerText(h, "Subject"),
	}
	// Two passes: the first only counts each part's decoded size, so the second can
	// decode every part into a buffer of exactly its size (no growing, no garbage of
	// the size of a large attachment). Decoding is cheap next to holding it twice.
	counter := walker{p: &parsed{}, count: true}
	counter.walk(h, br, 0)
	br = bufio.NewReader(bytes.NewReader(msg))
	if h, err = textproto.ReadHeader(br); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	w := walker{p: p, sizes: counter.sizes}
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

type walker struct {
	p *parsed
	// count: only record each leaf part's decoded size in sizes; otherwise sizes
	// (from a counting pass) size the buffers, in the same order.
	count bool
	sizes []int
	plain []string
	html  []string
	n     int // parts seen, for generated names
}

func (w *walker) walk(h textproto.Header, body io.Reader, depth int) {
	if depth > maxDepth {
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
	if w.count {
		n, _ := io.Copy(io.Discard, transferDecoder(h, body))
		w.sizes = append(w.sizes, int(n))
		return
	}
	size := -1
	if w.n-1 < len(w.sizes) {
		size = w.sizes[w.n-1]
	}
	disp, dparams, _ := mh.ContentDisposition()
	name := decodeWord(dparams["filename"])
	if name == "" {
		name = decodeWord(params["name"])
	}
	isText := mediaType == "text/plain" || mediaType == "text/html"
	if isText && disp != "attachment" && name == "" {
		data, err := decodeTransfer(h, body, size)
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
	data, err := decodeTransfer(h, body, size)
	if err != nil {
		w.p.Damaged = true
	}
	if name == "" {
		name = fmt.Sprintf("part-%d%s", w.n, extensionFor(mediaType))
	}
	w.p.Attachments = append(w.p.Attachments, attachment{Name: name, Type: mediaType, Data: data})
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

// decodeTransfer reads a part's decoded body; size, when known (>= 0), is its length
// from the counting pass.
func decodeTransfer(h textproto.Header, body io.Reader, size int) ([]byte, error) {
	r := transferDecoder(h, body)
	if size < 0 {
		return readAllSlack(r)
	}
	out := make([]byte, size, size+aesBlock)
	n, err := io.ReadFull(r, out)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return out[:n], nil
	case err != nil:
		return out[:n], err
	}
	// More than counted (cannot happen with the same bytes; kept safe anyway).
	rest, err := readAllSlack(r)
	if len(rest) == 0 {
		return out, err
	}
	all := make([]byte, 0, len(out)+len(rest)+aesBlock)
	return append(append(all, out...), rest...), err
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
