package integration

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailseal/mailseal/certs/stepcatest"
	"github.com/mailseal/mailseal/integration/postfixtest"
	"github.com/mailseal/mailseal/pgsql/pgtest"
)

// Fault tests: each fault must end in a tempfail (the mail waits in the
// queue of the Postfix in front) and, once the fault is gone, in full
// recovery. Message-ID accounting proves it: every (Message-ID, recipient)
// pair arrives exactly once, and every copy the policy signs arrives signed.

// opensslSigner verifies raw with `openssl cms -verify` against caFile and
// returns the signer's address; it does not stop the test, so a caller can
// check many messages and report each.
func opensslSigner(caFile string, raw []byte) (string, error) {
	dir, err := os.MkdirTemp("", "verify-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	in, signer := filepath.Join(dir, "in.eml"), filepath.Join(dir, "signer.pem")
	if err := os.WriteFile(in, raw, 0o600); err != nil {
		return "", err
	}
	out, err := exec.Command("openssl", "cms", "-verify", "-purpose", "smimesign", "-CAfile", caFile,
		"-in", in, "-out", os.DevNull, "-signer", signer).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verification successful") {
		return "", fmt.Errorf("openssl cms -verify: %v: %s", err, strings.TrimSpace(string(out)))
	}
	pemOut, err := exec.Command("openssl", "x509", "-in", signer, "-noout", "-ext", "subjectAltName").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("openssl x509: %v: %s", err, pemOut)
	}
	s := string(pemOut)
	if i := strings.Index(s, "email:"); i >= 0 {
		s = s[i+len("email:"):]
		if j := strings.IndexAny(s, ", \n"); j >= 0 {
			s = s[:j]
		}
		return s, nil
	}
	return "", fmt.Errorf("signer certificate names no address: %s", pemOut)
}

// verifyAll checks, with a few openssl processes at once, that every file
// is signed by the sender named in want (by file); it reports each failure.
func verifyAll(t *testing.T, caFile string, want map[string]string) {
	t.Helper()
	files := make(chan string)
	var mu sync.Mutex
	var bad []string
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range files {
				raw, err := os.ReadFile(f)
				if err == nil {
					var signer string
					signer, err = opensslSigner(caFile, postfixtest.ToCRLF(raw))
					if err == nil && signer != want[f] {
						err = fmt.Errorf("signed by %s, want %s", signer, want[f])
					}
				}
				if err != nil {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("%s: %v", f, err))
					mu.Unlock()
				}
			}
		}()
	}
	for f := range want {
		files <- f
	}
	close(files)
	wg.Wait()
	for i, b := range bad {
		if i == 10 {
			t.Errorf("... and %d more", len(bad)-10)
			break
		}
		t.Errorf("not signed as policy says: %s", b)
	}
}

// relayFront starts a Postfix that relays everything to back from the
// trusted address (so mailseal sees internal mail as outbound) and retries
// deferred mail every second.
func relayFront(t *testing.T, back *postfixtest.Instance) *postfixtest.Instance {
	t.Helper()
	return postfixtest.Start(t, postfixtest.Options{ExtraMain: map[string]string{
		"default_transport":                     "smtp",
		"relay_transport":                       "smtp",
		"relayhost":                             "[" + strings.Replace(back.SMTPAddr, ":", "]:", 1),
		"smtp_bind_address":                     trustedIP.String(),
		"queue_run_delay":                       "1s",
		"minimal_backoff_time":                  "1s",
		"maximal_backoff_time":                  "2s",
		"initial_destination_concurrency":       "10",
		"default_destination_concurrency_limit": "10",
		"smtp_connection_cache_on_demand":       "no",
	}})
}

// accounting counts delivered copies per recipient and Message-ID.
type accounting map[string]map[string][]string // rcpt → Message-ID → files

func account(t *testing.T, pf *postfixtest.Instance, rcpts []string) accounting {
	a := accounting{}
	for _, r := range rcpts {
		a[r] = map[string][]string{}
		for _, f := range pf.DeliveredFiles(r) {
			id := messageID(t, f)
			a[r][id] = append(a[r][id], f)
		}
	}
	return a
}

// waitAccounted waits until every recipient has every id, then a little
// longer for late duplicates, and fails on any loss or duplicate.
func waitAccounted(t *testing.T, pf *postfixtest.Instance, ids []string, rcpts []string, timeout time.Duration) accounting {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		a := account(t, pf, rcpts)
		done := true
		for _, r := range rcpts {
			if len(a[r]) < len(ids) {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			var have []string
			for _, r := range rcpts {
				have = append(have, fmt.Sprintf("%s %d", r, len(a[r])))
			}
			t.Fatalf("not every message arrived within %v: %s of %d", timeout, strings.Join(have, ", "), len(ids))
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // a late duplicate would arrive now
	a := account(t, pf, rcpts)
	for _, r := range rcpts {
		for _, id := range ids {
			if n := len(a[r][id]); n != 1 {
				t.Errorf("%s got %s %d times, want exactly once", r, id, n)
			}
		}
		if len(a[r]) != len(ids) {
			t.Errorf("%s got %d distinct messages, want %d", r, len(a[r]), len(ids))
		}
	}
	return a
}

// faultMail is a small message with a unique Message-ID.
func faultMail(from, to, tag string, i int) (id string, msg []byte) {
	id = fmt.Sprintf("<%s-%03d-%d@corp.example>", tag, i, time.Now().UnixNano())
	return id, []byte(fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: %s %d\r\n"+
		"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: %s\r\n\r\nfigures %d\r\n", from, to, tag, i, id, i))
}

// tcpGate is a TCP listener that forwards to a target and can be closed
// and opened again on the same address: a listener that goes down.
type tcpGate struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]bool
}

func newTCPGate(t *testing.T, addr, target string) *tcpGate {
	g := &tcpGate{addr: addr, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(g.Close)
	return g
}

// Open starts listening (again).
func (g *tcpGate) Open(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger for a moment after Close
		if ln, err = net.Listen("tcp", g.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("gate %s: %v", g.addr, err)
	}
	g.mu.Lock()
	g.ln = ln
	g.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go g.forward(c)
		}
	}()
}

func (g *tcpGate) forward(c net.Conn) {
	up, err := net.Dial("tcp", g.target)
	if err != nil {
		c.Close()
		return
	}
	g.mu.Lock()
	g.conns[c], g.conns[up] = true, true
	g.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	g.mu.Lock()
	delete(g.conns, c)
	delete(g.conns, up)
	g.mu.Unlock()
}

// Close stops listening and cuts every forwarded connection.
func (g *tcpGate) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		g.ln.Close()
		g.ln = nil
	}
	for c := range g.conns {
		c.Close()
	}
}

// TestFaultReinjectListenerDown: a message whose recipients need different
// treatments (bob signed in place, dan's rule says sign: never, so his copy
// is re-injected) while the reinject listener is down. The split fails with
// a 4.x.x tempfail and nothing is half-delivered: neither bob nor dan gets
// anything. Once the listener is back, the relaying Postfix retries and each
// recipient gets exactly one copy, bob's signed.
func TestFaultReinjectListenerDown(t *testing.T) {
	const n = 20
	d := newDaemon(t)
	d.WriteConfig(d.BaseConfig() + `policy:
  rules:
    - name: no-sign
      recipients: ["*@plain.example"]
      sign: never
`)
	d.Start()
	// Postfix's own no-milter listener sits behind a gate on the port the
	// daemon hands its copies to.
	realReinject := postfixtest.FreePort(t)
	back := postfixtest.Start(t, postfixtest.Options{Milter: d.MilterSocket(), ReinjectPort: realReinject})
	gate := newTCPGate(t, fmt.Sprintf("127.0.0.1:%d", d.ReinjectPort), back.ReinjectAddr)
	rcpts := []string{"bob@other.example", "dan@plain.example"}

	// Straight to the filtering Postfix: the client sees the tempfail.
	id0, msg0 := faultMail("alice@corp.example", "bob@other.example", "reinject-down", 0)
	r := back.Submit(postfixtest.Mail{From: "alice@corp.example", To: rcpts, Data: msg0, SourceIP: trustedIP})
	if len(r.Errors) == 0 || r.Errors[0].Code != 451 || !strings.HasPrefix(r.Errors[0].Msg, "4.") {
		t.Fatalf("split with the reinject listener down: %v; want 451 4.x.x", r.Error())
	}
	t.Logf("tempfail: %v", r.Error())

	front := relayFront(t, back)
	ids := []string{}
	for i := 1; i <= n; i++ {
		id, msg := faultMail("alice@corp.example", "bob@other.example", "reinject-down", i)
		ids = append(ids, id)
		if err := front.Send(t, postfixtest.Mail{From: "alice@corp.example", To: rcpts, Data: msg}); err != nil {
			t.Fatal(err)
		}
	}
	front.WaitLog(t, "status=deferred", 60*time.Second)
	time.Sleep(3 * time.Second) // a few retries against the closed listener
	for _, rc := range rcpts {
		if got := back.DeliveredFiles(rc); len(got) != 0 {
			t.Fatalf("%s got %d message(s) while the reinject listener was down: half-delivered splits", rc, len(got))
		}
	}

	gate.Open(t)
	if err := front.Send(t, postfixtest.Mail{From: "alice@corp.example", To: rcpts, Data: msg0}); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, id0)
	front.Flush(t)
	a := waitAccounted(t, back, ids, rcpts, deliveryTimeout)
	want := map[string]string{}
	for _, files := range a["bob@other.example"] {
		for _, f := range files {
			want[f] = "alice@corp.example"
		}
	}
	verifyAll(t, d.CAFile(), want)
	for id, files := range a["dan@plain.example"] {
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if !strings.Contains(string(b), "treatment=plain") {
				t.Errorf("dan's copy of %s is not the re-injected plain copy", id)
			}
		}
	}
	front.WaitQueueEmpty(t, 30*time.Second)
}

// mountTmpfs mounts a tmpfs of the given size on dir (made if missing) for
// the test; it skips when mounting is impossible here (not root, no
// CAP_SYS_ADMIN in a container).
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs for a full state disk here (needs root with CAP_SYS_ADMIN): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// fill writes a file in dir until the file system is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !strings.Contains(err.Error(), "no space left") {
				t.Fatalf("filling %s: %v", dir, err)
			}
			break
		}
	}
	// Fill the last partial block too.
	for {
		if _, err := f.Write(buf[:512]); err != nil {
			break
		}
	}
	return p
}

// TestFaultFullStateDisk: the state directory is a small tmpfs, filled to
// the last byte while mail flows. New internal senders need a certificate
// (a write to the store) and cannot get one: their mail is tempfailed and
// waits in the relaying Postfix; /healthz answers 503. Nothing leaves
// unsigned. Once space is freed, /healthz is 200 again and every message
// arrives exactly once, signed by its own sender.
func TestFaultFullStateDisk(t *testing.T) {
	const senders, perSender = 8, 3
	d := newDaemon(t)
	mountTmpfs(t, d.StateDir, "40m")
	d.WriteConfig(d.BaseConfig() + `policy:
  rules:
    - name: no-sign
      recipients: ["*@plain.example"]
      sign: never
`)
	d.Start()
	back := postfixtest.Start(t, d.PostfixOptions())
	front := relayFront(t, back)
	rcpts := []string{"bob@partner.example"}

	// Warm up: one sender with a certificate from before the disk filled.
	id, msg := faultMail("alice@corp.example", "bob@partner.example", "full-disk", 0)
	if err := front.Send(t, postfixtest.Mail{From: "alice@corp.example", To: rcpts, Data: msg}); err != nil {
		t.Fatal(err)
	}
	back.WaitDelivered(t, rcpts[0], 1, deliveryTimeout)
	ids := []string{id}
	signer := map[string]string{id: "alice@corp.example"}

	filler := fill(t, d.StateDir)
	if code, body := healthz(t, d); code != 503 || !strings.Contains(body, "full") {
		t.Errorf("healthz with a full state disk: %d %s; want 503 naming the full disk", code, body)
	}
	// alice has her certificate: her mail needs no write and may still
	// leave, signed. The new senders need one and must wait.
	for i := range 2 {
		id, msg := faultMail("alice@corp.example", "bob@partner.example", "full-disk-alice", i)
		ids = append(ids, id)
		signer[id] = "alice@corp.example"
		if err := front.Send(t, postfixtest.Mail{From: "alice@corp.example", To: rcpts, Data: msg}); err != nil {
			t.Fatal(err)
		}
	}
	// A split: dan's copy is re-injected and the copy ledger (copies.db,
	// on the full disk too) cannot record it. The copy is with Postfix
	// already, so mailseal accepts rather than make the retry send it
	// twice: each recipient once.
	var splitIDs []string
	for i := range 2 {
		id, msg := faultMail("alice@corp.example", "bob@partner.example", "full-disk-split", i)
		ids = append(ids, id)
		splitIDs = append(splitIDs, id)
		signer[id] = "alice@corp.example"
		if err := front.Send(t, postfixtest.Mail{From: "alice@corp.example", To: []string{"bob@partner.example", "dan@plain.example"}, Data: msg}); err != nil {
			t.Fatal(err)
		}
	}
	for s := range senders {
		from := fmt.Sprintf("user%02d@corp.example", s)
		for i := range perSender {
			id, msg := faultMail(from, "bob@partner.example", "full-disk", s*perSender+i+1)
			ids = append(ids, id)
			signer[id] = from
			if err := front.Send(t, postfixtest.Mail{From: from, To: rcpts, Data: msg}); err != nil {
				t.Fatal(err)
			}
		}
	}
	front.WaitLog(t, "status=deferred", 60*time.Second)
	time.Sleep(5 * time.Second) // several retries against the full disk
	deferred := len(front.QueueIDs(t))
	t.Logf("while full: %d of %d messages deferred in front, %d delivered", deferred, len(ids)-1, len(back.DeliveredFiles(rcpts[0]))-1)
	if deferred < senders*perSender {
		t.Errorf("%d messages deferred while the state disk was full; every new sender's (%d) must wait", deferred, senders*perSender)
	}
	mustContain(t, back.Log(), "milter-reject: END-OF-MESSAGE from unknown[127.0.0.2]: 4.7.1")

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitHealthz(t, d, 200, 30*time.Second)
	front.Flush(t)
	a := waitAccounted(t, back, ids, rcpts, deliveryTimeout)
	verifySignedBy(t, d.CAFile(), a[rcpts[0]], signer)
	waitAccounted(t, back, splitIDs, []string{"dan@plain.example"}, deliveryTimeout)
	t.Logf("copy ledger write failed on the full disk: %v", strings.Contains(d.Log(), "copy handed over but not recorded"))
	front.WaitQueueEmpty(t, 30*time.Second)
}

// runAsNobody makes the daemon run as the unprivileged user nobody (root
// ignores file modes): its binary, config and log reachable, its state
// directory its own.
func runAsNobody(t *testing.T, d *daemon) {
	t.Helper()
	const uid, gid = 65534, 65534
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatalf("setpriv (util-linux) not found: %v", err)
	}
	tmp := filepath.Clean(os.TempDir())
	for _, p := range []string{filepath.Dir(binary), d.Dir} {
		for dir := p; strings.HasPrefix(dir, tmp+"/"); dir = filepath.Dir(dir) {
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.MkdirAll(d.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{d.StateDir, d.ConfigFile} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	d.Prefix = []string{"setpriv", "--reuid=" + fmt.Sprint(uid), "--regid=" + fmt.Sprint(gid), "--clear-groups"}
}

// TestFaultStoreUnreadable: the daemon runs as an unprivileged user and its
// store file loses its read permission under it. /healthz answers 503 and
// names the store at once. The running daemon's open connections still
// read and write the file (Unix checks modes at open), so mail keeps
// leaving, signed. A restart cannot open the store: serve exits naming it,
// Postfix tempfails and the mail waits in the relaying Postfix. With the
// mode restored and mailseal started, /healthz is 200 and every message
// arrives exactly once, signed by its sender: none unprotected.
func TestFaultStoreUnreadable(t *testing.T) {
	const senders, perSender = 5, 3
	d := newDaemon(t)
	runAsNobody(t, d)
	d.Start()
	back := postfixtest.Start(t, d.PostfixOptions())
	front := relayFront(t, back)
	rcpts := []string{"bob@partner.example"}

	id, msg := faultMail("alice@corp.example", "bob@partner.example", "unreadable", 0)
	if err := front.Send(t, postfixtest.Mail{From: "alice@corp.example", To: rcpts, Data: msg}); err != nil {
		t.Fatal(err)
	}
	back.WaitDelivered(t, rcpts[0], 1, deliveryTimeout)
	ids := []string{id}
	signer := map[string]string{id: "alice@corp.example"}

	db := filepath.Join(d.StateDir, "mailseal.db")
	if err := os.Chmod(db, 0); err != nil {
		t.Fatal(err)
	}
	if code, body := healthz(t, d); code != 503 || !strings.Contains(body, "mailseal.db") {
		t.Errorf("healthz with the store unreadable: %d %s; want 503 naming the store", code, body)
	}
	// alice's certificate is cached by the running daemon: her mail needs
	// no store access. (A first issuance would: its writes fail on a new
	// connection and tempfail, but the failed release of its issuance
	// lease then holds that address for up to 2.5 minutes, too long here.)
	for i := range perSender {
		id, msg := faultMail("alice@corp.example", "bob@partner.example", "unreadable", i+1)
		ids = append(ids, id)
		signer[id] = "alice@corp.example"
		if err := front.Send(t, postfixtest.Mail{From: "alice@corp.example", To: rcpts, Data: msg}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Second) // deliveries and a few retries
	// The daemon's open connections to the store still read it (modes
	// are checked at open): mail that needs no new connection may leave,
	// signed. Whatever left is checked below.
	t.Logf("store unreadable, daemon running: %d of %d messages deferred in front, %d delivered",
		len(front.QueueIDs(t)), len(ids)-1, len(back.DeliveredFiles(rcpts[0]))-1)

	// A restart cannot open it: serve exits non-zero naming the store,
	// Postfix tempfails (milter_default_action = tempfail) and the mail
	// waits.
	d.Stop()
	cmd := exec.Command(d.Prefix[0], append(d.Prefix[1:], binary, "serve", "--config", d.ConfigFile)...)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "mailseal.db") {
		t.Fatalf("serve with an unreadable store: %v, want a non-zero exit naming mailseal.db\n%s", err, out)
	}
	t.Logf("serve with the store unreadable: %v: %s", err, lastLine(string(out)))
	for s := range senders {
		from := fmt.Sprintf("user%02d@corp.example", s)
		for i := range perSender {
			id, msg := faultMail(from, "bob@partner.example", "unreadable-down", s*perSender+i)
			ids = append(ids, id)
			signer[id] = from
			if err := front.Send(t, postfixtest.Mail{From: from, To: rcpts, Data: msg}); err != nil {
				t.Fatal(err)
			}
		}
	}
	front.WaitLog(t, "status=deferred", 60*time.Second)
	time.Sleep(3 * time.Second)
	if n := len(front.QueueIDs(t)); n != senders*perSender {
		t.Errorf("%d messages wait in front while mailseal cannot start, want %d", n, senders*perSender)
	}
	if got := len(back.DeliveredFiles(rcpts[0])); got != 1+perSender {
		t.Errorf("%d messages delivered while mailseal was down, want %d from before", got, 1+perSender)
	}

	if err := os.Chmod(db, 0o600); err != nil {
		t.Fatal(err)
	}
	d.Start()
	waitHealthz(t, d, 200, 30*time.Second)
	front.Flush(t)
	a := waitAccounted(t, back, ids, rcpts, deliveryTimeout)
	verifySignedBy(t, d.CAFile(), a[rcpts[0]], signer)
	front.WaitQueueEmpty(t, 30*time.Second)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestFaultCAOrPostgresDown takes down the two outside services mailseal
// may depend on: the external CA (ca.backend step) and the PostgreSQL store
// (store.driver postgres).
func TestFaultCAOrPostgresDown(t *testing.T) {
	t.Run("step-ca", testFaultStepCADown)
	t.Run("postgres", testFaultPostgresDown)
}

// verifySignedBy checks that every delivered file of each Message-ID is
// signed by that message's sender and verifies against caFile.
func verifySignedBy(t *testing.T, caFile string, delivered map[string][]string, signer map[string]string) {
	t.Helper()
	want := map[string]string{}
	for id, files := range delivered {
		for _, f := range files {
			want[f] = signer[id]
		}
	}
	verifyAll(t, caFile, want)
}

// waitHealthz waits until /healthz answers want and returns its body.
func waitHealthz(t *testing.T, d *daemon, want int, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, body := healthz(t, d)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz: %d %s; want %d within %v", code, body, want, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sendFault sends perSender mails from each sender through front and
// records their Message-IDs and signers.
func sendFault(t *testing.T, front *postfixtest.Instance, tag string, senders []string, perSender int, to []string, ids *[]string, signer map[string]string) []string {
	t.Helper()
	var mine []string
	for s, from := range senders {
		for i := range perSender {
			id, msg := faultMail(from, to[0], tag, s*perSender+i)
			*ids = append(*ids, id)
			mine = append(mine, id)
			signer[id] = from
			if err := front.Send(t, postfixtest.Mail{From: from, To: to, Data: msg}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return mine
}

// waitIDs waits until rcpt has received every one of ids.
func waitIDs(t *testing.T, pf *postfixtest.Instance, rcpt string, ids []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, missing := deliveredIDs(t, pf, rcpt), 0
		for _, id := range ids {
			if !got[id] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages did not reach %s within %v", missing, len(ids), rcpt, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// deliveredIDs is the set of Message-IDs rcpt has received so far.
func deliveredIDs(t *testing.T, pf *postfixtest.Instance, rcpt string) map[string]bool {
	got := map[string]bool{}
	for id := range account(t, pf, []string{rcpt})[rcpt] {
		got[id] = true
	}
	return got
}

// testFaultStepCADown: mailseal issues through step-ca, which goes down
// while the relaying Postfix hands mail over. Senders that have a certificate keep mailing, signed
// (signing needs no CA); a new sender's mail is tempfailed (451 4.7.x) and
// waits in the relaying Postfix, never sent unsigned. With step-ca back,
// a queue flush delivers every message exactly once, each signed by its
// sender with a certificate under step's root.
func testFaultStepCADown(t *testing.T) {
	const perSender = 3
	ca := startStepCA(t, stepcatest.Options{})
	d := newDaemon(t)
	d.WriteConfig(stepConfig(d, ca, ""))
	d.Start()
	back := postfixtest.Start(t, d.PostfixOptions())
	front := relayFront(t, back)
	rcpts := []string{"bob@partner.example"}
	var ids []string
	signer := map[string]string{}

	// alice and carol get their certificates while step-ca is up.
	old := []string{"alice@corp.example", "carol@corp.example"}
	sendFault(t, front, "stepca-up", old, 1, rcpts, &ids, signer)
	back.WaitDelivered(t, rcpts[0], len(ids), deliveryTimeout)

	// Mail in flight: step-ca goes down while the front hands these over;
	// each sender gets a certificate before or after the outage.
	inflight := []string{"user10@corp.example", "user11@corp.example", "user12@corp.example", "user13@corp.example"}
	sendFault(t, front, "stepca-inflight", inflight, 2, rcpts, &ids, signer)
	ca.Stop()
	// The milter still signs for every sender that has a certificate.
	if code, body := healthz(t, d); code != 200 {
		t.Errorf("healthz with step-ca down: %d %s; want 200", code, body)
	}
	newSenders := []string{"user00@corp.example", "user01@corp.example", "user02@corp.example", "user03@corp.example"}
	oldIDs := sendFault(t, front, "stepca-down-old", old, perSender, rcpts, &ids, signer)
	newIDs := sendFault(t, front, "stepca-down-new", newSenders, perSender, rcpts, &ids, signer)
	// The senders with certificates keep being signed while step-ca is down.
	waitIDs(t, back, rcpts[0], oldIDs, deliveryTimeout)
	front.WaitLog(t, "status=deferred", 60*time.Second)
	time.Sleep(3 * time.Second) // a few retries against the missing CA
	mustContain(t, back.Log(), "milter-reject: END-OF-MESSAGE from unknown[127.0.0.2]: 4.7.")
	d.WaitLog("unreachable", 10*time.Second)
	got := deliveredIDs(t, back, rcpts[0])
	for _, id := range newIDs {
		if got[id] {
			t.Errorf("%s from a new sender was delivered while step-ca was down", id)
		}
	}
	if n := len(front.QueueIDs(t)); n < len(newIDs) {
		t.Errorf("%d messages wait in front while step-ca is down, want at least the new senders' %d", n, len(newIDs))
	}

	if err := ca.Start(time.Minute); err != nil {
		t.Fatal(err)
	}
	front.Flush(t)
	a := waitAccounted(t, back, ids, rcpts, deliveryTimeout)
	verifySignedBy(t, ca.RootFile, a[rcpts[0]], signer)
	front.WaitQueueEmpty(t, 30*time.Second)
}

// testFaultPostgresDown: mailseal keeps its store on a private PostgreSQL
// cluster, which is shut down (fast: sessions cut) while the relaying
// Postfix hands mail over, maybe in the middle of a first issuance (whose
// lease this process then releases at the next attempt).
// /healthz answers 503; mail that needs the store is tempfailed (4.x.x) and
// waits in the relaying Postfix, none leaves unsigned. When PostgreSQL is
// back the running daemon reconnects by itself (no restart): /healthz is
// 200 again, a queue flush delivers every message exactly once, signed by
// its sender, the split copies once each, and the copy ledger on
// PostgreSQL still knows a copy it handed over.
func testFaultPostgresDown(t *testing.T) {
	const perSender = 3
	cl := pgtest.New(t)
	dsn := cl.DSN(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- postgres log ---\n%s", cl.Log())
		}
	})
	d := newDaemon(t)
	d.WriteConfig(d.BaseConfig() + "store:\n  driver: postgres\n  dsn: \"" + dsn + `"
policy:
  rules:
    - name: no-sign
      recipients: ["*@plain.example"]
      sign: never
`)
	d.Start()
	back := postfixtest.Start(t, d.PostfixOptions())
	front := relayFront(t, back)
	rcpts := []string{"bob@partner.example"}
	split := []string{"bob@partner.example", "dan@plain.example"}
	var ids []string
	signer := map[string]string{}

	old := []string{"alice@corp.example"}
	sendFault(t, front, "pg-up", old, 1, rcpts, &ids, signer)
	back.WaitDelivered(t, rcpts[0], 1, deliveryTimeout)

	// Mail in flight: PostgreSQL goes down while the front hands these
	// over, maybe in the middle of a first issuance.
	inflight := []string{"user10@corp.example", "user11@corp.example", "user12@corp.example", "user13@corp.example"}
	sendFault(t, front, "pg-inflight", inflight, 2, rcpts, &ids, signer)
	cl.Stop()
	body := waitHealthz(t, d, 503, 30*time.Second)
	t.Logf("healthz with PostgreSQL down: %s", strings.TrimSpace(body))
	newSenders := []string{"user00@corp.example", "user01@corp.example", "user02@corp.example", "user03@corp.example"}
	sendFault(t, front, "pg-down-old", old, perSender, rcpts, &ids, signer)
	newIDs := sendFault(t, front, "pg-down-new", newSenders, perSender, rcpts, &ids, signer)
	splitIDs := sendFault(t, front, "pg-down-split", old, 2, split, &ids, signer)
	front.WaitLog(t, "status=deferred", 60*time.Second)
	time.Sleep(5 * time.Second) // several retries against the missing store
	// Already at RCPT: the recipient's partner-key lookup needs the store.
	mustContain(t, back.Log(), "milter-reject: RCPT from unknown[127.0.0.2]: 451 4.7.1")
	got := deliveredIDs(t, back, rcpts[0])
	for _, id := range newIDs {
		if got[id] {
			t.Errorf("%s from a new sender was delivered while PostgreSQL was down", id)
		}
	}
	t.Logf("PostgreSQL down: %d of %d messages deferred in front, %d delivered",
		len(front.QueueIDs(t)), len(ids)-1, len(got)-1)
	if n := len(front.QueueIDs(t)); n < len(newIDs) {
		t.Errorf("%d messages wait in front while PostgreSQL is down, want at least the new senders' %d", n, len(newIDs))
	}

	cl.Start(t)
	waitHealthz(t, d, 200, 60*time.Second)
	front.Flush(t)
	a := waitAccounted(t, back, ids, rcpts, deliveryTimeout)
	verifySignedBy(t, d.CAFile(), a[rcpts[0]], signer)
	waitAccounted(t, back, splitIDs, []string{"dan@plain.example"}, deliveryTimeout)
	front.WaitQueueEmpty(t, 30*time.Second)

	// The copy ledger on PostgreSQL works after the outage: a split
	// message sent twice (the sender's retry, same Message-ID) gets bob's
	// copy each time, but dan's copy, handed over once, is not sent twice.
	id, msg := faultMail("alice@corp.example", "bob@partner.example", "pg-after", 0)
	for range 2 {
		if err := back.Send(t, postfixtest.Mail{From: "alice@corp.example", To: split, Data: msg, SourceIP: trustedIP}); err != nil {
			t.Fatal(err)
		}
	}
	d.WaitLog("copy already handed over", deliveryTimeout)
	a = account(t, back, split)
	deadline := time.Now().Add(deliveryTimeout)
	for len(a["bob@partner.example"][id]) < 2 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		a = account(t, back, split)
	}
	time.Sleep(3 * time.Second) // a duplicate copy for dan would arrive now
	a = account(t, back, split)
	if b, dn := len(a["bob@partner.example"][id]), len(a["dan@plain.example"][id]); b != 2 || dn != 1 {
		t.Errorf("split sent twice after the outage: bob got %d copies (want 2), dan %d (want 1)", b, dn)
	}

	// The renewer's leader lock died with its session; the daemon takes
	// it again on its own.
	deadline = time.Now().Add(90 * time.Second)
	for leaderTerms(d.Log(), "renewer") < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the renewer's leader lock was not taken again after PostgreSQL came back")
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// leaderTerms counts how often the daemon took the leader lock for job.
func leaderTerms(log, job string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "leader election: this instance runs the job") && strings.Contains(l, "job="+job) {
			n++
		}
	}
	return n
}
