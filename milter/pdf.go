package milter

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/mailseal/mailseal/pdfmail"
	"github.com/mailseal/mailseal/policy"
	"github.com/mailseal/mailseal/reinject"
	"github.com/mailseal/mailseal/treat"
)

// PDFSettings steer the PDF fallback (pdf.* keys).
type PDFSettings struct {
	Lang    string // "de" or "en"
	MaxSize int    // largest message rendered (milter.max_message_size)
}

// passwordNotice is a mail that tells the sender the password of a PDF
// sent on their behalf; it must be handed over before the PDF is.
type passwordNotice struct {
	to  string
	msg []byte
}

// pdf replaces the content by a short notice and the message as an
// AES-256 encrypted PDF; the password goes to the sender in a separate
// mail (pdf.password_delivery: sender).
func (p *Processor) pdf(ctx context.Context, m *original, g policy.Group, c *content) (Reply, error) {
	tx := m.tx
	if r, err := m.spoolProblem("converted to an encrypted PDF"); err != nil {
		return r, err
	}
	if p.reinject == nil {
		// The password has no way to the sender: never send the PDF alone.
		return Reply{}, fmt.Errorf("PDF fallback needs reinject to send the password to the sender")
	}
	set := p.settings.Load()
	whole, err := m.wholeMessage()
	if err != nil {
		return Reply{}, err
	}
	pm, err := treat.PDF(whole, tx.From, treat.PDFOptions{Lang: set.PDF.Lang, MaxSize: set.PDF.MaxSize, Delivery: pdfmail.DeliverySender})
	if err != nil {
		return replyFor(err, "converted to an encrypted PDF"), err
	}
	e := pm.Content
	trace := "pdf; aes256-r6"
	if g.Sign && m.signer != "" {
		id, s, err := p.senderSigner(ctx, m)
		if err != nil {
			return Reply{}, err
		}
		if e, err = treat.Sign(s, e.Fields, bytes.NewReader(e.Body)); err != nil {
			return replyFor(err, "signed"), err
		}
		trace += fmt.Sprintf("; signed; signer=%s; serial=%s", m.signer, id.Cert.SerialNumber.Text(16))
	}
	c.deletes = m.replacedHeaders(true)
	c.adds = append(c.adds, Header{"MIME-Version", "1.0"})
	for _, f := range e.Fields {
		c.adds = append(c.adds, Header{f.Name, foldParams(f.Value)})
	}
	c.adds = append(c.adds, Header{TraceHeader, m.authservID + "; " + trace})
	if firstValue(m.kept, "Subject") != "" {
		c.changes = setChange(c.changes, HeaderChange{Name: "Subject", Index: 1, Value: pm.Subject})
	} else {
		c.adds = append(c.adds, Header{"Subject", pm.Subject})
	}
	c.body = e.Body
	c.action = "pdf"
	subject := firstValue(m.kept, "Subject")
	if m.subject != nil {
		subject = m.subject.Value
	}
	c.notice = &passwordNotice{to: tx.From, msg: treat.PasswordNotice(set.PDF.Lang,
		"Mail gateway <MAILER-DAEMON@"+m.authservID+">", tx.From, g.Recipients, decodeHeader(subject), pm.Password, time.Now())}
	return Reply{}, nil
}

// sendNotice hands the password notice to Postfix, to the sender, with a
// null envelope sender (it must never bounce back into a loop).
func (p *Processor) sendNotice(ctx context.Context, tx *Transaction, n *passwordNotice) error {
	if n == nil {
		return nil
	}
	if strings.TrimSpace(n.to) == "" {
		return fmt.Errorf("PDF password: the message has no envelope sender to send it to")
	}
	env := reinject.Envelope{Rcpts: []reinject.Recipient{{Addr: n.to}}}
	if err := p.reinject.Send(ctx, env, n.msg); err != nil {
		return fmt.Errorf("PDF password notice to %s: %w", n.to, err)
	}
	p.log.Info("PDF password sent to the sender", "queue_id", tx.QueueID, "to", n.to)
	return nil
}

// wholeMessage is the message as the sender wrote it (our forged verdict
// headers left out, the confidential tag removed), for the PDF.
func (m *original) wholeMessage() ([]byte, error) {
	var b bytes.Buffer
	for _, h := range m.kept {
		v := h.Value
		if m.subject != nil && strings.EqualFold(h.Name, "Subject") {
			v = m.subject.Value
		}
		writeHeader(&b, h.Name, v)
	}
	b.WriteString("\r\n")
	body, err := m.tx.Body()
	if err != nil {
		return nil, fmt.Errorf("read spool: %w", err)
	}
	if _, err := b.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("read spool: %w", err)
	}
	return b.Bytes(), nil
}

// decodeHeader decodes RFC 2047 encoded words for a human-readable text;
// undecodable input is shown as it is.
func decodeHeader(v string) string {
	d, err := new(mime.WordDecoder).DecodeHeader(strings.ReplaceAll(strings.ReplaceAll(v, "\r\n", ""), "\n", ""))
	if err != nil {
		return v
	}
	return d
}
