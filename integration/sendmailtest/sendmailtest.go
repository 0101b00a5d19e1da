// Package sendmailtest runs a private, throw-away Sendmail instance for tests.
//
// The Sendmail is Debian's sendmail-bin unpacked (not installed: it conflicts
// with the postfix package) by scripts/deps.d/40-sendmail.sh into Root
// (default /var/cache/mailseal-test/sendmail, or $MAILSEAL_SENDMAIL_ROOT).
// Each instance lives in its own t.TempDir(): DIR/sendmail.mc, the .cf built
// from it with m4, a 0700 queue (DIR/queue), a private hosts and service
// switch file and the daemon's output (DIR/sendmail.log). It listens on
// loopback ports only and never reads /etc/mail.
//
// Mail flow:
//
//	client ─▶ Sendmail 127.0.0.1:SMTPAddr (InputMailFilters = Options.Milter)
//	          Sendmail 127.0.0.1:ReinjectAddr (InputMailFilters= empty; only
//	          if Options.ReinjectPort > 0)
//	       ─▶ queue ─▶ esmtp mailer ─▶ Options.Relay (e.g. a Sink)
//
// Every recipient, whatever its domain, goes to Options.Relay (SMART_HOST
// and mailer arguments "TCP $h PORT"). Relaying is open to loopback
// clients (FEATURE(promiscuous_relay): a test instance only).
//
// Sendmail stops listening while the load average is above RefuseLA
// (default 12 × CPUs) and only queues above QueueLA (8 × CPUs): a busy CI
// machine passes that, so the instance sets both to 1000.
//
// Sendmail sleeps 60 s at every start when the host name has no dot. Each
// command therefore runs in its own UTS namespace with the host name
// Options.Hostname; that needs root (CAP_SYS_ADMIN), which CI has. Without
// it sendmail runs in the machine's namespace, slowly if its name has no dot.
package sendmailtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// Root is where scripts/deps.d/40-sendmail.sh unpacks sendmail.
func Root() string {
	if r := os.Getenv("MAILSEAL_SENDMAIL_ROOT"); r != "" {
		return r
	}
	return "/var/cache/mailseal-test/sendmail"
}

// Binary is the sendmail binary inside Root.
func Binary() string { return filepath.Join(Root(), "usr/libexec/sendmail/sendmail") }

// Available reports whether a private Sendmail can run here.
func Available() error {
	if _, err := os.Stat(Binary()); err != nil {
		return fmt.Errorf("sendmail not unpacked (run scripts/deps.d/40-sendmail.sh): %v", err)
	}
	if _, err := os.Stat(filepath.Join(Root(), "usr/share/sendmail/cf/m4/cf.m4")); err != nil {
		return fmt.Errorf("sendmail-cf not unpacked (run scripts/deps.d/40-sendmail.sh): %v", err)
	}
	if _, err := exec.LookPath("m4"); err != nil {
		return fmt.Errorf("m4 not installed (run scripts/deps.d/40-sendmail.sh): %v", err)
	}
	if os.Geteuid() != 0 {
		return errors.New("a private Sendmail needs root (its own UTS namespace, a root-owned queue)")
	}
	return nil
}

// Options configure an instance.
type Options struct {
	// Milter is the S= value of INPUT_MAIL_FILTER, e.g.
	// "inet:8891@127.0.0.1" (Sendmail writes port@host). Empty: no milter.
	Milter string
	// MilterFlags is the F= value; default "T" (tempfail when the milter is
	// unreachable). "R" rejects instead; "-" leaves F= out (Sendmail then
	// passes mail unfiltered when the milter is down).
	MilterFlags string
	// Relay is host:port where all mail goes (the smart host).
	Relay string
	// ClientAddr is the local address of outgoing SMTP connections
	// (CLIENT_OPTIONS Addr=); empty: the kernel's choice (127.0.0.1).
	ClientAddr string
	// ReinjectPort, if > 0, adds a second listener on 127.0.0.1:ReinjectPort
	// with no milters (DaemonPortOptions InputMailFilters= empty), for
	// mailseal's re-injected copies.
	ReinjectPort int
	// Hostname is the instance's host name ($j); default "mta.test". Two
	// instances that talk to each other need different names, or Sendmail
	// refuses the connection as a loop.
	Hostname string
	// ExtraMC is appended to the .mc before the MAILER lines.
	ExtraMC string
}

// Instance is a running private Sendmail.
type Instance struct {
	Dir          string
	ConfigFile   string // the .cf
	QueueDir     string
	SMTPAddr     string
	ReinjectAddr string // "" without Options.ReinjectPort
	opts         Options

	mu  sync.Mutex
	cmd *exec.Cmd
	out *os.File
}

const mcTemplate = `divert(-1)
divert(0)dnl
include({{ROOT}}/usr/share/sendmail/cf/m4/cf.m4)dnl
VERSIONID({{mailseal test}})dnl
OSTYPE({{linux}})dnl
define({{confDOMAIN_NAME}}, {{%[1]s}})dnl
define({{QUEUE_DIR}}, {{%[2]s/queue}})dnl
define({{confPID_FILE}}, {{%[2]s/sendmail.pid}})dnl
define({{STATUS_FILE}}, {{%[2]s/statistics}})dnl
define({{confHELP_FILE}}, {{%[2]s/helpfile}})dnl
define({{ALIAS_FILE}}, {{}})dnl
define({{confHOSTS_FILE}}, {{%[2]s/hosts}})dnl
define({{confSERVICE_SWITCH_FILE}}, {{%[2]s/service.switch}})dnl
define({{confDONT_PROBE_INTERFACES}}, {{True}})dnl
define({{confREFUSE_LA}}, {{1000}})dnl
define({{confQUEUE_LA}}, {{1000}})dnl
define({{confDELAY_LA}}, {{0}})dnl
define({{confMAX_DAEMON_CHILDREN}}, {{0}})dnl
define({{confTO_CONNECT}}, {{10s}})dnl
define({{confTO_ICONNECT}}, {{10s}})dnl
define({{confMIN_QUEUE_AGE}}, {{0}})dnl
define({{confDELIVERY_MODE}}, {{background}})dnl
define({{SMART_HOST}}, {{esmtp:[%[3]s]}})dnl
define({{ESMTP_MAILER_ARGS}}, {{TCP $h %[4]s}})dnl
define({{RELAY_MAILER_ARGS}}, {{TCP $h %[4]s}})dnl
define({{SMTP_MAILER_ARGS}}, {{TCP $h %[4]s}})dnl
define({{confMILTER_MACROS_CONNECT}}, {{j, _, {daemon_name}, {if_name}, {if_addr}, {client_addr}}})dnl
define({{confMILTER_MACROS_HELO}}, {{{tls_version}, {cipher}, {cipher_bits}, {cert_subject}, {cert_issuer}}})dnl
define({{confMILTER_MACROS_ENVFROM}}, {{i, {auth_type}, {auth_authen}, {auth_ssf}, {auth_author}, {mail_mailer}, {mail_host}, {mail_addr}}})dnl
FEATURE({{accept_unresolvable_domains}})dnl
FEATURE({{accept_unqualified_senders}})dnl
FEATURE({{promiscuous_relay}})dnl
FEATURE({{nocanonify}})dnl
FEATURE({{no_default_msa}})dnl
DAEMON_OPTIONS({{Port=%[5]d, Addr=127.0.0.1, Name=MTA}})dnl
`

// Start writes the .mc, builds the .cf and starts `sendmail -bD -q1m` (the
// daemon in the foreground, a queue run every minute); t.Cleanup stops it.
func Start(t testing.TB, opts Options) *Instance {
	t.Helper()
	if err := Available(); err != nil {
		t.Fatalf("sendmailtest: %v", err)
	}
	if opts.Relay == "" {
		t.Fatal("sendmailtest: Options.Relay is required")
	}
	if opts.Hostname == "" {
		opts.Hostname = "mta.test"
	}
	if opts.MilterFlags == "" {
		opts.MilterFlags = "T"
	}
	dir := t.TempDir()
	i := &Instance{Dir: dir, ConfigFile: filepath.Join(dir, "sendmail.cf"), QueueDir: filepath.Join(dir, "queue"), opts: opts}
	port := postfixtest.FreePort(t)
	i.SMTPAddr = fmt.Sprintf("127.0.0.1:%d", port)
	if opts.ReinjectPort > 0 {
		i.ReinjectAddr = fmt.Sprintf("127.0.0.1:%d", opts.ReinjectPort)
	}
	if err := i.setup(port); err != nil {
		t.Fatalf("sendmailtest: %v", err)
	}
	t.Cleanup(i.Stop)
	if err := i.start(); err != nil {
		t.Fatalf("sendmailtest: %v\n%s", err, i.Log())
	}
	t.Logf("sendmailtest: Sendmail in %s on %s (reinject %q, milter %q)", dir, i.SMTPAddr, i.ReinjectAddr, opts.Milter)
	return i
}

func (i *Instance) setup(port int) error {
	if err := os.Mkdir(i.QueueDir, 0o700); err != nil {
		return err
	}
	relayHost, relayPort, err := net.SplitHostPort(i.opts.Relay)
	if err != nil {
		return fmt.Errorf("Options.Relay %q: %v", i.opts.Relay, err)
	}
	// m4 quotes are ` and '; the template uses {{ }} so Go strings stay readable.
	mc := fmt.Sprintf(mcTemplate, i.opts.Hostname, i.Dir, relayHost, relayPort, port)
	if i.opts.ClientAddr != "" {
		mc += fmt.Sprintf("CLIENT_OPTIONS({{Family=inet, Addr=%s}})dnl\n", i.opts.ClientAddr)
	}
	if i.opts.ReinjectPort > 0 {
		// An empty per-daemon list overrides the global InputMailFilters:
		// mail on this port is not filtered (mailseal's copies).
		mc += fmt.Sprintf("DAEMON_OPTIONS({{Port=%d, Addr=127.0.0.1, Name=reinject, InputMailFilters=}})dnl\n", i.opts.ReinjectPort)
	}
	if i.opts.Milter != "" {
		flags := ", F=" + i.opts.MilterFlags
		if i.opts.MilterFlags == "-" {
			flags = ""
		}
		mc += fmt.Sprintf("INPUT_MAIL_FILTER({{mailseal}}, {{S=%s%s, T=S:4m;R:4m;E:10m}})dnl\n", i.opts.Milter, flags)
	}
	mc += i.opts.ExtraMC
	mc += "MAILER({{local}})dnl\nMAILER({{smtp}})dnl\n"
	mc = strings.NewReplacer("{{ROOT}}", Root(), "{{", "`", "}}", "'").Replace(mc)
	host, _ := os.Hostname()
	files := map[string]string{
		"sendmail.mc":    mc,
		"hosts":          fmt.Sprintf("127.0.0.1 %s localhost %s\n", i.opts.Hostname, host),
		"service.switch": "hosts files\naliases files\n",
		"helpfile":       "",
		"statistics":     "",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(i.Dir, name), []byte(body), 0o600); err != nil {
			return err
		}
	}
	m4 := exec.Command("m4", filepath.Join(i.Dir, "sendmail.mc"))
	var stderr bytes.Buffer
	m4.Stderr = &stderr
	cf, err := m4.Output()
	if err != nil {
		return fmt.Errorf("m4 sendmail.mc: %v\n%s", err, stderr.String())
	}
	return os.WriteFile(i.ConfigFile, cf, 0o600)
}

// command runs sendmail with this instance's .cf in a UTS namespace whose
// host name is Options.Hostname (a dotted name: no 60 s sleep at start).
//
// Where no UTS namespace can be made (a container without CAP_SYS_ADMIN),
// sendmail runs directly: correct, but each command then sleeps 60 s if the
// machine's host name has no dot.
func (i *Instance) command(args ...string) *exec.Cmd {
	if !utsNamespaces() {
		cmd := exec.Command(Binary(), append([]string{"-C", i.ConfigFile}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Dir = i.Dir
		return cmd
	}
	script := `echo "$1" > /proc/sys/kernel/hostname && shift && exec "$@"`
	all := append([]string{"-c", script, "sh", i.opts.Hostname, Binary(), "-C", i.ConfigFile}, args...)
	cmd := exec.Command("/bin/sh", all...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS, Setpgid: true}
	cmd.Dir = i.Dir
	return cmd
}

var utsProbe struct {
	once sync.Once
	ok   bool
}

// utsNamespaces reports whether this process may start a child in a new UTS
// namespace.
func utsNamespaces() bool {
	utsProbe.once.Do(func() {
		cmd := exec.Command("/bin/true")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUTS}
		utsProbe.ok = cmd.Run() == nil
	})
	return utsProbe.ok
}

func (i *Instance) start() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	out, err := os.OpenFile(filepath.Join(i.Dir, "sendmail.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := i.command("-bD", "-q1m")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return err
	}
	i.cmd, i.out = cmd, out
	addrs := []string{i.SMTPAddr}
	if i.ReinjectAddr != "" {
		addrs = append(addrs, i.ReinjectAddr)
	}
	for _, a := range addrs {
		if err := waitBanner(a, 150*time.Second); err != nil { // 60 s sleep without a UTS namespace
			return err
		}
	}
	return nil
}

// Stop ends the daemon and every child it forked (its process group).
func (i *Instance) Stop() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.cmd == nil {
		return
	}
	_ = syscall.Kill(-i.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = i.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-i.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	i.out.Close()
	i.cmd = nil
}

// Log is what the daemon wrote to stdout/stderr (Sendmail logs to syslog;
// this holds start-up errors).
func (i *Instance) Log() string {
	b, _ := os.ReadFile(filepath.Join(i.Dir, "sendmail.log"))
	return string(b)
}

func waitBanner(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 512)
			n, _ := c.Read(buf)
			c.Close()
			if strings.HasPrefix(string(buf[:n]), "220") {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no 220 banner on %s within %v", addr, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// QueueEntry is one message in the queue (sendmail -bp).
type QueueEntry struct {
	ID         string
	Reason     string // e.g. "(Deferred: 451 4.3.2 Please try again later)"
	Recipients []string
}

var queueLine = regexp.MustCompile(`^([0-9A-Za-z]{10,})[*X-]?\s+\d+\s`)

// Queue lists the messages still queued (`sendmail -bp`).
func (i *Instance) Queue(t testing.TB) []QueueEntry {
	t.Helper()
	out, err := i.command("-bp").CombinedOutput()
	if err != nil {
		t.Fatalf("sendmailtest: sendmail -bp: %v\n%s", err, out)
	}
	return parseQueue(string(out))
}

// parseQueue reads the output of sendmail -bp.
func parseQueue(out string) []QueueEntry {
	var q []QueueEntry
	for _, line := range strings.Split(out, "\n") {
		if m := queueLine.FindStringSubmatch(line); m != nil {
			q = append(q, QueueEntry{ID: m[1]})
			continue
		}
		s := strings.TrimSpace(line)
		if len(q) == 0 || s == "" || strings.HasPrefix(s, "Total requests") {
			continue
		}
		e := &q[len(q)-1]
		switch {
		case strings.Contains(s, "("):
			// "8BITMIME   (Deferred: 451 4.3.2 Please try again later)"
			e.Reason = s[strings.Index(s, "("):]
		case strings.Contains(s, "@") && !strings.ContainsAny(s, " \t"):
			e.Recipients = append(e.Recipients, strings.Trim(s, "<>"))
		}
		// Other lines are flags (8BITMIME) alone.
	}
	return q
}

// RunQueue runs the queue once now, in the foreground (`sendmail -q`).
func (i *Instance) RunQueue(t testing.TB) {
	t.Helper()
	if out, err := i.command("-q").CombinedOutput(); err != nil {
		t.Fatalf("sendmailtest: sendmail -q: %v\n%s", err, out)
	}
}

// WaitQueueEmpty polls `sendmail -bp` until nothing is queued.
func (i *Instance) WaitQueueEmpty(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		q := i.Queue(t)
		if len(q) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sendmailtest: %d message(s) still queued after %v: %+v", len(q), timeout, q)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
