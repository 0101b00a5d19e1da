package milter

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mailseal/mailseal/policy"
	"github.com/mailseal/mailseal/reinject"
)

// inject hands one group's copy to Postfix unless an earlier attempt of the
// same message already did (the client retries after a tempfail, or after
// the reply was lost in a crash). It returns the copy's ledger key.
//
// The order is: hand over, record at once, and only then the next copy or
// the reply. A crash after Postfix took the copy (it keeps it from the end
// of DATA on, even before we read its 250) and before the record is the one
// window no ordering closes: the retry hands that copy over again (see
// docs/operations.md, "Copies and crashes").
func (p *Processor) inject(ctx context.Context, m *original, g policy.Group, c *content) (string, error) {
	if p.reinject == nil {
		return "", fmt.Errorf("recipients need different treatment, but reinject is not configured")
	}
	key, err := copyKey(m, g)
	if err != nil {
		return "", err
	}
	seen, err := p.ledger().Seen(ctx, key)
	if err != nil {
		return "", err // unsure whether it was sent: retry later rather than risk a duplicate
	}
	if seen {
		p.log.Info("copy already handed over by an earlier attempt", "queue_id", m.tx.QueueID, "message_id", m.messageID(), "rcpts", g.Recipients)
		return key, nil
	}
	msg, err := m.renderCopy(c, g)
	if err != nil {
		return "", err
	}
	// A PDF's password reaches the sender before the PDF leaves: never a
	// PDF nobody can open.
	if err := p.sendPassword(ctx, m.tx, c.password); err != nil {
		return "", err
	}
	p.log.Debug("handing copy over", "queue_id", m.tx.QueueID, "message_id", m.messageID(), "rcpts", g.Recipients, "key", key)
	if err := p.reinject.Send(ctx, m.tx.envelope(g.Recipients), msg); err != nil {
		return "", fmt.Errorf("copy for %v: %w", g.Recipients, err)
	}
	if err := p.fault(StepHandedOver, g.Recipients); err != nil {
		return "", err
	}
	if err := p.ledger().Record(ctx, key); err != nil {
		// The copy is with Postfix; failing now would only make the retry
		// send it again.
		p.log.Error("copy handed over but not recorded; a retry may duplicate it", "queue_id", m.tx.QueueID, "message_id", m.messageID(), "rcpts", g.Recipients, "err", err)
	} else {
		p.log.Debug("copy recorded", "queue_id", m.tx.QueueID, "message_id", m.messageID(), "rcpts", g.Recipients, "key", key)
	}
	if err := p.fault(StepRecorded, g.Recipients); err != nil {
		return "", err
	}
	return key, nil
}

// CopyStep names a point in handing over a copy, for fault injection.
type CopyStep int

const (
	// StepHandedOver: Postfix accepted the copy; the ledger does not know yet.
	StepHandedOver CopyStep = iota + 1
	// StepRecorded: the ledger knows the copy; the next copy or the reply
	// has not happened yet.
	StepRecorded
)

func (s CopyStep) String() string {
	switch s {
	case StepHandedOver:
		return "handed over"
	case StepRecorded:
		return "recorded"
	}
	return fmt.Sprintf("CopyStep(%d)", int(s))
}

// ProcessorOption configures a Processor.
type ProcessorOption func(*Processor)

// WithCopyFault calls f after each step of handing over a copy; an error
// stops the message there, as a crash would (the reply is a tempfail, which
// is also what Postfix makes of a vanished milter). For tests of the ledger.
func WithCopyFault(f func(step CopyStep, rcpts []string) error) ProcessorOption {
	return func(p *Processor) { p.faults = f }
}

func (p *Processor) fault(step CopyStep, rcpts []string) error {
	if p.faults == nil {
		return nil
	}
	if err := p.faults(step, rcpts); err != nil {
		return fmt.Errorf("fault after copy for %v %s: %w", rcpts, step, err)
	}
	return nil
}

// messageID is the Message-ID header, for logs that tie a copy to the
// message across retries (queue ids differ per attempt).
func (m *original) messageID() string {
	return strings.TrimSpace(firstValue(m.kept, "Message-ID"))
}

// envelope is the SMTP envelope of a copy for rcpts, with the ESMTP
// parameters the original transaction gave them.
func (t *Transaction) envelope(rcpts []string) reinject.Envelope {
	env := reinject.Envelope{From: t.From, FromParams: t.FromParams, Rcpts: make([]reinject.Recipient, len(rcpts))}
	for i, r := range rcpts {
		env.Rcpts[i] = reinject.Recipient{Addr: r, Params: t.RcptParams[r]}
	}
	return env
}

// CopyLedger remembers which copies were handed to Postfix, so a retry after
// a partial failure or a lost reply does not send them twice.
// Entries live for a retention period (Postfix's maximal_queue_lifetime),
// never less: mailseal cannot tell an accepted message from one whose reply
// Postfix never got. So an identical message (same sender, recipients,
// headers and body) sent again within that period counts as a retry and
// gets no copies; every real message differs at least in its Message-ID
// and Date.
type CopyLedger interface {
	Seen(ctx context.Context, key string) (bool, error)
	Record(ctx context.Context, key string) error
}

// SetLedger replaces the in-memory ledger (lost on restart) by a durable one.
func (p *Processor) SetLedger(l CopyLedger) { p.copies.Store(&l) }

func (p *Processor) ledger() CopyLedger {
	if l := p.copies.Load(); l != nil {
		return *l
	}
	return p.sent
}

// renderCopy writes the whole message for a group: the original headers with
// this copy's edits, then its body.
func (m *original) renderCopy(c *content, g policy.Group) ([]byte, error) {
	tx := m.tx
	var b bytes.Buffer
	seen := map[string]int{}
	for _, h := range tx.Headers {
		name := strings.ToLower(h.Name)
		seen[name]++
		ref := HeaderRef{Name: h.Name, Index: seen[name]}
		if isOwnHeader(h, m.authservID) || containsRef(c.deletes, ref) {
			continue
		}
		value := h.Value
		for _, ch := range c.changes {
			if strings.EqualFold(ch.Name, h.Name) && ch.Index == ref.Index {
				value = ch.Value
			}
		}
		writeHeader(&b, h.Name, value)
	}
	for _, h := range c.adds {
		writeHeader(&b, h.Name, h.Value)
	}
	if c.action != "signed" {
		writeHeader(&b, TraceHeader, fmt.Sprintf("%s; copy; treatment=%s", m.authservID, g.Treatment))
	}
	b.WriteString("\r\n")
	if c.body != nil {
		b.Write(c.body)
		return b.Bytes(), nil
	}
	body, err := tx.Body()
	if err != nil {
		return nil, fmt.Errorf("read spool: %w", err)
	}
	if _, err := io.Copy(&b, body); err != nil {
		return nil, fmt.Errorf("read spool: %w", err)
	}
	return b.Bytes(), nil
}

func writeHeader(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteString(": ")
	// Postfix shows folded values with bare "\n"; the wire wants CRLF.
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(value, "\r\n", "\n"), "\n", "\r\n"))
	b.WriteString("\r\n")
}

func containsRef(refs []HeaderRef, r HeaderRef) bool {
	for _, x := range refs {
		if strings.EqualFold(x.Name, r.Name) && x.Index == r.Index {
			return true
		}
	}
	return false
}

// copyKey identifies a group's copy across retries of the same message: the
// input (sender, recipients, treatment, headers, body), never the output,
// which differs per attempt (signing time, boundaries).
func copyKey(m *original, g policy.Group) (string, error) {
	h := sha256.New()
	rcpts := append([]string(nil), g.Recipients...)
	sort.Strings(rcpts)
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%v\x00", strings.ToLower(m.tx.From), strings.ToLower(strings.Join(rcpts, ",")), g.Treatment, g.Sign)
	for _, hd := range m.kept {
		fmt.Fprintf(h, "%s\x00%s\x00", strings.ToLower(hd.Name), hd.Value)
	}
	body, err := m.bodyDigest()
	if err != nil {
		return "", err
	}
	h.Write(body)
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// bodyDigest hashes the spooled body once per message, however many copies
// it has.
func (m *original) bodyDigest() ([]byte, error) {
	if m.digest != nil {
		return m.digest, nil
	}
	body, err := m.tx.Body()
	if err != nil {
		return nil, fmt.Errorf("read spool: %w", err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, body); err != nil {
		return nil, fmt.Errorf("read spool: %w", err)
	}
	m.digest = h.Sum(nil)
	return m.digest, nil
}

// sentCopies is the in-memory CopyLedger, for as long as a client may retry
// (Postfix's default maximal_queue_lifetime is 5 days), at most max entries.
// A restart loses it: serve uses the durable ledger.
type sentCopies struct {
	mu   sync.Mutex
	ttl  time.Duration
	max  int
	seen map[string]time.Time
	now  func() time.Time
}

func newSentCopies() *sentCopies {
	return &sentCopies{ttl: 5 * 24 * time.Hour, max: 100_000, seen: map[string]time.Time{}, now: time.Now}
}

func (s *sentCopies) Seen(_ context.Context, key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.seen[key]
	return ok && s.now().Sub(t) < s.ttl, nil
}

func (s *sentCopies) Record(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.seen) >= s.max {
		for k, t := range s.seen {
			if now.Sub(t) >= s.ttl {
				delete(s.seen, k)
			}
		}
		for k := range s.seen { // still full: forget arbitrary old entries
			if len(s.seen) < s.max {
				break
			}
			delete(s.seen, k)
		}
	}
	s.seen[key] = now
	return nil
}
