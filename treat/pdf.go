package treat

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/mailseal/mailseal/crypto/smime"
	"github.com/mailseal/mailseal/pdfmail"
)

// PDFOptions steer the PDF fallback.
type PDFOptions struct {
	Lang    string    // "de" or "en": labels in the PDF and the notices
	Now     time.Time // zero: time.Now
	MaxSize int       // largest message accepted (0: no limit)
	Rand    io.Reader // nil: crypto/rand
	// Delivery is how the password reaches the recipient; the notice
	// says so (default: from the sender).
	Delivery pdfmail.PasswordDelivery
	// Password, when set, opens the PDF instead of a fresh random one (a
	// password agreed with the recipient, pdf.password_delivery: fixed).
	Password string
	// Signer, when set, signs the content (S/MIME multipart/signed).
	Signer *smime.Signer
	// TempDir holds the temporary file a large content is assembled in
	// ("": the system's); SpoolAbove is the message size from which it is
	// used (0: 8 MiB). The file holds only the encrypted PDF, never the
	// message in clear, and is unlinked at once.
	TempDir    string
	SpoolAbove int64
}

// PDFMail is the PDF fallback for one group: the content the recipients
// get (a short notice and the encrypted PDF, nothing of the message in
// clear) and the password that opens the PDF.
type PDFMail struct {
	Content  *Entity // multipart/mixed: notice text + application/pdf (multipart/signed around it with a Signer)
	Subject  string  // the outer Subject: says nothing of the content
	Password string
}

// PDF renders the whole message (header fields a reader sees and the body,
// attachments embedded) as a PDF encrypted with AES-256 (revision 6) under
// a fresh random password, and wraps it in the mail the recipients get.
// message is the complete message as the sender wrote it; sender names who
// wrote it in the notice.
func PDF(message []byte, sender string, opts PDFOptions) (*PDFMail, error) {
	return PDFFrom(pdfmail.BytesSource(message), int64(len(message)), sender, opts)
}

// defaultSpoolAbove is the message size from which the content is
// assembled in a temporary file (see PDFOptions).
const defaultSpoolAbove = 8 << 20

// PDFFrom is PDF for a message of size bytes that open reads from its
// start (each call again), such as the milter's spool file: the message is
// never held in memory whole. For a large message the PDF streams through
// base64 into a temporary file, so the content is in memory once, at its
// final size, and only at the end (see docs/benchmarks.md).
func PDFFrom(open pdfmail.Source, size int64, sender string, opts PDFOptions) (*PDFMail, error) {
	r := opts.Rand
	if r == nil {
		r = rand.Reader
	}
	pw := opts.Password
	if pw == "" {
		var err error
		if pw, err = pdfmail.NewPassword(r); err != nil {
			return nil, err
		}
	}
	owner, err := pdfmail.NewOwnerPassword(r)
	if err != nil {
		return nil, err
	}
	doc, err := pdfmail.RenderFrom(open, size, pdfmail.Options{Now: opts.Now, Lang: opts.Lang, MaxSize: opts.MaxSize})
	if err != nil {
		return nil, fmt.Errorf("treat: PDF: %w", errPDF(err))
	}
	// The subject is content too: neither the notice nor the file name
	// repeats it.
	delivery := opts.Delivery
	if delivery == "" {
		delivery = pdfmail.DeliverySender
	}
	notice := pdfmail.RecipientNotice(opts.Lang, delivery, sender, "")
	subject := "Confidential message from " + sender
	if opts.Lang == "de" {
		subject = "Vertrauliche Nachricht von " + sender
	}
	boundary, err := randomBoundary(r)
	if err != nil {
		return nil, err
	}
	contentType := Field{"Content-Type", `multipart/mixed; boundary="` + boundary + `"`}

	spoolAbove := opts.SpoolAbove
	if spoolAbove <= 0 {
		spoolAbove = defaultSpoolAbove
	}
	var out contentSpool
	if size >= spoolAbove {
		if err := out.useFile(opts.TempDir); err != nil {
			return nil, err
		}
	}
	defer out.close()
	w := out.writer()
	if opts.Signer != nil {
		// The signed entity carries its Content-Type itself.
		w.WriteString(contentType.Name + ": " + contentType.Value + "\r\n\r\n")
	}
	w.WriteString("This is a multi-part message in MIME format.\r\n")
	w.WriteString("--" + boundary + "\r\n")
	w.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	b64 := newBase64Lines(w)
	b64.Write([]byte(strings.ReplaceAll(notice.Body, "\n", "\r\n")))
	b64.Close()
	name := pdfmail.PDFFileName("")
	w.WriteString("--" + boundary + "\r\n")
	fmt.Fprintf(w, "Content-Type: application/pdf; name=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n", name)
	fmt.Fprintf(w, "Content-Disposition: attachment; filename=\"%s\"\r\n\r\n", name)
	b64 = newBase64Lines(w)
	if err := doc.EncryptTo(b64, pw, owner); err != nil {
		return nil, fmt.Errorf("treat: PDF: %w", errPDF(err))
	}
	b64.Close()
	w.WriteString("--" + boundary + "--\r\n")

	if out.file != nil {
		// Rendering and the PDF's streams left garbage behind: return it to
		// the system before the one large allocation, the content itself,
		// or the heap would hold both.
		doc = nil
		debug.FreeOSMemory()
	}
	e := &Entity{Fields: []Field{contentType}}
	if opts.Signer != nil {
		n, body, err := out.reader()
		if err != nil {
			return nil, err
		}
		signed, err := opts.Signer.SignEntityReader(body, n)
		if err != nil {
			return nil, fmt.Errorf("treat: sign: %w", err)
		}
		e = &Entity{Fields: []Field{{"Content-Type", signed.ContentType}}, Body: signed.Body}
	} else if e.Body, err = out.bytes(); err != nil {
		return nil, err
	}
	return &PDFMail{
		Content:  e,
		Subject:  mime.QEncoding.Encode("utf-8", subject),
		Password: pw,
	}, nil
}

// PasswordNotice is the whole mail that gives the sender the password of
// the PDF sent to recipients, to pass on another way. from is the
// gateway's own address (the mail is auto-generated, RFC 3834).
func PasswordNotice(lang, from, to string, recipients []string, subject, password string, now time.Time) []byte {
	return NoticeMail(from, to, pdfmail.SenderNotice(lang, strings.Join(recipients, ", "), subject, password), now)
}

// NoticeMail is the whole auto-generated mail (RFC 3834) carrying notice n
// from the gateway's address to to.
func NoticeMail(from, to string, n pdfmail.Notice, now time.Time) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: <%s>\r\nSubject: %s\r\n", from, to, mime.QEncoding.Encode("utf-8", n.Subject))
	fmt.Fprintf(&b, "Date: %s\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n", now.Format(time.RFC1123Z))
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	b64 := newBase64Lines(&b)
	b64.Write([]byte(strings.ReplaceAll(n.Body, "\n", "\r\n")))
	b64.Close()
	return b.Bytes()
}

func randomBoundary(r io.Reader) (string, error) {
	var rnd [18]byte
	if _, err := io.ReadFull(r, rnd[:]); err != nil {
		return "", fmt.Errorf("treat: boundary randomness: %w", err)
	}
	return "=_mailseal_pdf_" + base64.RawURLEncoding.EncodeToString(rnd[:]), nil
}

// errPDF sorts rendering failures: too big, or a message the renderer
// cannot read, both permanent (the same message fails again).
func errPDF(err error) error {
	if errors.Is(err, pdfmail.ErrTooLarge) {
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}
