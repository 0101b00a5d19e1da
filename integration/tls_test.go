package integration

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// The outbound TLS tests route two domains through Postfix's smtp client to
// sinks on port 25 of their own loopback addresses. smtp_tls_policy_maps is
// keyed by the verbatim next hop, so the domains use transport "smtp:" (empty
// next hop = the recipient domain) and are resolved through /etc/hosts
// (smtp_dns_support_level = disabled, smtp_host_lookup = native; the
// harness's smtp service runs without chroot, so it reads the real file).
const tlsPolicyRules = `policy:
  rules:
    - name: tls-partner
      direction: outbound
      recipients: ["*@tls.example"]
      require_tls: true
    - name: plain-partner
      direction: outbound
      recipients: ["*@notls.example"]
      require_tls: true
`

var (
	notlsIP = net.ParseIP("127.0.0.6") // notls.example: sink without STARTTLS
	tlsIP   = net.ParseIP("127.0.0.7") // tls.example: sink with STARTTLS
)

const tlsTestTimeout = 30 * time.Second

// tlsEnv is mailseal with the require_tls rules, both sinks, the hosts
// entries and a Postfix whose smtp client asks mailseal's socketmap.
type tlsEnv struct {
	d            *daemon
	pf           *postfixtest.Instance
	notls, tlsOK *sinkServer
}

func setupTLSEnv(t *testing.T) *tlsEnv {
	t.Helper()
	d := newDaemon(t)
	d.WriteConfig(d.BaseConfig() + tlsPolicyRules)
	d.Start()

	e := &tlsEnv{d: d}
	e.notls = startSink(t, net.JoinHostPort(notlsIP.String(), "25"), "mx.notls.example", nil)
	e.tlsOK = startSink(t, net.JoinHostPort(tlsIP.String(), "25"), "mx.tls.example", selfSignedTLS(t, "mx.tls.example", tlsIP))
	addHostsEntries(t, map[string]net.IP{"notls.example": notlsIP, "tls.example": tlsIP})

	opts := d.PostfixOptions()
	opts.ExtraMain = map[string]string{
		"transport_maps":                     "inline:{ tls.example=smtp:, notls.example=smtp: }",
		"smtp_tls_policy_maps":               "socketmap:inet:" + d.Socketmap + ":tlspolicy",
		"smtp_tls_security_level":            "may", // the TLS sink gets TLS anyway; notls needs the policy to be refused
		"smtp_tls_loglevel":                  "1",
		"smtp_dns_support_level":             "disabled",
		"smtp_host_lookup":                   "native",
		"smtp_connect_timeout":               "10s",
		"smtp_helo_timeout":                  "15s",
		"smtp_starttls_timeout":              "15s",
		"smtp_destination_concurrency_limit": "2",
	}
	e.pf = postfixtest.Start(t, opts)
	t.Cleanup(func() {
		if t.Failed() {
			q, _ := exec.Command("postqueue", "-c", e.pf.ConfigDir, "-p").CombinedOutput()
			t.Logf("--- sink notls.example: sessions %d, commands %v; sink tls.example: sessions %d, commands %v",
				e.notls.Sessions(), e.notls.Commands(), e.tlsOK.Sessions(), e.tlsOK.Commands())
			t.Logf("--- Postfix queue ---\n%s\n--- Postfix log ---\n%s", q, e.pf.Log())
		}
	})
	return e
}

// diag is extra failure output for the waits.
func (e *tlsEnv) diag() string {
	return "--- Postfix log ---\n" + e.pf.Log() + "\n--- mailseal log ---\n" + e.d.Log()
}

func (e *tlsEnv) send(t *testing.T, addr, rcpt, subject string) {
	t.Helper()
	m := postfixtest.Mail{From: "alice@corp.example", To: []string{rcpt}, Data: plainMail("alice@corp.example", rcpt, subject), SourceIP: trustedIP, Addr: addr}
	if err := e.pf.Send(t, m); err != nil {
		t.Fatalf("submitting to %s: %v\n%s", rcpt, err, e.diag())
	}
}

// waitLogLine waits until one line of the Postfix log contains all of subs.
func (e *tlsEnv) waitLogLine(t *testing.T, timeout time.Duration, subs ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, l := range strings.Split(e.pf.Log(), "\n") {
			all := true
			for _, s := range subs {
				all = all && strings.Contains(l, s)
			}
			if all {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Postfix log line with all of %q within %v\n%s", subs, timeout, e.diag())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestOutboundRequireTLS(t *testing.T) {
	e := setupTLSEnv(t)

	// The socketmap answers what Postfix will ask: the verbatim next hop.
	for key, want := range map[string]string{
		"tls.example":      "OK encrypt",
		"notls.example":    "OK encrypt",
		"TLS.Example":      "OK encrypt",
		"[tls.example]:25": "OK encrypt",
		".tls.example":     "NOTFOUND ",
		"partner.example":  "NOTFOUND ",
	} {
		if got := socketmapQuery(t, e.d.Socketmap, "tlspolicy", key); got != want {
			t.Errorf("socketmap tlspolicy %q = %q, want %q", key, got, want)
		}
	}
	// And Postfix's own client reads it the same way.
	out, err := exec.Command("postmap", "-c", e.pf.ConfigDir, "-q", "tls.example", "socketmap:inet:"+e.d.Socketmap+":tlspolicy").CombinedOutput()
	if got := strings.TrimSpace(string(out)); err != nil || got != "encrypt" {
		t.Errorf("postmap -q tls.example: %q, %v; want encrypt", got, err)
	}

	e.send(t, "", "bob@notls.example", "must not go out in plaintext")
	e.send(t, "", "bob@tls.example", "goes out over TLS")

	// tls.example: delivered over TLS, signed by mailseal.
	msgs := e.tlsOK.WaitMessages(t, 1, tlsTestTimeout, e.diag)
	if len(msgs) != 1 {
		t.Fatalf("tls.example sink got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if !m.TLS || m.TLSVersion < tls.VersionTLS12 {
		t.Errorf("tls.example message arrived without TLS (TLS %v, version %#x)", m.TLS, m.TLSVersion)
	}
	if len(m.To) != 1 || m.To[0] != "bob@tls.example" || m.From != "alice@corp.example" {
		t.Errorf("tls.example envelope: from %q to %q", m.From, m.To)
	}
	pm := parseMail(t, m.Data)
	if ct := pm.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/signed") {
		t.Errorf("tls.example message Content-Type %q, want multipart/signed\n%s", ct, head(m.Data))
	}
	if pm.Header.Get("Subject") != "goes out over TLS" {
		t.Errorf("tls.example got subject %q", pm.Header.Get("Subject"))
	}
	opensslVerify(t, e.d.CAFile(), m.Data)
	e.waitLogLine(t, tlsTestTimeout, "TLS connection established to tls.example[127.0.0.7]:25")
	e.waitLogLine(t, tlsTestTimeout, "to=<bob@tls.example>", "relay=tls.example[127.0.0.7]:25", "status=sent")

	// notls.example: Postfix reached the sink, found no STARTTLS and deferred.
	line := e.waitLogLine(t, tlsTestTimeout, "to=<bob@notls.example>", "status=deferred", "TLS is required, but was not offered")
	t.Logf("deferred: %s", line)
	if e.notls.Sessions() == 0 {
		t.Error("Postfix never connected to the notls.example sink: the deferral is not the TLS policy's doing")
	}
	for _, c := range e.notls.Commands() {
		if c == "MAIL" || c == "DATA" {
			t.Errorf("Postfix started a transaction with the notls.example sink: commands %v", e.notls.Commands())
			break
		}
	}
	if got := e.notls.Messages(); len(got) != 0 {
		t.Fatalf("notls.example received %d message(s) in plaintext", len(got))
	}
	q := e.pf.Queue(t)
	if len(q) != 1 || len(q[0].Recipients) != 1 || q[0].Recipients[0].Address != "bob@notls.example" ||
		!strings.Contains(q[0].Recipients[0].DelayReason, "TLS is required") {
		t.Fatalf("queue %+v; want only bob@notls.example, deferred for TLS", q)
	}
	if len(e.pf.QueueIDs(t)) == 0 {
		t.Fatal("queue empty")
	}

	// A retry changes nothing: still deferred, still never delivered.
	before := e.notls.Sessions()
	e.pf.Flush(t)
	deadline := time.Now().Add(tlsTestTimeout)
	for e.notls.Sessions() == before && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if e.notls.Sessions() == before {
		t.Errorf("Postfix did not retry notls.example after a flush\n%s", e.diag())
	}
	if got := e.notls.Messages(); len(got) != 0 {
		t.Fatalf("notls.example received %d message(s) in plaintext after a retry", len(got))
	}
	if ids := e.pf.QueueIDs(t); len(ids) != 1 {
		t.Fatalf("queue after retry: %v, want the notls.example message", ids)
	}
	if n := len(e.tlsOK.Messages()); n != 1 {
		t.Errorf("tls.example sink has %d messages, want exactly 1", n)
	}
}

// With mailseal down its socketmap is gone: Postfix must defer mail to a
// require_tls domain rather than fall back to plaintext or "may".
func TestSocketmapDownDefersTLSMail(t *testing.T) {
	e := setupTLSEnv(t)
	e.d.Stop()
	// The smtpd with milters now tempfails (milter_default_action); submit
	// through the milter-less re-injection listener, like a queued copy.
	if e.pf.ReinjectAddr == "" {
		t.Fatal("harness started Postfix without a re-injection listener")
	}
	e.send(t, e.pf.ReinjectAddr, "bob@tls.example", "while the socketmap is down")
	// Postfix 3.7: "dsn=4.7.5, status=deferred (client TLS configuration problem)".
	line := e.waitLogLine(t, tlsTestTimeout, "to=<bob@tls.example>", "dsn=4.7.5", "status=deferred")
	t.Logf("deferred: %s", line)
	if got := e.tlsOK.Messages(); len(got) != 0 {
		t.Fatalf("tls.example got %d message(s) while the TLS policy was unknown", len(got))
	}
	if ids := e.pf.QueueIDs(t); len(ids) != 1 {
		t.Fatalf("queue %v, want the tls.example message", ids)
	}

	// Back up: the retry goes out, over TLS.
	e.d.Start()
	e.pf.Flush(t)
	msgs := e.tlsOK.WaitMessages(t, 1, tlsTestTimeout, e.diag)
	if !msgs[0].TLS {
		t.Error("message delivered without TLS after mailseal came back")
	}
	e.pf.WaitQueueEmpty(t, tlsTestTimeout)
}

// socketmapQuery sends one "NAME KEY" netstring and returns the reply payload.
func socketmapQuery(t *testing.T, addr, name, key string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("socketmap %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := name + " " + key
	if _, err := fmt.Fprintf(c, "%d:%s,", len(req), req); err != nil {
		t.Fatalf("socketmap write: %v", err)
	}
	r := bufio.NewReader(c)
	lenStr, err := r.ReadString(':')
	if err != nil {
		t.Fatalf("socketmap reply to %q: %v", req, err)
	}
	n, err := strconv.Atoi(strings.TrimSuffix(lenStr, ":"))
	if err != nil || n < 0 || n > 100000 {
		t.Fatalf("socketmap reply to %q: bad length %q", req, lenStr)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil || buf[n] != ',' {
		t.Fatalf("socketmap reply to %q: %q, %v", req, buf, err)
	}
	return string(buf[:n])
}

// hostsMarker tags the lines this test adds to /etc/hosts.
const hostsMarker = "# mailseal-test"

const hostsFile = "/etc/hosts"

var hostsMu sync.Mutex

// addHostsEntries appends "IP NAME # mailseal-test" lines to /etc/hosts and
// restores the file in t.Cleanup. Marked lines left by a crashed run are
// removed first (they are not part of the original).
func addHostsEntries(t *testing.T, entries map[string]net.IP) {
	t.Helper()
	hostsMu.Lock()
	defer hostsMu.Unlock()
	raw, err := os.ReadFile(hostsFile)
	if err != nil {
		t.Fatal(err)
	}
	orig := stripHostsMarked(raw)
	var b bytes.Buffer
	b.Write(orig)
	if len(orig) > 0 && orig[len(orig)-1] != '\n' {
		b.WriteByte('\n')
	}
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(&b, "%s %s %s\n", entries[name], name, hostsMarker)
	}
	written := b.Bytes()
	// Rewrite in place (not rename): /etc/hosts may be a bind mount.
	if err := os.WriteFile(hostsFile, written, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		hostsMu.Lock()
		defer hostsMu.Unlock()
		cur, err := os.ReadFile(hostsFile)
		if err != nil {
			t.Errorf("restoring %s: %v", hostsFile, err)
			return
		}
		restore := orig
		if !bytes.Equal(cur, written) {
			// Someone else changed the file meanwhile: keep their change,
			// drop only our lines.
			restore = stripHostsMarked(cur)
		}
		if err := os.WriteFile(hostsFile, restore, 0o644); err != nil {
			t.Errorf("restoring %s: %v", hostsFile, err)
		}
	})
	// Postfix's smtp client resolves through glibc (smtp_host_lookup = native).
	for _, name := range names {
		out, err := exec.Command("getent", "hosts", name).Output()
		if f := strings.Fields(string(out)); err != nil || len(f) == 0 || f[0] != entries[name].String() {
			t.Fatalf("getent hosts %s: %q, %v; want %s", name, out, err, entries[name])
		}
	}
}

// stripHostsMarked removes the lines carrying hostsMarker.
func stripHostsMarked(b []byte) []byte {
	if !bytes.Contains(b, []byte(hostsMarker)) {
		return b
	}
	var out []byte
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if !bytes.Contains(l, []byte(hostsMarker)) {
			out = append(out, l...)
		}
	}
	return out
}
