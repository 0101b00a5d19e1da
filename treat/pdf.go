package treat

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"

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
}

// PDFMail is the PDF fallback for one group: the content the recipients
// get (a short notice and the encrypted PDF, nothing of the message in
// clear) and the password that opens the PDF.
type PDFMail struct {
	Content  *Entity // multipart/mixed: notice text + application/pdf
	Subject  string  // the outer Subject: says nothing of the content
	Password string
}

// PDF renders the whole message (header fields a reader sees and the body,
// attachments embedded) as a PDF encrypted with AES-256 (revision 6) under
// a fresh random password, and wraps it in the mail the recipients get.
// message is the complete message as the sender wrote it; sender names who
// wrote it in the notice.
func PDF(message []byte, sender string, opts PDFOptions) (*PDFMail, error) {
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
	pdf, err := pdfmail.Build(message, pdfmail.Options{Now: opts.Now, Lang: opts.Lang, MaxSize: opts.MaxSize}, pw, owner)
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
	var b bytes.Buffer
	b.Grow(len(pdf)*4/3 + len(notice.Body)*3 + 1024)
	b.WriteString("This is a multi-part message in MIME format.\r\n")
	b.WriteString("--" + boundary + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	writeBase64Lines(&b, []byte(strings.ReplaceAll(notice.Body, "\n", "\r\n")))
	name := pdfmail.PDFFileName("")
	b.WriteString("--" + boundary + "\r\n")
	fmt.Fprintf(&b, "Content-Type: application/pdf; name=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n", name)
	fmt.Fprintf(&b, "Content-Disposition: attachment; filename=\"%s\"\r\n\r\n", name)
	writeBase64Lines(&b, pdf)
	b.WriteString("--" + boundary + "--\r\n")
	return &PDFMail{
		Content: &Entity{
			Fields: []Field{{"Content-Type", `multipart/mixed; boundary="` + boundary + `"`}},
			Body:   b.Bytes(),
		},
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
	writeBase64Lines(&b, []byte(strings.ReplaceAll(n.Body, "\n", "\r\n")))
	return b.Bytes()
}

func writeBase64Lines(b *bytes.Buffer, data []byte) {
	enc := base64.StdEncoding
	line := make([]byte, 76)
	for len(data) > 0 {
		n := min(57, len(data))
		enc.Encode(line, data[:n])
		b.Write(line[:enc.EncodedLen(n)])
		b.WriteString("\r\n")
		data = data[n:]
	}
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
