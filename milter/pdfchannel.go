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

// PDFPasswords gives the password stored for a recipient
// (pdf.password_delivery: fixed); certs.Manager implements it.
type PDFPasswords interface {
	PDFPassword(ctx context.Context, addr string) (string, bool, error)
}

// checkChannel refuses a PDF group the channel cannot serve, before the
// PDF is rendered: a recipient without a mobile number or stored password
// is a gap in the configuration that a retry does not close, so it is
// refused for good. For fixed it returns the recipient's password.
func (p *Processor) checkChannel(ctx context.Context, s PDFSettings, d pdfmail.PasswordDelivery, g policy.Group) (string, Reply, error) {
	reply, err := p.checkReach(s, d, g)
	if err != nil || d != pdfmail.DeliveryFixed {
		return "", reply, err
	}
	if len(g.Recipients) != 1 {
		return "", Reply{}, fmt.Errorf("PDF with a fixed password for %d recipients at once", len(g.Recipients))
	}
	store, ok := p.ids.(PDFPasswords)
	if !ok {
		return "", Reply{}, fmt.Errorf("PDF fallback: pdf.password_delivery is fixed but no password store is available")
	}
	r := g.Recipients[0]
	pw, found, err := store.PDFPassword(ctx, r)
	if err != nil {
		return "", Reply{}, fmt.Errorf("PDF password of %s: %w", r, err)
	}
	if !found || pw == "" {
		return "", Reject(550, "5.7.1", fmt.Sprintf("No PDF password is agreed with %s, so the message cannot be sent to it as an encrypted PDF", r)),
			fmt.Errorf("PDF password: none stored for %s (mailseal pdf set-password)", r)
	}
	return pw, Reply{}, nil
}

// onePDFPerRecipient splits PDF groups so that each recipient gets a PDF
// of their own, opened by their own fixed password.
func onePDFPerRecipient(groups []policy.Group) []policy.Group {
	var out []policy.Group
	for _, g := range groups {
		if g.Treatment != policy.TreatPDF || len(g.Recipients) < 2 {
			out = append(out, g)
			continue
		}
		for _, r := range g.Recipients {
			one := g
			one.Recipients = []string{r}
			out = append(out, one)
		}
	}
	return out
}

func (p *Processor) checkReach(s PDFSettings, d pdfmail.PasswordDelivery, g policy.Group) (Reply, error) {
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
	case pdfmail.DeliveryFixed:
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
	// confirm tells the sender the PDF went out and where the texts went
	// (no password). Best effort: the password has reached the recipients,
	// and a retry would only text them again.
	confirm *senderNotice
}

func newSMSChannel(s PDFSettings, sender string, rcpts []string, password string) *smsChannel {
	c := &smsChannel{hook: s.SMS}
	for _, r := range rcpts {
		number, _ := s.Numbers.Lookup(r) // checkChannel made sure there is one
		c.msgs = append(c.msgs, pdfpass.NewMessage(s.Lang, number, password, sender, r))
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
	if c.confirm != nil && p.reinject != nil && strings.TrimSpace(c.confirm.to) != "" {
		env := reinject.Envelope{Rcpts: []reinject.Recipient{{Addr: c.confirm.to}}}
		if err := p.reinject.Send(ctx, env, c.confirm.msg); err != nil {
			p.log.Warn("PDF passwords sent by SMS, but the sender's confirmation could not be handed over", "queue_id", tx.QueueID, "to", c.confirm.to, "err", err)
		}
	}
	return nil
}
