package pdfmail

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
)

// DefaultMaxTextBytes bounds the body text laid out as pages. Longer text is cut with
// a visible note; the whole text stays in the embedded message.eml.
const DefaultMaxTextBytes = 1 << 20

// maxHeaderBytes bounds each header value shown (a To: with hundreds of addresses
// still fits; a megabyte Subject does not need to).
const maxHeaderBytes = 8 << 10

// cutText returns s cut to at most max bytes (at a rune boundary) with a note on how
// much more is in the embedded original.
func cutText(s string, max int, lb labels) string {
	if len(s) <= max {
		return s
	}
	end := max
	for end > 0 && s[end]&0xC0 == 0x80 {
		end-- // not inside a UTF-8 sequence
	}
	return s[:end] + "\n\n" + fmt.Sprintf(lb.Truncated, len(s)-end)
}

// ErrTooLarge is returned when the message is larger than Options.MaxSize.
var ErrTooLarge = errors.New("pdfmail: message larger than the configured maximum")

// Options steer Render. The zero value works: English labels, the current time, no
// size limit.
type Options struct {
	// Now is the conversion time shown in the PDF and used as the embedded files'
	// modification time. Zero means time.Now().
	Now time.Time
	// Lang picks the language of the PDF's own labels: "de" or "en" (default).
	Lang string
	// MaxSize is the largest message accepted, in bytes (0: no limit). Attachments
	// are limited only by it.
	MaxSize int
	// MaxTextBytes bounds the body text laid out as pages (0: DefaultMaxTextBytes).
	MaxTextBytes int
}

// Document is a rendered message, ready to be encrypted. It holds the plain PDF in
// memory only; nothing is written anywhere. A Document is not safe for concurrent
// use: encrypt it from one goroutine at a time.
type Document struct {
	pdf         []byte
	source      Source // the message, read again while the PDF is written
	size        int64  // the message's size
	attachments []attachment
	modTime     time.Time
	// Pages is the number of pages laid out.
	Pages int
	// Replaced counts characters the fonts cannot draw that were replaced visibly.
	Replaced int
	// Attachments lists the embedded attachments' names in order (message.eml not
	// included).
	Attachments []string
}

// Render parses msg (a whole RFC 5322 message, CRLF or LF line ends) and lays it out
// as a PDF. The message is not copied: msg must stay unchanged until Encrypt returns.
func Render(msg []byte, opts Options) (*Document, error) {
	return RenderFrom(BytesSource(msg), int64(len(msg)), opts)
}

// RenderFrom is Render for a message read from open, size bytes long (a large
// message need not be in memory: a file's reader does). Render reads it once;
// Encrypt and EncryptTo read it twice more (the attachments and message.eml), and
// it must not change in between.
func RenderFrom(open Source, size int64, opts Options) (doc *Document, err error) {
	// gopdf and the parsers see outside data: a panic becomes an error.
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, fmt.Errorf("pdfmail: render: panic: %v", r)
		}
	}()
	if opts.MaxSize > 0 && size > int64(opts.MaxSize) {
		return nil, fmt.Errorf("%w (%d > %d bytes)", ErrTooLarge, size, opts.MaxSize)
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.MaxTextBytes <= 0 {
		opts.MaxTextBytes = DefaultMaxTextBytes
	}
	m, err := parseFrom(open)
	if err != nil {
		return nil, err
	}
	cov, err := fontCoverage()
	if err != nil {
		return nil, err
	}
	m.Attachments = uniqueNames(m.Attachments)
	lb := labelsFor(opts.Lang)
	p, err := newPage(cov, lb.Page)
	if err != nil {
		return nil, err
	}
	if err := layout(p, m, lb, opts); err != nil {
		return nil, err
	}
	doc = &Document{
		source:   open,
		size:     size,
		modTime:  opts.Now,
		Pages:    p.n,
		Replaced: p.replaced,
	}
	doc.attachments = m.Attachments
	for _, a := range doc.attachments {
		doc.Attachments = append(doc.Attachments, a.Name)
	}
	doc.pdf = p.pdf.GetBytesPdf()
	if len(doc.pdf) == 0 {
		return nil, errors.New("pdfmail: layout produced no PDF")
	}
	return doc, nil
}

func layout(p *page, m *parsed, lb labels, opts Options) error {
	textW := pageW - 2*margin
	header := []struct{ label, value string }{
		{lb.From, m.From}, {lb.To, m.To}, {lb.Cc, m.Cc}, {lb.Date, m.Date}, {lb.Subject, m.Subject},
	}
	for _, h := range header {
		if h.value == "" && h.label == lb.Cc {
			continue
		}
		h.value = cutText(h.value, maxHeaderBytes, lb)
		if err := p.setFont(fontBold); err != nil {
			return err
		}
		if p.y+lineH > bottom {
			p.newPage()
		}
		labelY := p.y
		if err := p.line(margin, h.label); err != nil {
			return err
		}
		p.y = labelY // the value starts on the label's line, beside it
		if err := p.setFont(fontRegular); err != nil {
			return err
		}
		if err := p.text(margin+labelW, textW-labelW, h.value); err != nil {
			return err
		}
	}
	p.rule()

	body := strings.ReplaceAll(m.Body, "\r\n", "\n")
	body = strings.ReplaceAll(body, "\r", "\n")
	body = strings.TrimRight(body, "\n ")
	body = cutText(body, opts.MaxTextBytes, lb)
	if m.FromHTML {
		if err := p.text(margin, textW, lb.HTMLNote+"\n"); err != nil {
			return err
		}
	}
	if strings.TrimSpace(body) == "" {
		body = lb.NoBody
	}
	if err := p.text(margin, textW, body); err != nil {
		return err
	}
	p.rule()

	if err := p.setFont(fontBold); err != nil {
		return err
	}
	if err := p.text(margin, textW, lb.Attachments); err != nil {
		return err
	}
	if err := p.setFont(fontRegular); err != nil {
		return err
	}
	if len(m.Attachments) == 0 {
		if err := p.text(margin, textW, lb.NoAttachments); err != nil {
			return err
		}
	}
	for _, a := range m.Attachments {
		line := fmt.Sprintf("• %s (%s, %s)", a.Name, a.Type, humanize.IBytes(uint64(a.Size)))
		if err := p.text(margin, textW, line); err != nil {
			return err
		}
	}
	notes := []string{"", lb.Embedded}
	if m.Damaged {
		notes = append(notes, lb.Damaged)
	}
	if p.replaced > 0 {
		notes = append(notes, lb.Replaced)
	}
	notes = append(notes, fmt.Sprintf(lb.Converted, opts.Now.UTC().Format("2006-01-02 15:04 UTC")))
	return p.text(margin, textW, strings.Join(notes, "\n"))
}
