package milter

import (
	"context"
	"fmt"
	"strings"

	"github.com/mailseal/mailseal/pdfmail"
	"github.com/mailseal/mailseal/pdfpass"
	"github.com/mailseal/mailseal/policy"
	"github.com/mailseal/mailseal/reinject"
)

// passwordChannel sends a PDF's password on, one implementation per
// pdf.password_delivery. It runs before the PDF is handed over; an error
// tempfails the message, so no PDF leaves without its password.
type passwordChannel interface {
	deliver(ctx context.Context, p *Processor, tx *Transaction) error
}

// sendPassword runs a copy's password channel, if it has one.
func (p *Processor) sendPassword(ctx context.Context, tx *Transaction, ch passwordChannel) error {
	if ch == nil {
		return nil
	}
	return ch.deliver(ctx, p, tx)
}

// checkChannel refuses a PDF group the channel cannot serve, before the
// PDF is rendered: a recipient without a mobile number is a gap in the
// configuration that a retry does not close, so it is refused for good.
func (p *Processor) checkChannel(s PDFSettings, d pdfmail.PasswordDelivery, g policy.Group) (Reply, error) {
	switch d {
	case pdfmail.DeliverySender:
		if p.reinject == nil {
			// The password has no way to the sender: never send the PDF alone.
			return Reply{}, fmt.Errorf("PDF fallback needs reinject to send the password to the sender")
		}
	case pdfmail.DeliverySMS:
		if s.SMS == nil {
			return Reply{}, fmt.Errorf("PDF fallback: pdf.password_delivery is sms but no SMS webhook is configured")
		}
		for _, r := range g.Recipients {
			if _, ok := s.Numbers.Lookup(r); !ok {
				return Reject(550, "5.7.1", fmt.Sprintf("No mobile number is known for %s to send the PDF password to", r)),
					fmt.Errorf("PDF password by SMS: %s is not in pdf.sms.numbers_file", r)
			}
		}
	default:
		return Reply{}, fmt.Errorf("PDF fallback: password delivery %q is not available", d)
	}
	return Reply{}, nil
}

// senderNotice is a mail that tells the sender the password of a PDF
// sent on their behalf (pdf.password_delivery: sender).
type senderNotice struct {
	to  string
	msg []byte
}

// deliver hands the notice to Postfix, to the sender, with a null
// envelope sender (it must never bounce back into a loop).
func (n *senderNotice) deliver(ctx context.Context, p *Processor, tx *Transaction) error {
	if strings.TrimSpace(n.to) == "" {
		return fmt.Errorf("PDF password: the message has no envelope sender to send it to")
	}
	if p.reinject == nil {
		return fmt.Errorf("PDF password: no reinject listener to send it to the sender")
	}
	env := reinject.Envelope{Rcpts: []reinject.Recipient{{Addr: n.to}}}
	if err := p.reinject.Send(ctx, env, n.msg); err != nil {
		return fmt.Errorf("PDF password notice to %s: %w", n.to, err)
	}
	p.log.Info("PDF password sent to the sender", "queue_id", tx.QueueID, "to", n.to)
	return nil
}

// smsChannel posts the password to the SMS webhook once per recipient
// (pdf.password_delivery: sms). If one call fails after others went out,
// the message is tempfailed; the retry renders a new PDF with a new
// password and texts everyone again.
type smsChannel struct {
	hook *pdfpass.Webhook
	msgs []pdfpass.Message
}

func newSMSChannel(s PDFSettings, sender string, rcpts []string, password string) *smsChannel {
	c := &smsChannel{hook: s.SMS}
	for _, r := range rcpts {
		number, _ := s.Numbers.Lookup(r) // checkChannel made sure there is one
		c.msgs = append(c.msgs, pdfpass.NewMessage(number, password, sender, r))
	}
	return c
}

func (c *smsChannel) deliver(ctx context.Context, p *Processor, tx *Transaction) error {
	for _, m := range c.msgs {
		if m.Number == "" {
			return fmt.Errorf("PDF password by SMS: no number for %s", m.Recipient)
		}
		if err := c.hook.Send(ctx, m); err != nil {
			return fmt.Errorf("PDF password by SMS for %s: %w", m.Recipient, err)
		}
		p.log.Info("PDF password sent by SMS", "queue_id", tx.QueueID, "rcpt", m.Recipient, "number", pdfpass.Tail(m.Number))
	}
	return nil
}
