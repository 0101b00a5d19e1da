// Package policy decides what mailseal does with a message. Decide is pure:
// it sees facts gathered by the milter and returns a Plan, with no I/O, so
// every decision can be table-tested and explained.
package policy

import (
	"io"
	"mime"
	"net/mail"
	"net/netip"
	"strings"
)

// Direction says whether a message leaves on behalf of an internal user.
type Direction int

const (
	// Inbound is everything mailseal may not speak for: outside senders and
	// internal addresses that are not proven.
	Inbound Direction = iota
	// Outbound is mail of an authorised internal sender.
	Outbound
)

func (d Direction) String() string {
	if d == Outbound {
		return "outbound"
	}
	return "inbound"
}

// SignMode is policy.sign.
type SignMode string

const (
	SignAlways SignMode = "always"
	SignNever  SignMode = "never"
)

// Settings is the policy part of the configuration, already validated.
type Settings struct {
	InternalDomains []string // lower case
	TrustedNetworks []netip.Prefix
	Sign            SignMode
	// LoginMap lets SMTP AUTH logins send as the addresses it lists
	// (auth.login_maps); nil: a login may send only as itself.
	LoginMap *LoginMap
}

// Facts are what the milter learnt about one message.
type Facts struct {
	ClientAddr   netip.Addr // zero when Postfix gave none (unix socket, local submission)
	AuthUser     string     // {auth_authen}; empty without SMTP AUTH
	EnvelopeFrom string
	FromHeaders  []string // raw values of every From: header
	// AlreadyProtected is true when the content is already S/MIME or PGP signed or encrypted.
	AlreadyProtected bool
}

// Plan is the decision for one message.
type Plan struct {
	Direction Direction
	Sign      bool
	Signer    string // lower-cased address to sign as, when Sign
	Reason    string // why, in words an admin reads in the log
	// Unauthorised is true for mail from an internal-domain sender that
	// the client did not prove (no matching SMTP AUTH, not from
	// trusted_networks). It is inbound, but logs and metrics name it
	// DirectionUnauthorised, and policy.unauthorised_internal may refuse it.
	Unauthorised bool
}

// DirectionUnauthorised is the direction logs and metrics give mail from an
// internal-domain sender whose client was not authorised to send as it.
const DirectionUnauthorised = "internal-unauthorised"

// Label is the direction as logs and metrics show it: inbound, outbound or
// internal-unauthorised.
func (p Plan) Label() string {
	if p.Unauthorised {
		return DirectionUnauthorised
	}
	return p.Direction.String()
}

// Decide classifies the message and decides whether to sign it. An address is
// signed for only when all of these hold: it is in an internal domain, the
// client proved it (SMTP AUTH as exactly that address, or no AUTH from a
// trusted network), and the single From: header names the same address.
func Decide(s *Settings, f Facts) Plan {
	sender := trimLower(f.EnvelopeFrom)
	if sender == "" {
		return Plan{Reason: "null sender (bounce)"}
	}
	if !s.IsInternal(sender) {
		return Plan{Reason: "sender is not in internal_domains"}
	}
	if !isASCII(sender) {
		// A look-alike of an internal address (KELVIN SIGN for 'k') can
		// never be signed for: treat it like an unproven internal sender.
		return Plan{Reason: reasonNotASCII, Unauthorised: true}
	}
	if reason := s.unauthorised(sender, f.AuthUser, f.ClientAddr); reason != "" {
		return Plan{Reason: reason, Unauthorised: true}
	}
	if len(f.FromHeaders) != 1 {
		return Plan{Reason: "message must have exactly one From: header"}
	}
	from, err := singleAddress(f.FromHeaders[0])
	if err != nil || from != sender {
		return Plan{Reason: "From: header does not match the envelope sender"}
	}
	plan := Plan{Direction: Outbound, Signer: sender}
	switch {
	case f.AlreadyProtected:
		plan.Reason = "already signed or encrypted"
	case s.Sign == SignNever:
		plan.Reason = "policy.sign is never"
	default:
		plan.Sign = true
		plan.Reason = "authorised internal sender"
	}
	return plan
}

// Authorised reports whether a client may send as sender, from what is known
// at RCPT time: an internal sender, and SMTP AUTH as exactly that address (or
// as a login the login map allows to send as it) or no AUTH from a trusted
// network. Decide adds the From: header check.
func (s *Settings) Authorised(sender, authUser string, client netip.Addr) bool {
	sender = trimLower(sender)
	return sender != "" && s.IsInternal(sender) && isASCII(sender) && s.unauthorised(sender, authUser, client) == ""
}

// Unauthorised reports whether sender is an internal address the client is
// not authorised to send as, or one with non-ASCII characters, which no
// certificate can name: the mail Decide marks Unauthorised.
func (s *Settings) Unauthorised(sender, authUser string, client netip.Addr) bool {
	sender = trimLower(sender)
	return sender != "" && s.IsInternal(sender) && (!isASCII(sender) || s.unauthorised(sender, authUser, client) != "")
}

const reasonNotASCII = "sender address is not ASCII (certificates name ASCII addresses only)"

func (s *Settings) unauthorised(sender, authUser string, client netip.Addr) string {
	if auth := trimLower(authUser); auth != "" {
		if auth == sender || s.LoginMap.Allows(auth, sender) {
			return ""
		}
		if s.LoginMap != nil {
			return "client authenticated as " + auth + ", which is neither the envelope sender nor allowed to send as it by auth.login_maps"
		}
		return "client authenticated as " + auth + ", not as the envelope sender"
	}
	if !s.trusted(client) {
		return "client neither authenticated nor in trusted_networks"
	}
	return ""
}

// IsInternal reports whether addr's domain is an internal domain or below one.
func (s *Settings) IsInternal(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at < 1 {
		return false
	}
	domain := LowerASCII(addr[at+1:])
	for _, d := range s.InternalDomains {
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return true
		}
	}
	return false
}

func (s *Settings) trusted(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range s.TrustedNetworks {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	// Display names in unknown charsets must not make a valid From unreadable:
	// only the address matters here.
	CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
}}

// singleAddress returns the (ASCII) lower-cased address of a From: value with exactly one mailbox.
func singleAddress(value string) (string, error) {
	list, err := addressParser.ParseList(strings.ReplaceAll(value, "\n", " "))
	if err != nil {
		return "", err
	}
	if len(list) != 1 {
		return "", errMultipleAddresses
	}
	return LowerASCII(list[0].Address), nil
}

type policyError string

func (e policyError) Error() string { return string(e) }

const errMultipleAddresses = policyError("policy: From: must name exactly one mailbox")
