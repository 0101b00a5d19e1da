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

// inject hands one group's copy to Postfix unless an earlier, failed attempt
// of the same message already did (the client retries after a tempfail). It
// returns the copy's ledger key.
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
		p.log.Info("copy already handed over by an earlier attempt", "queue_id", m.tx.QueueID, "rcpts", g.Recipients)
		return key, nil
	}
	msg, err := m.renderCopy(c, g)
	if err != nil {
		return "", err
	}
	if err := p.reinject.Send(ctx, m.tx.envelope(g.Recipients), msg); err != nil {
		return "", fmt.Errorf("copy for %v: %w", g.Recipients, err)
	}
	if err := p.ledger().Record(ctx, key); err != nil {
		// The copy is with Postfix; failing now would only make the retry
		// send it again.
		p.log.Error("copy handed over but not recorded; a retry may duplicate it", "queue_id", m.tx.QueueID, "err", err)
	}
	return key, nil
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

// forget drops the ledger entries of a message whose every copy is out.
func (p *Processor) forget(ctx context.Context, tx *Transaction, keys []string) {
	for _, k := range keys {
		if err := p.ledger().Forget(ctx, k); err != nil {
			// Harmless but for one case: the same message sent again within
			// the ledger's lifetime would miss this copy.
			p.log.Warn("could not forget a delivered copy", "queue_id", tx.QueueID, "err", err)
		}
	}
}

// CopyLedger remembers which copies were handed to Postfix, so a retry after
// a partial failure does not send them twice.
// Entries live from a failed attempt to the successful retry.
type CopyLedger interface {
	Seen(ctx context.Context, key string) (bool, error)
	Record(ctx context.Context, key string) error
	Forget(ctx context.Context, key string) error
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
// (Postfix's default maximal_queue_lifetime is 5 days). A restart between a
// partial failure and the retry loses it: serve uses the durable ledger.
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

func (s *sentCopies) Forget(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.seen, key)
	return nil
}
