package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
	"github.com/mailseal/mailseal/pgsql/pgtest"
)

// pgPair is two mailseal processes on one PostgreSQL database, each behind
// its own private Postfix: two gateway hosts of one company.
type pgPair struct {
	d  [2]*daemon
	pf [2]*postfixtest.Instance
}

// startPGPair starts instance A (which creates the CA and the master key),
// copies A's master key to B as an admin would, then starts B, and a
// Postfix in front of each when withPostfix. The DSN
// reaches A through store.dsn_file and B through MAILSEAL_STORE_DSN.
func startPGPair(t *testing.T, extraConfig string, withPostfix bool) *pgPair {
	t.Helper()
	dsn := pgtest.DSN(t)
	p := &pgPair{}
	for i := range p.d {
		d := newDaemon(t)
		storeCfg := "store:\n  driver: postgres\n"
		if i == 0 {
			dsnFile := filepath.Join(d.Dir, "dsn")
			if err := os.WriteFile(dsnFile, []byte(dsn+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			storeCfg += "  dsn_file: " + dsnFile + "\n"
		} else {
			storeCfg += "  dsn: \"" + dsn + "\"\n"
		}
		d.WriteConfig(d.BaseConfig() + storeCfg + extraConfig)
		p.d[i] = d
	}
	p.d[0].Start()
	key, err := os.ReadFile(filepath.Join(p.d[0].StateDir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(p.d[1].StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.d[1].StateDir, "master.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	p.d[1].Start()
	for i := range p.pf {
		if !withPostfix {
			break
		}
		p.pf[i] = postfixtest.Start(t, p.d[i].PostfixOptions())
	}
	return p
}

// The same new sender mails through both instances at the same moment:
// one certificate is issued, and every mail is signed with it.
func TestPostgresTwoInstancesIssueOnce(t *testing.T) {
	p := startPGPair(t, "", true)
	caA, caB := p.d[0].CAFile(), p.d[1].CAFile()
	if a, b := readFile(t, caA), readFile(t, caB); a != b {
		t.Fatal("the two instances serve different CAs")
	}
	const perInstance = 3
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range p.pf {
		for j := range perInstance {
			wg.Go(func() {
				<-start
				from := "newcomer@corp.example"
				msg := plainMail(from, "bob@partner.example", fmt.Sprintf("via instance %d, %d", i, j))
				if err := p.pf[i].Send(t, postfixtest.Mail{From: from, To: []string{"bob@partner.example"}, Data: msg, SourceIP: trustedIP}); err != nil {
					t.Error(err)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	serials := map[string]int{}
	for i := range p.pf {
		for _, raw := range p.pf[i].WaitDelivered(t, "bob@partner.example", perInstance, deliveryTimeout) {
			_, signer := opensslVerify(t, caA, raw)
			if len(signer.EmailAddresses) != 1 || signer.EmailAddresses[0] != "newcomer@corp.example" {
				t.Fatalf("signer %v", signer.EmailAddresses)
			}
			serials[serialOf(signer)]++
		}
	}
	if len(serials) != 1 {
		t.Fatalf("mail was signed with %d certificates %v, want one", len(serials), serials)
	}
	for i := range p.d {
		out, err := p.d[i].CLI("certs", "list")
		if err != nil {
			t.Fatalf("certs list on instance %d: %v\n%s", i, err, out)
		}
		if strings.Count(out, "newcomer@corp.example") != 1 {
			t.Fatalf("certs list on instance %d:\n%s", i, out)
		}
		for serial := range serials {
			mustContain(t, strings.ToLower(out), serial)
		}
	}
	issued := 0
	for i := range p.d {
		if strings.Contains(p.d[i].Metrics(), "mailseal_certificates_issued_total 1") {
			issued++
		}
	}
	if issued != 1 {
		t.Errorf("%d instances report issuing a certificate, want exactly one", issued)
	}
}

// A message is split (bob gets it signed in place, dan a plain copy through
// the reinject listener). Instance A handles it; the client's retry of the
// identical message reaches instance B, which must not send dan's copy
// again: the copy ledger is shared.
func TestPostgresCopyLedgerShared(t *testing.T) {
	p := startPGPair(t, `policy:
  rules:
    - name: no-sign
      recipients: ["*@plain.example"]
      sign: never
`, true)
	msg := []byte("From: <alice@corp.example>\r\nTo: <bob@other.example>\r\nSubject: retried\r\n" +
		"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <retry-1@corp.example>\r\n\r\nfigures\r\n")
	mail := postfixtest.Mail{From: "alice@corp.example", To: []string{"bob@other.example", "dan@plain.example"}, Data: msg, SourceIP: trustedIP}
	if err := p.pf[0].Send(t, mail); err != nil {
		t.Fatal(err)
	}
	p.pf[0].WaitDelivered(t, "bob@other.example", 1, deliveryTimeout)
	p.pf[0].WaitDelivered(t, "dan@plain.example", 1, deliveryTimeout)
	// The retry, through the other instance.
	if err := p.pf[1].Send(t, mail); err != nil {
		t.Fatal(err)
	}
	p.pf[1].WaitDelivered(t, "bob@other.example", 1, deliveryTimeout)
	p.d[1].WaitLog("copy already handed over", deliveryTimeout)
	time.Sleep(3 * time.Second) // a duplicate copy would arrive now
	dan := len(p.pf[0].DeliveredFiles("dan@plain.example")) + len(p.pf[1].DeliveredFiles("dan@plain.example"))
	if dan != 1 {
		t.Fatalf("dan got %d copies, want 1", dan)
	}
}

// Only one instance runs the renewer; when it dies (SIGKILL: no shutdown,
// its lock connection just drops), the other takes over within a minute.
func TestPostgresRenewerLeaderTakesOver(t *testing.T) {
	p := startPGPair(t, "", false)
	const leads = `leader election: this instance runs the job" job=renewer`
	deadline := time.Now().Add(time.Minute)
	leader := -1
	for leader < 0 {
		for i := range p.d {
			if strings.Contains(p.d[i].Log(), leads) {
				leader = i
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no instance became the renewer's leader")
		}
		time.Sleep(100 * time.Millisecond)
	}
	other := 1 - leader
	time.Sleep(2 * time.Second)
	if strings.Contains(p.d[other].Log(), leads) {
		t.Fatal("both instances run the renewer")
	}
	p.d[leader].Kill()
	p.d[other].WaitLog(leads, time.Minute)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
