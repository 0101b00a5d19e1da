package milter

import (
	"context"
	"strings"
	"testing"

	"github.com/mailseal/mailseal/policy"
)

// policy.unauthorised_internal: reject refuses internal-domain mail the
// client may not send as, at RCPT and (should RCPT have let it through,
// e.g. after a reload) at end of data; authorised and outside senders pass.
func TestUnauthorisedInternalReject(t *testing.T) {
	spec := policy.DefaultSpec()
	spec.UnauthorisedInternal = "reject"
	set := testSettings(t, spec)
	logins, err := policy.ParseLoginMap("logins", []byte("alice %u@corp.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	set.Policy.LoginMap = logins
	ids := openIdentities(t, t.TempDir())
	p := newProcessor(t, set, ids, &fakeReinjector{})
	const refusal = "Mail from <bob@corp.example> must be signed by this gateway, but you are not logged in as that sender"
	cases := []struct {
		name      string
		modify    func(tx *Transaction)
		refused   bool
		direction string
		action    string
	}{
		{"login from the map", func(tx *Transaction) { tx.Client.Addr, tx.AuthUser = untrustedIP, "alice" }, false, "outbound", "signed"},
		{"login not in the map", func(tx *Transaction) {
			tx.Client.Addr, tx.AuthUser, tx.From = untrustedIP, "bob", "bob@corp.example"
			tx.Headers = setHeader(tx.Headers, "From", "bob@corp.example")
		}, true, policy.DirectionUnauthorised, "rejected"},
		{"no AUTH from outside", func(tx *Transaction) {
			tx.Client.Addr, tx.From = untrustedIP, "bob@corp.example"
			tx.Headers = setHeader(tx.Headers, "From", "bob@corp.example")
		}, true, policy.DirectionUnauthorised, "rejected"},
		{"KELVIN SIGN look-alike, AUTH as kate", func(tx *Transaction) {
			tx.Client.Addr, tx.AuthUser, tx.From = untrustedIP, "kate@corp.example", "\u212Aate@corp.example"
			tx.Headers = setHeader(tx.Headers, "From", "\u212Aate@corp.example")
		}, true, policy.DirectionUnauthorised, "rejected"},
		{"outside sender", func(tx *Transaction) {
			tx.Client.Addr, tx.From = untrustedIP, "news@partner.example"
			tx.Headers = setHeader(tx.Headers, "From", "news@partner.example")
		}, false, "inbound", "none"},
		{"From: differs (authorised client)", func(tx *Transaction) {
			tx.Headers = setHeader(tx.Headers, "From", "ceo@corp.example")
		}, false, "inbound", "none"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tx := newTx(baseHeaders(), plainBody, "carol@partner.example")
			tc.modify(tx)
			r := p.Recipient(context.Background(), tx, "carol@partner.example")
			want := refusal
			if strings.Contains(tc.name, "KELVIN") {
				want = "Mail from this sender address must be signed by this gateway, but certificates name plain ASCII addresses only"
			}
			if tc.refused != (r.Code == 550) || (tc.refused && (r.Enhanced != "5.7.1" || !strings.HasPrefix(r.Text, want))) {
				t.Errorf("Recipient = %v, refused want %v", r, tc.refused)
			}
			res := p.Handle(context.Background(), tx)
			if res.Direction != tc.direction || res.Action != tc.action || tc.refused != (res.Reply.Code == 550) {
				t.Fatalf("Handle: direction %q action %q reply %v (%s), want %q %q", res.Direction, res.Action, res.Reply, res.Detail, tc.direction, tc.action)
			}
			if tc.refused && (res.Body != nil || res.AddHeaders != nil || !strings.HasPrefix(res.Reply.Text, want)) {
				t.Errorf("refused message has edits or wrong text: %+v", res)
			}
		})
	}
	// deliver (the default) lets the same mail pass unsigned, labelled.
	p.SetSettings(testSettings(t, policy.DefaultSpec()))
	tx := newTx(baseHeaders(), plainBody, "carol@partner.example")
	tx.Client.Addr, tx.AuthUser = untrustedIP, "alice"
	if r := p.Recipient(context.Background(), tx, "carol@partner.example"); !r.Accepted() {
		t.Errorf("deliver: Recipient = %v", r)
	}
	if res := p.Handle(context.Background(), tx); !res.Reply.Accepted() || res.Action != "none" || res.Direction != policy.DirectionUnauthorised {
		t.Errorf("deliver: %v %q %q", res.Reply, res.Action, res.Direction)
	}
}
