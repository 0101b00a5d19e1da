package milter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"

	"github.com/mailseal/mailseal/crypto/smime"
	"github.com/mailseal/mailseal/pdfmail"
	"github.com/mailseal/mailseal/pdfpass"
	"github.com/mailseal/mailseal/policy"
	"github.com/mailseal/mailseal/treat"
)

// PDFSettings steer the PDF fallback (pdf.* keys).
type PDFSettings struct {
	Lang    string // "de" or "en"
	MaxSize int    // largest message rendered (milter.max_message_size)
	// Delivery is pdf.password_delivery ("": sender); SMS and Numbers are
	// the webhook and the recipients' numbers for sms.
	Delivery pdfmail.PasswordDelivery
	SMS      *pdfpass.Webhook
	Numbers  *pdfpass.Numbers
}

// pdf replaces the content by a short notice and the message as an
// AES-256 encrypted PDF; the password goes out by the channel of
// pdf.password_delivery (pdfchannel.go) before the PDF does.
func (p *Processor) pdf(ctx context.Context, m *original, g policy.Group, c *content) (Reply, error) {
	tx := m.tx
	if r, err := m.spoolProblem("converted to an encrypted PDF"); err != nil {
		return r, err
	}
	set := p.settings.Load()
	delivery := set.PDF.Delivery
	if delivery == "" {
		delivery = pdfmail.DeliverySender
	}
	// Check the channel can reach everyone before the costly rendering.
	fixed, reply, err := p.checkChannel(ctx, set.PDF, delivery, g)
	if err != nil {
		return reply, err
	}
	// The message is read from the spool as the PDF needs it (three times:
	// layout, attachments, message.eml), never held whole in memory.
	head := m.wholeHeader()
	open := func() (io.Reader, error) {
		body, err := tx.Body()
		if err != nil {
			return nil, fmt.Errorf("read spool: %w", err)
		}
		return io.MultiReader(bytes.NewReader(head), body), nil
	}
	trace := "pdf; aes256-r6"
	var signer *smime.Signer
	if g.Sign && m.signer != "" {
		id, s, err := p.senderSigner(ctx, m)
		if err != nil {
			return Reply{}, err
		}
		signer = s
		trace += fmt.Sprintf("; signed; signer=%s; serial=%s", m.signer, id.Cert.SerialNumber.Text(16))
	}
	pm, err := treat.PDFFrom(open, int64(len(head))+tx.BodySize, tx.From, treat.PDFOptions{
		Lang: set.PDF.Lang, MaxSize: set.PDF.MaxSize, Delivery: delivery, Password: fixed, Signer: signer})
	if err != nil {
		return replyFor(err, "converted to an encrypted PDF"), err
	}
	e := pm.Content
	// What rendering left behind is garbage before the body goes back.
	collectBig(tx.BodySize)
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
	switch delivery {
	case pdfmail.DeliveryFixed:
		// The recipient has the password already: nothing to send.
	case pdfmail.DeliverySMS:
		sms := newSMSChannel(set.PDF, tx.From, g.Recipients, pm.Password)
		var sentTo []string
		for _, msg := range sms.msgs {
			sentTo = append(sentTo, fmt.Sprintf("%s (%s)", msg.Recipient, pdfpass.Tail(msg.Number)))
		}
		sms.confirm = &senderNotice{to: tx.From, msg: treat.NoticeMail("Mail gateway <MAILER-DAEMON@"+m.authservID+">", tx.From,
			pdfmail.SMSSenderNotice(set.PDF.Lang, sentTo, decodeHeader(subject)), time.Now())}
		c.password = sms
	default:
		c.password = &senderNotice{to: tx.From, msg: treat.PasswordNotice(set.PDF.Lang,
			"Mail gateway <MAILER-DAEMON@"+m.authservID+">", tx.From, g.Recipients, decodeHeader(subject), pm.Password, time.Now())}
	}
	return Reply{}, nil
}

// wholeHeader is the message's header section as the sender wrote it (our
// forged verdict headers left out, the confidential tag removed) and the
// blank line after it: with the body, the message the PDF shows.
func (m *original) wholeHeader() []byte {
	var b bytes.Buffer
	for _, h := range m.kept {
		v := h.Value
		if m.subject != nil && strings.EqualFold(h.Name, "Subject") {
			v = m.subject.Value
		}
		writeHeader(&b, h.Name, v)
	}
	b.WriteString("\r\n")
	return b.Bytes()
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
