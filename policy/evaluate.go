package policy

import (
	"fmt"
	"strings"
)

// Input is what Evaluate needs to know about one message.
type Input struct {
	Direction  Direction // from Decide: Outbound only when the sender is authorised
	Sender     string
	Recipients []Recipient
	Subject    string
	Headers    []Header
	ClientTLS  bool                       // the client used STARTTLS ({tls_version} non-empty)
	Keys       map[string]KeyAvailability // lower-cased recipient → keys the directory knows; missing = none
	// SignerAvailable is true when the sender may be signed for (Decide's
	// Direction is Outbound and the content is not already protected). When
	// false no treatment signs.
	SignerAvailable bool
}

// Recipient is one envelope recipient. Bcc is true when it is in the
// envelope but not in the To:/Cc: headers.
type Recipient struct {
	Address string
	Bcc     bool
}

// KeyAvailability says which recipient keys the directory knows. The
// descriptions (fingerprint, provenance) are for explanations only.
type KeyAvailability struct {
	SMIME, PGP         bool
	SMIMEKey, PGPKeyID string
}

// KeyOf is the key of Input.Keys for a recipient address as RCPT gave it.
func KeyOf(addr string) string { return normAddress(addr) }

// Treatment is what happens to the copy one recipient gets.
type Treatment int

const (
	TreatPlain Treatment = iota
	TreatSign
	TreatEncryptSMIME
	TreatEncryptPGP
	TreatPDF
	TreatReject
)

func (t Treatment) String() string {
	switch t {
	case TreatPlain:
		return "plain"
	case TreatSign:
		return "sign"
	case TreatEncryptSMIME:
		return "smime"
	case TreatEncryptPGP:
		return "pgp"
	case TreatPDF:
		return "pdf"
	case TreatReject:
		return "reject"
	}
	return fmt.Sprintf("Treatment(%d)", int(t))
}

// Protects reports whether the treatment keeps the content from being read
// in transit by anyone but the recipient.
func (t Treatment) Protects() bool {
	return t == TreatEncryptSMIME || t == TreatEncryptPGP || t == TreatPDF
}

// Group is a set of recipients that get the same copy. Recipients are spelt
// exactly as given in Input (DeleteRecipient needs the RCPT spelling).
type Group struct {
	Treatment  Treatment
	Sign       bool
	Recipients []string
	Bcc        bool         // a single Bcc recipient with a copy of its own
	SMIME      SMIMEOptions // for TreatEncryptSMIME; zero otherwise
}

// RecipientDecision is the outcome for one recipient.
type RecipientDecision struct {
	Recipient  string
	Treatment  Treatment
	Sign       bool
	Rule       string // "" = global defaults
	Reason     string
	Bcc        bool
	RequireTLS bool // outbound: the rule requires TLS to the next hop (enforced by smtp_tls_policy_maps)
	// RequireSignature is the matching inbound rule's require_signature ("", "reject", "tag").
	RequireSignature string
	// SMIME is how an S/MIME copy is encrypted (TreatEncryptSMIME only).
	SMIME SMIMEOptions
}

// Rejection is an SMTP refusal: "<Code> <Enhanced> <Text>".
type Rejection struct {
	Recipient string // "" when the whole message is refused
	Code      int
	Enhanced  string
	Text      string
	Rule      string
}

// Evaluation is the outcome for one message.
type Evaluation struct {
	Confidential   bool
	ConfidentialBy string
	// CleanSubject is the decoded subject with the tags removed, "" if no tag
	// was removed; SubjectChanged tells a subject that was only a tag from that.
	CleanSubject   string
	SubjectChanged bool
	Decisions      []RecipientDecision // one per recipient, input order
	// Groups holds every recipient that is not rejected. Outbound, each Bcc
	// recipient whose treatment encrypts has a group of its own (an
	// encrypted copy names its recipients); the first group holds the first
	// non-Bcc recipient, the others follow in order of first appearance.
	Groups     []Group
	Rejections []Rejection
	// RequireTLSInboundViolation refuses the whole message: an inbound rule
	// with require_tls matched and the client did not use STARTTLS.
	RequireTLSInboundViolation *Rejection
	// RequireSignature is the strictest require_signature of the inbound
	// rules that matched ("reject" over "tag" over "").
	RequireSignature string
}

// Texts of the refusals (after "550 5.7.1 ").
const (
	textInboundTLS = "this sender's mail must arrive over TLS (STARTTLS); the connection was not encrypted"
)

func textRequiresEncryption(addr string) string {
	return "<" + addr + "> requires encryption, but no certificate or key is known for this address"
}

func textConfidential(addr string) string {
	return "<" + addr + ">: this message is marked confidential, but no certificate or key is known for this address"
}

// Evaluate decides per recipient: the first rule that matches the direction,
// the sender (if the rule has senders) and the recipient (if it has
// recipients) wins; fields the rule leaves empty come from the global policy.
func (e *Engine) Evaluate(in Input) Evaluation {
	var ev Evaluation
	conf, why, clean, removed := e.confidential(in.Subject, in.Headers)
	ev.Confidential, ev.ConfidentialBy = conf, why
	if removed {
		ev.CleanSubject, ev.SubjectChanged = clean, true
	}
	sender := normAddress(in.Sender)
	for _, rc := range in.Recipients {
		addr := normAddress(rc.Address)
		r := e.match(in.Direction, sender, addr)
		d := RecipientDecision{Recipient: rc.Address, Bcc: rc.Bcc}
		if r != nil {
			d.Rule = r.name
		}
		if in.Direction == Inbound {
			d.Treatment, d.Reason = TreatPlain, "inbound: delivered as received"
			if r != nil {
				d.RequireSignature = r.requireSig
				ev.RequireSignature = stricterSig(ev.RequireSignature, r.requireSig)
				if r.requireTLS {
					if in.ClientTLS {
						d.Reason += "; require_tls met (client used STARTTLS)"
					} else {
						d.Reason += "; require_tls violated: the connection was not encrypted"
						if ev.RequireTLSInboundViolation == nil {
							ev.RequireTLSInboundViolation = &Rejection{Code: 550, Enhanced: "5.7.1", Text: textInboundTLS, Rule: r.name}
						}
					}
				}
			}
		} else {
			s := e.global
			if r != nil {
				s = r.s
				d.RequireTLS = r.requireTLS
			}
			var rej *Rejection
			d.Treatment, d.Sign, d.Reason, rej = decideOutbound(s, conf, in.SignerAvailable, in.Keys[addr], strings.Trim(strings.TrimSpace(rc.Address), "<>"))
			if d.Treatment == TreatEncryptSMIME {
				d.SMIME = s.smime
			}
			if rej != nil {
				rej.Recipient, rej.Rule = rc.Address, d.Rule
				ev.Rejections = append(ev.Rejections, *rej)
			}
		}
		ev.Decisions = append(ev.Decisions, d)
	}
	ev.Groups = groupDecisions(ev.Decisions, in.Direction == Outbound)
	return ev
}

// RecipientPrecheck is for RCPT time: it returns a refusal only when the
// policy rejects the recipient whatever the message says (outbound, the
// matching settings are encrypt: required and fallback: reject, and no
// configured method has a key). The text equals Evaluate's.
func (e *Engine) RecipientPrecheck(dir Direction, sender, rcpt string, keys KeyAvailability) *Rejection {
	if dir != Outbound {
		return nil
	}
	addr := normAddress(rcpt)
	s, name := e.global, ""
	if r := e.match(dir, normAddress(sender), addr); r != nil {
		s, name = r.s, r.name
	}
	if s.encrypt != EncryptRequired || s.fallback != FallbackReject {
		return nil
	}
	if _, ok := pickMethod(s.methods, keys, true); ok {
		return nil
	}
	return &Rejection{Recipient: rcpt, Code: 550, Enhanced: "5.7.1", Text: textRequiresEncryption(strings.Trim(strings.TrimSpace(rcpt), "<>")), Rule: name}
}

func (e *Engine) match(dir Direction, sender, rcpt string) *rule {
	for i := range e.rules {
		r := &e.rules[i]
		if r.direction != "" && r.direction != dir.String() {
			continue
		}
		if len(r.senders) > 0 && !anyMatch(r.senders, sender) {
			continue
		}
		if len(r.recipients) > 0 && !anyMatch(r.recipients, rcpt) {
			continue
		}
		return r
	}
	return nil
}

func anyMatch(ps []pattern, addr string) bool {
	for _, p := range ps {
		if p.match(addr) {
			return true
		}
	}
	return false
}

// decideOutbound applies effective settings to one recipient. Mail marked
// confidential is never delivered unprotected: whatever the encrypt mode, it
// is encrypted as if required, and a plain signature is not protection.
func decideOutbound(s settings, conf, signer bool, keys KeyAvailability, addr string) (Treatment, bool, string, *Rejection) {
	sign := signer && (s.sign == SignAlways || (s.sign == SignConfidential && conf))
	required := s.encrypt == EncryptRequired || conf
	var t Treatment
	var reason string
	switch {
	case required:
		why := "encrypt required"
		if s.encrypt != EncryptRequired {
			why = "marked confidential (encrypt " + string(s.encrypt) + ")"
		}
		if m, ok := pickMethod(s.methods, keys, true); ok {
			t, reason = methodTreatment(m), why+", "+methodReason(m, keys)
		} else if s.fallback == FallbackReject {
			text := textRequiresEncryption(addr)
			if s.encrypt != EncryptRequired {
				text = textConfidential(addr)
			}
			return TreatReject, false, why + ", no certificate or key known, fallback reject",
				&Rejection{Code: 550, Enhanced: "5.7.1", Text: text}
		} else {
			t, reason = TreatPDF, why+", no certificate or key known, fallback pdf"
		}
	case s.encrypt == EncryptOpportunistic:
		if m, ok := pickMethod(s.methods, keys, false); ok {
			t, reason = methodTreatment(m), "encrypt opportunistic, "+methodReason(m, keys)
		} else {
			t, reason = TreatPlain, "encrypt opportunistic, no certificate or key known"
		}
	case s.encrypt == EncryptConfidential:
		t, reason = TreatPlain, "encrypt confidential, message not marked confidential"
	default:
		t, reason = TreatPlain, "encrypt never"
	}
	if t == TreatPlain && sign {
		t = TreatSign
	}
	if !sign && s.sign != SignNever {
		switch {
		case !signer:
			reason += "; unsigned: sender may not be signed for"
		case s.sign == SignConfidential:
			reason += "; unsigned: sign confidential, message not marked confidential"
		}
	}
	return t, sign, reason, nil
}

// pickMethod returns the first method in preference order the recipient can
// use; pdf needs no key and counts only when allowPDF.
func pickMethod(methods []Method, keys KeyAvailability, allowPDF bool) (Method, bool) {
	for _, m := range methods {
		switch {
		case m == MethodSMIME && keys.SMIME, m == MethodPGP && keys.PGP, m == MethodPDF && allowPDF:
			return m, true
		}
	}
	return "", false
}

func methodTreatment(m Method) Treatment {
	switch m {
	case MethodSMIME:
		return TreatEncryptSMIME
	case MethodPGP:
		return TreatEncryptPGP
	}
	return TreatPDF
}

func methodReason(m Method, keys KeyAvailability) string {
	switch m {
	case MethodSMIME:
		return "S/MIME certificate known"
	case MethodPGP:
		return "PGP key known"
	}
	if keys.SMIME || keys.PGP {
		return "pdf preferred by methods"
	}
	return "pdf (no certificate or key needed)"
}

func stricterSig(a, b string) string {
	rank := map[string]int{"": 0, "tag": 1, "reject": 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// groupDecisions groups non-rejected recipients by treatment and signing.
// With isolateBcc every Bcc recipient whose copy is encrypted gets a group
// of its own: an encrypted copy names each recipient it is encrypted for
// (S/MIME RecipientInfos, PGP key ids), so sharing one would reveal the Bcc
// to the others. A signed or plain copy names no recipient, so a Bcc
// recipient shares it; each needless split would only add a dependency on
// the reinject listener.
func groupDecisions(ds []RecipientDecision, isolateBcc bool) []Group {
	type key struct {
		t     Treatment
		sign  bool
		smime SMIMEOptions
	}
	var groups []Group
	index := map[key]int{}
	first := -1 // group of the first non-Bcc recipient
	for _, d := range ds {
		if d.Treatment == TreatReject {
			continue
		}
		if isolateBcc && d.Bcc && d.Treatment.Protects() {
			groups = append(groups, Group{Treatment: d.Treatment, Sign: d.Sign, Recipients: []string{d.Recipient}, Bcc: true, SMIME: d.SMIME})
			continue
		}
		k := key{d.Treatment, d.Sign, d.SMIME}
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, Group{Treatment: d.Treatment, Sign: d.Sign, SMIME: d.SMIME})
		}
		if first < 0 && !d.Bcc {
			first = i
		}
		groups[i].Recipients = append(groups[i].Recipients, d.Recipient)
	}
	if first > 0 {
		g := groups[first]
		copy(groups[1:first+1], groups[:first])
		groups[0] = g
	}
	return groups
}
