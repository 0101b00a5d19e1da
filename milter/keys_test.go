package milter

import (
	"context"
	"crypto/x509"
	"errors"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/policy"
)

// countingDirectory knows no keys and counts the questions.
type countingDirectory struct {
	mu    sync.Mutex
	asked map[string]int
	fail  error
}

func (d *countingDirectory) Availability(_ context.Context, addr string) (bool, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.asked == nil {
		d.asked = map[string]int{}
	}
	d.asked[addr]++
	return false, false, d.fail
}

func (d *countingDirectory) SMIMECertificate(context.Context, string) (*x509.Certificate, *certs.PartnerCert, error) {
	return nil, nil, certs.ErrNotFound
}

func (d *countingDirectory) PGPKey(context.Context, string) (*openpgp.Entity, *certs.PartnerPGPKey, error) {
	return nil, nil, certs.ErrNotFound
}

// What RCPT found is not asked again at end of data; a directory failure
// tempfails, never decides as if there were no key.
func TestKeyLookupsOncePerRecipient(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	dir := &countingDirectory{}
	p := newProcessor(t, testSettings(t, policy.DefaultSpec()), ids, &fakeReinjector{})
	p.SetKeys(dir, nil)
	tx := newTx(baseHeaders(), plainBody, "bob@partner.example", "carol@partner.example")
	rcptTx := &Transaction{From: tx.From, Client: tx.Client}
	if r := p.Recipient(context.Background(), rcptTx, "bob@partner.example"); !r.Accepted() {
		t.Fatalf("RCPT: %v", r)
	}
	tx.Keys = rcptTx.Keys
	if res := p.Handle(context.Background(), tx); !res.Reply.Accepted() {
		t.Fatalf("end of data: %v (%s)", res.Reply, res.Detail)
	}
	if dir.asked["bob@partner.example"] != 1 || dir.asked["carol@partner.example"] != 1 {
		t.Fatalf("directory asked %v, want each recipient once", dir.asked)
	}

	dir.fail = errors.New("store unreadable")
	if r := p.Recipient(context.Background(), &Transaction{From: tx.From, Client: tx.Client}, "dave@partner.example"); r.Code != 451 {
		t.Fatalf("RCPT with a failing directory: %v, want 451", r)
	}
	res := p.Handle(context.Background(), newTx(baseHeaders(), plainBody, "erin@partner.example"))
	if res.Reply.Code != 451 || res.Body != nil {
		t.Fatalf("end of data with a failing directory: %v, want 451 and no edits", res.Reply)
	}
}
