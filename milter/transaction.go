package milter

import (
	"fmt"
	"io"
	"net/netip"

	"github.com/mailseal/mailseal/policy"
)

// Client is what Postfix told us about the SMTP client; it lives as long as
// the milter connection, across several messages.
type Client struct {
	Addr       netip.Addr // zero for local submission or unknown
	Hostname   string
	Helo       string
	DaemonName string // {daemon_name}: which smtpd (or pickup) saw the mail
	TLSVersion string // {tls_version}; empty when the client did not use STARTTLS
	TLSCipher  string
}

// Header is one header field as Postfix showed it; Value keeps its folding.
type Header struct {
	Name  string
	Value string
}

// Transaction is one message as the handler sees it at end of data.
type Transaction struct {
	QueueID  string
	Client   Client
	AuthUser string // {auth_authen}
	AuthType string
	From     string   // envelope sender, without <>
	Rcpts    []string // envelope recipients, as Postfix spelled them
	// FromParams and RcptParams are the ESMTP parameters of MAIL FROM and of
	// each RCPT TO ("NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;…"); copies
	// re-injected for a recipient group keep them.
	FromParams []string
	RcptParams map[string][]string
	Headers    []Header // in message order
	// Keys are the recipients' keys the directory named at RCPT time
	// (policy.KeyOf → availability), so end of data asks only for the rest.
	Keys     map[string]policy.KeyAvailability
	BodySize int64
	// SpoolErr is set when the body could not be kept whole: too big or disk error.
	SpoolErr error
	body     io.ReadSeeker
}

// Body returns the message body from its start.
func (t *Transaction) Body() (io.Reader, error) {
	if _, err := t.body.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return t.body, nil
}

// TooBig reports whether the body exceeded milter.max_message_size.
func (t *Transaction) TooBig() bool { return t.SpoolErr == errTooBig }

// HeaderRef names one header instance: the index-th (1-based) header of that
// name, counted case-insensitively the way Postfix counts for CHGHEADER.
type HeaderRef struct {
	Name  string
	Index int
}

// HeaderChange replaces the value of one header instance.
type HeaderChange struct {
	Name  string
	Index int
	Value string
}

// Reply is the SMTP answer for a message. The zero Reply accepts it.
type Reply struct {
	Code     int    // 4xx or 5xx
	Enhanced string // e.g. 4.7.1
	Text     string // one sentence for the sender
}

// Accepted reports whether r lets the message through.
func (r Reply) Accepted() bool { return r.Code == 0 }

func (r Reply) String() string {
	if r.Accepted() {
		return "250 accepted"
	}
	return fmt.Sprintf("%d %s %s", r.Code, r.Enhanced, r.Text)
}

// TempFail builds a 451 reply; the client keeps the message and retries.
func TempFail(enhanced, text string) Reply { return Reply{Code: 451, Enhanced: enhanced, Text: text} }

// Reject builds a permanent 5xx reply.
func Reject(code int, enhanced, text string) Reply {
	return Reply{Code: code, Enhanced: enhanced, Text: text}
}

// Result is what the handler wants done with a message: applied as a diff at
// end of data, and only when Reply accepts it.
type Result struct {
	Reply         Reply
	ChangeHeaders []HeaderChange
	DeleteHeaders []HeaderRef
	AddHeaders    []Header
	Body          []byte // nil: body unchanged
	// DeleteRecipients leave this transaction: their copies were re-injected.
	// Spelt exactly as RCPT gave them, as Postfix requires.
	DeleteRecipients []string
	// Log fields describing the outcome for metrics and the decision log.
	Direction string // inbound | outbound | internal-unauthorised (policy.Plan.Label)
	Action    string // signed | none | rejected | tempfailed
	Detail    string
	Decisions []policy.RecipientDecision
}
