package milter

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/crypto/smime"
	"github.com/mailseal/mailseal/pdfmail"
	"github.com/mailseal/mailseal/policy"
	"github.com/mailseal/mailseal/reinject"
)

// TraceHeader is the header in which mailseal says what it did. Every
// X-Mailseal-* header arriving from outside is removed first, so a header of
// this name on a delivered message was written by us.
const TraceHeader = "X-Mailseal-Trace"

// Identities hands out signing identities, issuing certificates on demand.
type Identities interface {
	SigningIdentity(ctx context.Context, email string) (*certs.Identity, bool, error)
}

// Reinjector hands a processed copy to Postfix on a listener without milters.
type Reinjector interface {
	Send(ctx context.Context, env reinject.Envelope, msg []byte) error
}

// Settings are the reloadable parts of the configuration the processor needs.
type Settings struct {
	Policy     policy.Settings // who may be signed for
	Engine     *policy.Engine  // rules: what each recipient gets
	AuthservID string
	PDF        PDFSettings // the PDF fallback
	Inbound    InboundSettings
}

// Processor is mailseal's Handler: strip forged verdict headers, decide per
// recipient, protect each group's copy, split when groups differ.
type Processor struct {
	settings atomic.Pointer[Settings]
	ids      Identities
	reinject Reinjector                     // nil: a message that needs splitting is tempfailed
	sent     *sentCopies                    // default ledger
	faults   func(CopyStep, []string) error // WithCopyFault; nil in production
	copies   atomic.Pointer[CopyLedger]     // durable ledger, when set
	signers  sync.Map                       // email → *smime.Signer for its current certificate
	keys     atomic.Pointer[keySources]     // SetKeys: partner directory, senders' OpenPGP keys
	pgpKeys  pgpKeyCache                    // fingerprint → *pgpmime.PrivateKey
	decKeys  atomic.Pointer[decryptionKeys] // SetDecryptionKeys: internal users' own keys
	log      *slog.Logger
}

// NewProcessor returns a processor; SetSettings may swap settings at any time.
func NewProcessor(s *Settings, ids Identities, reinject Reinjector, log *slog.Logger, opts ...ProcessorOption) *Processor {
	p := &Processor{ids: ids, reinject: reinject, sent: newSentCopies(), log: log}
	for _, o := range opts {
		o(p)
	}
	p.settings.Store(s)
	return p
}

// Settings returns the settings in force.
func (p *Processor) Settings() *Settings { return p.settings.Load() }

// SetSettings atomically replaces the settings used for the next message.
func (p *Processor) SetSettings(s *Settings) { p.settings.Store(s) }

// Recipient refuses a recipient at RCPT time when the rules alone decide
// that mail to it can never be delivered (encryption required, no key, no
// fallback; or an inbound require_tls rule and a plaintext connection), so
// the sender learns it before sending the data.
func (p *Processor) Recipient(ctx context.Context, tx *Transaction, rcpt string) Reply {
	set := p.settings.Load()
	dir := policy.Inbound
	if set.Policy.Authorised(tx.From, tx.AuthUser, tx.Client.Addr) {
		dir = policy.Outbound
	} else if set.Engine.RejectsUnauthorisedInternal() && set.Policy.Unauthorised(tx.From, tx.AuthUser, tx.Client.Addr) {
		// policy.unauthorised_internal: reject. Refused at RCPT, so the
		// client learns it before sending the data.
		rej := policy.UnauthorisedRejection(tx.From)
		p.log.Info("recipient refused", "queue_id", tx.QueueID, "from", tx.From, "rcpt", rcpt, "direction", policy.DirectionUnauthorised, "auth", tx.AuthUser, "rule", rej.Rule, "reply", rej.Text)
		return Reply{Code: rej.Code, Enhanced: rej.Enhanced, Text: rej.Text}
	}
	var avail policy.KeyAvailability
	if dir == policy.Outbound {
		keys, err := p.keyAvailability(ctx, []string{rcpt}, nil)
		if err != nil {
			p.log.Warn("recipient tempfailed: key directory lookup failed", "queue_id", tx.QueueID, "rcpt", rcpt, "err", err)
			return TempFail("4.7.1", "the recipient's keys could not be looked up right now; please try again later")
		}
		avail = keys[policy.KeyOf(rcpt)]
		tx.Keys = keys
	}
	rej := set.Engine.RecipientPrecheck(dir, tx.From, rcpt, avail)
	if rej == nil && dir == policy.Inbound {
		// An inbound require_tls rule depends on sender, recipient and the
		// connection only: refuse before the client sends the data.
		ev := set.Engine.Evaluate(policy.Input{Direction: dir, Sender: tx.From,
			Recipients: []policy.Recipient{{Address: rcpt}}, ClientTLS: tx.Client.TLSVersion != ""})
		rej = ev.RequireTLSInboundViolation
	}
	if rej != nil {
		p.log.Warn("recipient refused", "queue_id", tx.QueueID, "from", tx.From, "rcpt", rcpt, "rule", rej.Rule, "reply", rej.Text)
		return Reply{Code: rej.Code, Enhanced: rej.Enhanced, Text: rej.Text}
	}
	return Reply{}
}

// Handle implements Handler.
func (p *Processor) Handle(ctx context.Context, tx *Transaction) Result {
	set := p.settings.Load()
	var res Result
	// Receiving a large message leaves its packets behind as garbage.
	releaseBig(tx.BodySize)

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
	res.Direction = plan.Label()
	if plan.Unauthorised && set.Engine.RejectsUnauthorisedInternal() {
		rej := policy.UnauthorisedRejection(tx.From)
		return p.refuse(tx, res, Reply{Code: rej.Code, Enhanced: rej.Enhanced, Text: rej.Text}, "policy.unauthorised_internal: "+plan.Reason)
	}

	var keys map[string]policy.KeyAvailability
	if plan.Direction == policy.Outbound {
		var err error
		if keys, err = p.keyAvailability(ctx, tx.Rcpts, tx.Keys); err != nil {
			return p.fail(tx, res, TempFail("4.7.1", "Recipient keys could not be looked up right now; please try again later"), err)
		}
	}
	ev := set.Engine.Evaluate(policy.Input{
		Keys:            keys,
		Direction:       plan.Direction,
		Sender:          tx.From,
		Recipients:      recipients(tx.Rcpts, kept),
		Subject:         firstValue(kept, "Subject"),
		Headers:         policyHeaders(kept),
		ClientTLS:       tx.Client.TLSVersion != "",
		SignerAvailable: plan.Sign,
	})
	res.Decisions = ev.Decisions
	if v := ev.RequireTLSInboundViolation; v != nil {
		return p.refuse(tx, res, Reply{Code: v.Code, Enhanced: v.Enhanced, Text: v.Text}, "rule "+v.Rule)
	}
	// The sender's own end-to-end encryption satisfies any policy: nothing
	// to refuse for lack of a key, and nothing to add.
	encrypted := isEncrypted(contentType)
	if len(ev.Rejections) > 0 && !encrypted {
		return p.refuse(tx, res, rejectionReply(ev.Rejections), "policy")
	}

	m := &original{tx: tx, kept: kept, authservID: set.AuthservID, signer: plan.Signer}
	if plan.Direction == policy.Inbound {
		if r, stop := p.inbound(ctx, m, set, ev, res); stop {
			return r
		}
	}
	// The tag is the internal sender's instruction to this gateway; inbound
	// subjects are the outside sender's and stay as they are.
	if ev.SubjectChanged && plan.Direction == policy.Outbound {
		m.subject = &HeaderChange{Name: "Subject", Index: 1, Value: encodeSubject(ev.CleanSubject)}
	}
	groups := ev.Groups
	if encrypted {
		groups = encryptedGroups(ev.Decisions)
	}
	if set.PDF.Delivery == pdfmail.DeliveryFixed {
		groups = onePDFPerRecipient(groups)
	}
	if len(groups) > 1 && tx.SpoolErr != nil {
		// Copies are rendered from the spool; a cut-off body must never be
		// re-injected as if it were the message.
		if tx.TooBig() {
			return p.fail(tx, res, Reject(552, "5.3.4", "Message too big to be split for its recipients by this gateway"), tx.SpoolErr)
		}
		return p.fail(tx, res, TempFail("4.3.0", "Your message could not be split for its recipients right now; please try again later"), tx.SpoolErr)
	}
	for _, g := range groups {
		if g.Treatment == policy.TreatEncryptSMIME || g.Treatment == policy.TreatEncryptPGP {
			m.encryptLeft++
		}
	}
	copies := make([]*content, len(groups))
	for i, g := range groups {
		c, reply, err := p.render(ctx, m, g)
		if err != nil {
			return p.fail(tx, res, reply, err)
		}
		copies[i] = c
	}
	if len(copies) == 0 {
		return p.refuse(tx, res, Reject(550, "5.1.1", "no recipient is left for this message"), "no groups")
	}

	// One group stays in this transaction; every other group's copy goes
	// back to Postfix first. Only when all copies are handed over is the
	// message accepted; any failure tempfails it all. Copies handed over are
	// remembered for the retention period, also after this success: if our
	// reply never reaches Postfix (a crash now), the client's retry must not
	// send them twice.
	for i := 1; i < len(groups); i++ {
		if _, err := p.inject(ctx, m, groups[i], copies[i]); err != nil {
			return p.fail(tx, res, TempFail("4.3.0", "Your message could not be split for its recipients right now; please try again later"), err)
		}
		res.DeleteRecipients = append(res.DeleteRecipients, groups[i].Recipients...)
	}
	in := copies[0]
	if err := p.sendPassword(ctx, tx, in.password); err != nil {
		return p.fail(tx, res, TempFail("4.3.0", "The password for your message's encrypted PDF could not be sent right now; please try again later"), err)
	}
	res.ChangeHeaders = in.changes
	res.DeleteHeaders = append(res.DeleteHeaders, in.deletes...)
	res.AddHeaders = append(res.AddHeaders, in.adds...)
	res.Body = in.body
	res.Action, res.Detail = summarise(groups, copies), plan.Reason
	if m.inbound != nil && m.inbound.decrypted {
		res.Action = "decrypted"
	}
	p.logDecision(tx, res)
	return res
}

// refuse answers the whole message with a policy refusal.
func (p *Processor) refuse(tx *Transaction, res Result, r Reply, why string) Result {
	res.Reply, res.Action, res.Detail = r, "rejected", why
	res.DeleteHeaders, res.ChangeHeaders, res.AddHeaders, res.Body, res.DeleteRecipients = nil, nil, nil, nil, nil
	p.logDecision(tx, res)
	return res
}

// fail turns an error into a refusal: the given reply, else a tempfail.
// Mail that must be protected never leaves unprotected because of an error.
func (p *Processor) fail(tx *Transaction, res Result, r Reply, err error) Result {
	if r.Accepted() {
		r = TempFail("4.7.1", "Your message could not be signed right now; please try again later")
	}
	res.Reply, res.Detail = r, err.Error()
	res.Action = "tempfailed"
	if r.Code >= 500 {
		res.Action = "rejected"
	}
	res.DeleteHeaders, res.ChangeHeaders, res.AddHeaders, res.Body, res.DeleteRecipients = nil, nil, nil, nil, nil
	p.logDecision(tx, res)
	return res
}

// rejectionReply folds per-recipient refusals into the one reply end of data
// allows: the first sentence, and how many more recipients were refused.
func rejectionReply(rs []policy.Rejection) Reply {
	r := Reply{Code: rs[0].Code, Enhanced: rs[0].Enhanced, Text: rs[0].Text}
	if n := len(rs) - 1; n > 0 {
		r.Text += fmt.Sprintf(" (and %d more recipient(s) refused for the same reason)", n)
	}
	return r
}

func (p *Processor) logDecision(tx *Transaction, res Result) {
	var ds []string
	for _, d := range res.Decisions {
		rule := d.Rule
		if rule == "" {
			rule = "defaults"
		}
		t := d.Treatment.String()
		if d.Sign && d.Treatment != policy.TreatSign {
			t += "+sign"
		}
		ds = append(ds, fmt.Sprintf("%s=%s(%s)", d.Recipient, t, rule))
	}
	// Tempfails and rejects are what an admin looks for: WARN, like Postfix's own.
	level := slog.LevelInfo
	if res.Reply.Code >= 400 {
		level = slog.LevelWarn
	}
	p.log.Log(context.Background(), level, "message",
		"queue_id", tx.QueueID, "from", tx.From, "rcpts", len(tx.Rcpts),
		"direction", res.Direction, "action", res.Action, "detail", res.Detail,
		"decisions", strings.Join(ds, " "), "copies", len(res.DeleteRecipients),
		"reply", res.Reply.String())
}

func recipients(rcpts []string, headers []Header) []policy.Recipient {
	visible := visibleRecipients(headers)
	out := make([]policy.Recipient, len(rcpts))
	for i, r := range rcpts {
		out[i] = policy.Recipient{Address: r, Bcc: !visible[policy.LowerASCII(r)]}
	}
	return out
}

func policyHeaders(hs []Header) []policy.Header {
	out := make([]policy.Header, len(hs))
	for i, h := range hs {
		out[i] = policy.Header{Name: h.Name, Value: h.Value}
	}
	return out
}

// encryptedGroups is the one group for content the sender encrypted end to
// end: it goes to every recipient as it is, including those the policy
// would have refused for lack of a key.
func encryptedGroups(ds []policy.RecipientDecision) []policy.Group {
	g := policy.Group{Treatment: policy.TreatPlain}
	for _, d := range ds {
		g.Recipients = append(g.Recipients, d.Recipient)
	}
	if len(g.Recipients) == 0 {
		return nil
	}
	return []policy.Group{g}
}

// summarise names what happened, e.g. "signed" or "split:sign+plain".
func summarise(groups []policy.Group, copies []*content) string {
	if len(groups) == 1 {
		return copies[0].action
	}
	seen := map[string]bool{}
	var kinds []string
	for _, c := range copies {
		if !seen[c.action] {
			seen[c.action] = true
			kinds = append(kinds, c.action)
		}
	}
	sort.Strings(kinds)
	return "split:" + strings.Join(kinds, "+")
}
