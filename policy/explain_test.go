package policy

import (
	"fmt"
	"testing"
)

func TestExplain(t *testing.T) {
	s := DefaultSpec()
	s.Methods, s.Fallback = []string{"smime", "pgp"}, "reject"
	s.Rules = []RuleSpec{
		{Name: "partner-x", Recipients: []string{"*@partner.example"}, Encrypt: "required", RequireTLS: true},
		{Name: "bank", Direction: "inbound", Senders: []string{"*@bank.example"}, RequireTLS: true, RequireSignature: "reject"},
	}
	e := mustCompile(t, s)
	in := Input{
		Direction: Outbound, Sender: "alice@corp.example", Subject: "[secure] Offer", SignerAvailable: true,
		Recipients: []Recipient{{Address: "bob@partner.example"}, {Address: "carol@partner.example", Bcc: true}, {Address: "dave@other.example"}, {Address: "erin@other.example"}},
		Keys:       map[string]KeyAvailability{"bob@partner.example": smime, "carol@partner.example": pgp, "erin@other.example": pgp},
	}
	want := `outbound mail from alice@corp.example
confidential: yes (subject tag "[secure]")
subject becomes: "Offer"
bob@partner.example: smime+sign (rule partner-x: encrypt required, S/MIME certificate known; TLS required to the next hop; cipher auto, key transport rsa-pkcs1)
carol@partner.example (bcc): pgp+sign (rule partner-x: encrypt required, PGP key known; TLS required to the next hop)
dave@other.example: reject (defaults: marked confidential (encrypt opportunistic), no certificate or key known, fallback reject)
erin@other.example: pgp+sign (defaults: marked confidential (encrypt opportunistic), PGP key known)
refused: 550 5.7.1 <dave@other.example>: this message is marked confidential, but no certificate or key is known for this address
copy 1 (smime+sign, kept in place): bob@partner.example
copy 2 (pgp+sign, re-injected copy, bcc): carol@partner.example
copy 3 (pgp+sign, re-injected copy): erin@other.example
`
	if got := e.Explain(in); got != want {
		t.Fatalf("Explain:\n%s\nwant:\n%s", got, want)
	}
	if e.Explain(in) != e.Explain(in) {
		t.Fatal("not deterministic")
	}

	inbound := Input{Direction: Inbound, Sender: "x@bank.example", Subject: "hello", Recipients: []Recipient{{Address: "a@corp.example"}}}
	want = `inbound mail from x@bank.example
confidential: no
message refused: 550 5.7.1 this sender's mail must arrive over TLS (STARTTLS); the connection was not encrypted (rule bank: require_tls)
require_signature: reject
a@corp.example: plain (rule bank: inbound: delivered as received; require_tls violated: the connection was not encrypted)
copy 1 (plain, kept in place): a@corp.example
`
	if got := e.Explain(inbound); got != want {
		t.Fatalf("Explain inbound:\n%s\nwant:\n%s", got, want)
	}
}

func ExampleEngine_Explain() {
	s := DefaultSpec()
	s.Rules = []RuleSpec{{Name: "partner-x", Recipients: []string{"*@partner.example"}, Encrypt: "required"}}
	e, _ := Compile(s)
	fmt.Print(e.Explain(Input{
		Direction: Outbound, Sender: "alice@corp.example", Subject: "Offer", SignerAvailable: true,
		Recipients: []Recipient{{Address: "bob@partner.example"}},
		Keys:       map[string]KeyAvailability{"bob@partner.example": {SMIME: true, SMIMEKey: "3f2a…9c01 (imported, unverified)"}},
	}))
	// Output:
	// outbound mail from alice@corp.example
	// confidential: no
	// bob@partner.example: smime+sign (rule partner-x: encrypt required, S/MIME certificate known; cipher auto, key transport rsa-pkcs1; certificate 3f2a…9c01 (imported, unverified))
	// copy 1 (smime+sign, kept in place): bob@partner.example
}
