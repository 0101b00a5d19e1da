package milter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/crypto/smime"
	"github.com/mailseal/mailseal/policy"
)

// TraceHeader is the header in which mailseal says what it did. Every
// X-Mailseal-* header arriving from outside is removed first, so a header of
// this name on a delivered message was written by us.
const TraceHeader = "X-Mailseal-Trace"

// Identities hands out signing identities, issuing certificates on demand.
type Identities interface {
	SigningIdentity(ctx context.Context, email string) (*certs.Identity, bool, error)
}

// Settings are the reloadable parts of the configuration the processor needs.
type Settings struct {
	Policy     policy.Settings
	AuthservID string
}

// Processor is mailseal's Handler: strip forged verdict headers, decide, sign.
type Processor struct {
	settings atomic.Pointer[Settings]
	ids      Identities
	log      *slog.Logger
}

// NewProcessor returns a processor; SetSettings may swap settings at any time.
func NewProcessor(s *Settings, ids Identities, log *slog.Logger) *Processor {
	p := &Processor{ids: ids, log: log}
	p.settings.Store(s)
	return p
}

// SetSettings atomically replaces the settings used for the next message.
func (p *Processor) SetSettings(s *Settings) { p.settings.Store(s) }

// Handle implements Handler.
func (p *Processor) Handle(ctx context.Context, tx *Transaction) Result {
	set := p.settings.Load()
	var res Result

	// Inbound copies of our own verdicts are removed before anything else:
	// nothing later may trust a header an outsider could have written.
	own := func(h Header) bool { return isOwnHeader(h, set.AuthservID) }
	res.DeleteHeaders = HeaderRefs(tx.Headers, own)
	kept := make([]Header, 0, len(tx.Headers))
	for _, h := range tx.Headers {
		if !own(h) {
			kept = append(kept, h)
		}
	}

	contentType := firstValue(kept, "Content-Type")
	plan := policy.Decide(&set.Policy, policy.Facts{
		ClientAddr:       tx.Client.Addr,
		AuthUser:         tx.AuthUser,
		EnvelopeFrom:     tx.From,
		FromHeaders:      values(kept, "From"),
		AlreadyProtected: smime.IsSignedOrEncrypted(contentType),
	})
	res.Direction = plan.Direction.String()

	if !plan.Sign {
		// Nothing but the stripping is done: the message leaves as it came,
		// and the reason goes to the log, not to the recipient.
		res.Action, res.Detail = "none", plan.Reason
		p.logDecision(tx, res)
		return res
	}
	if err := p.sign(ctx, tx, kept, plan.Signer, set, &res); err != nil {
		// Never deliver unsigned what must be signed: a failure without a
		// permanent cause is a tempfail, and the client retries.
		if res.Reply.Accepted() {
			res.Reply = TempFail("4.7.1", "Your message could not be signed right now; please try again later")
		}
		res.Action, res.Detail = "tempfailed", err.Error()
		if res.Reply.Code >= 500 {
			res.Action = "rejected"
		}
		res.DeleteHeaders, res.AddHeaders, res.Body = nil, nil, nil
	}
	p.logDecision(tx, res)
	return res
}

// sign replaces the message content by a multipart/signed entity. Any error
// means the message must not leave: the caller turns it into a 4xx/5xx.
func (p *Processor) sign(ctx context.Context, tx *Transaction, kept []Header, signer string, set *Settings, res *Result) error {
	if tx.SpoolErr != nil {
		if tx.TooBig() {
			res.Reply = Reject(552, "5.3.4", "Message too big to be signed by this gateway")
			return tx.SpoolErr
		}
		return fmt.Errorf("spool: %w", tx.SpoolErr)
	}
	id, _, err := p.ids.SigningIdentity(ctx, signer)
	if err != nil {
		return fmt.Errorf("certificate for %s: %w", signer, err)
	}
	s, err := smime.NewSigner(id.Key, id.Cert, id.Chain)
	if err != nil {
		return fmt.Errorf("signer for %s: %w", signer, err)
	}
	var fields []smime.HeaderField
	for _, h := range kept {
		if isContentHeader(h.Name) {
			fields = append(fields, smime.HeaderField{Name: h.Name, Value: h.Value})
		}
	}
	body, err := tx.Body()
	if err != nil {
		return fmt.Errorf("read spool: %w", err)
	}
	signed, err := s.Sign(fields, body)
	switch {
	case errors.Is(err, smime.ErrMalformed):
		res.Reply = Reject(554, "5.6.0", "Your message could not be signed because its MIME structure is malformed")
		return err
	case errors.Is(err, smime.ErrTooLarge):
		res.Reply = Reject(552, "5.3.4", "Message too big to be signed by this gateway")
		return err
	case err != nil:
		return fmt.Errorf("sign for %s: %w", signer, err)
	}

	// Content headers move inside the signed entity; the outer message keeps
	// From/To/Subject/Date/Message-ID and gets the multipart/signed type.
	res.DeleteHeaders = append(res.DeleteHeaders, HeaderRefs(kept, func(h Header) bool { return isContentHeader(h.Name) })...)
	res.AddHeaders = append(res.AddHeaders,
		Header{"MIME-Version", "1.0"},
		Header{"Content-Type", foldParams(signed.ContentType)},
		Header{TraceHeader, fmt.Sprintf("%s; signed; signer=%s; serial=%s", set.AuthservID, signer, id.Cert.SerialNumber.Text(16))},
	)
	res.Body = signed.Body
	res.Action, res.Detail = "signed", "signer="+signer
	return nil
}

func (p *Processor) logDecision(tx *Transaction, res Result) {
	p.log.Info("message",
		"queue_id", tx.QueueID, "from", tx.From, "rcpts", len(tx.Rcpts),
		"direction", res.Direction, "action", res.Action, "detail", res.Detail,
		"reply", res.Reply.String(), "deleted_headers", len(res.DeleteHeaders))
}

// isOwnHeader matches headers only mailseal may write: X-Mailseal-* and
// Authentication-Results carrying our authserv-id.
func isOwnHeader(h Header, authservID string) bool {
	name := strings.ToLower(h.Name)
	if name == "x-mailseal" || strings.HasPrefix(name, "x-mailseal-") {
		return true
	}
	if name != "authentication-results" {
		return false
	}
	id := strings.TrimLeft(h.Value, " \t\r\n")
	if i := strings.IndexAny(id, "; \t\r\n("); i >= 0 {
		id = id[:i]
	}
	return strings.EqualFold(id, authservID)
}

func isContentHeader(name string) bool {
	n := strings.ToLower(name)
	return strings.HasPrefix(n, "content-") || n == "mime-version"
}

func values(hs []Header, name string) []string {
	var out []string
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			out = append(out, h.Value)
		}
	}
	return out
}

func firstValue(hs []Header, name string) string {
	if v := values(hs, name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// foldParams folds a long structured header value before its parameters so
// no header line exceeds 78 characters needlessly.
func foldParams(v string) string {
	if len(v) <= 60 {
		return v
	}
	parts := strings.Split(v, "; ")
	return strings.Join(parts, ";\n\t")
}
