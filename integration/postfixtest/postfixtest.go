// Package postfixtest runs a private, throw-away Postfix instance for tests.
//
// Each instance lives in its own t.TempDir(): config (DIR/etc), queue
// (DIR/queue), data (DIR/data), log (DIR/log/maillog) and deliveries
// (DIR/deliveries). It listens on free loopback ports only and never touches
// /etc/postfix or a system Postfix. It must run as root (Postfix's master runs
// as root and drops to the "postfix" user), which is the case in CI.
//
// Mail flow:
//
//	client ─▶ smtpd 127.0.0.1:SMTPAddr (smtpd_milters = Options.Milter)
//	          smtpd 127.0.0.1:ReinjectAddr (no milters; only if Options.ReinjectPort > 0)
//	       ─▶ cleanup ─▶ qmgr ─▶ pipe transport "testdeliver" (user nobody)
//	       ─▶ DIR/deliveries/<lowercased recipient>/<unixnano>-<queueid>.eml
//
// Every recipient, whatever its domain, is delivered by the pipe transport
// (mydestination is empty; default_transport and relay_transport are the pipe).
// The pipe runs without the F, R and D flags (and without ">" unless
// Options.MboxQuote), so a delivered file is the
// message exactly as it left the queue: Postfix's own Received: header on top
// (added by smtpd/cleanup, never seen by a milter), then the (possibly
// milter-rewritten) headers and body. No From_ line, no Return-Path:, no
// Delivered-To:. On disk the lines end in LF (that is how pipe writes);
// Delivered and WaitDelivered return them converted to CRLF, i.e. the bytes an
// SMTP client would put on the wire (without dot-stuffing).
// One file per recipient and delivery (deliver_destination_recipient_limit=1).
//
// SMTP AUTH: with Options.SASLUsers the instance offers AUTH PLAIN and LOGIN
// (Cyrus SASL, a private sasldb in DIR/etc/sasl, plaintext allowed without TLS)
// and Mail.Auth makes Submit authenticate after EHLO. Postfix then passes the
// login to milters as {auth_authen}. This needs the Debian packages sasl2-bin,
// libsasl2-modules and libsasl2-modules-db (scripts/install-deps.sh).
package postfixtest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options configure an instance. The zero value is a Postfix without milter.
type Options struct {
	// Milter is the smtpd_milters (and non_smtpd_milters) value, e.g.
	// "inet:127.0.0.1:8891". Empty means no milter.
	Milter string
	// MilterDefaultAction is milter_default_action; default "tempfail".
	MilterDefaultAction string
	// ExtraMain are extra main.cf settings; they override the harness defaults.
	ExtraMain map[string]string
	// ReinjectPort, if > 0, adds an smtpd on 127.0.0.1:ReinjectPort without
	// milters (-o smtpd_milters= -o non_smtpd_milters=), for mailseal's
	// re-injection. Use FreePort to pick one before starting the milter.
	ReinjectPort int
	// MessageSizeLimit is message_size_limit in bytes; default 50 MB.
	MessageSizeLimit int
	// CleanupSizeLimit is the message_size_limit given to the cleanup service
	// (it also limits the milter-rewritten queue file: encryption grows mail).
	// Default: 2 × MessageSizeLimit.
	CleanupSizeLimit int
	// SASLUsers, if non-empty, enables SMTP AUTH (Cyrus SASL, mechanisms
	// PLAIN and LOGIN, no TLS needed) on the smtpd listeners, with these
	// logins and passwords in a private sasldb (DIR/etc/sasl/sasldb2). A login
	// "local@domain" is stored as user "local" in realm "domain" (saslpasswd2
	// -u domain local), which is how Cyrus looks up a client that logs in as
	// "local@domain"; Postfix hands that full login to milters as
	// {auth_authen}. A login without "@" is stored in the realm $myhostname.
	// Relaying is then allowed for mynetworks and authenticated clients
	// (smtpd_relay_restrictions = permit_mynetworks,
	// permit_sasl_authenticated, reject_unauth_destination); ExtraMain still
	// overrides every setting.
	SASLUsers map[string]string
	// MboxQuote adds the ">" flag to the pipe transport, as mbox delivery
	// does (local(8) to a mailbox file, procmail): every line that starts
	// with "From " is delivered as ">From ". A signature whose signed lines
	// start with "From " then no longer verifies.
	MboxQuote bool
}

// Auth is the SMTP AUTH login of a Mail.
type Auth struct {
	User string
	Pass string
	// Mech is "PLAIN" (default, with initial response) or "LOGIN".
	Mech string
}

// Instance is a running private Postfix.
type Instance struct {
	// Dir is the instance root (a t.TempDir()).
	Dir string
	// ConfigDir is Dir/etc, the argument to postfix -c.
	ConfigDir string
	// SMTPAddr is 127.0.0.1:port of the smtpd with milters.
	SMTPAddr string
	// ReinjectAddr is 127.0.0.1:port of the smtpd without milters ("" if none).
	ReinjectAddr string
	// DeliveryDir is Dir/deliveries.
	DeliveryDir string
	// LogFile is Dir/log/maillog.
	LogFile string

	opts    Options
	mu      sync.Mutex
	stopped bool
}

// Mail is one SMTP transaction.
type Mail struct {
	From     string
	To       []string
	Data     []byte // the message; LF or CRLF line ends (sent as CRLF, dot-stuffed)
	SourceIP net.IP // local address to connect from (e.g. 127.0.0.3); nil = default
	Helo     string // EHLO name; default "client.test"
	Addr     string // server address; default Instance.SMTPAddr
	// Auth, if set, makes Submit authenticate (AUTH PLAIN or LOGIN) after
	// EHLO; a refusal (e.g. "535 5.7.8 Error: authentication failed") ends
	// the transaction with an SMTPError of Stage "AUTH".
	Auth *Auth
	// MailParams and RcptParams are ESMTP parameters for MAIL FROM and per
	// recipient for RCPT TO (e.g. "NOTIFY=SUCCESS").
	MailParams []string
	RcptParams map[string][]string
}

// SMTPError is a non-2xx/3xx reply of the server.
type SMTPError struct {
	Stage string // "connect", "EHLO", "AUTH", "MAIL", "RCPT", "DATA", "DOT"
	Rcpt  string // for Stage "RCPT"
	Code  int
	Msg   string // reply text after the code, e.g. "4.7.1 Service unavailable - try again later"
}

func (e *SMTPError) Error() string {
	if e.Rcpt != "" {
		return fmt.Sprintf("%s <%s>: %03d %s", e.Stage, e.Rcpt, e.Code, e.Msg)
	}
	return fmt.Sprintf("%s: %03d %s", e.Stage, e.Code, e.Msg)
}

// Temporary reports a 4xx reply.
func (e *SMTPError) Temporary() bool { return e.Code >= 400 && e.Code < 500 }

// Result is the detailed outcome of Submit.
type Result struct {
	Accepted []string     // recipients accepted at RCPT
	Errors   []*SMTPError // every refusal, in order (a RCPT refusal does not stop the others)
	QueueID  string       // from "250 2.0.0 Ok: queued as ID", if the message was accepted
	Err      error        // network/protocol error, if any
}

// Error joins Err and Errors; nil if the message was queued for every recipient.
func (r *Result) Error() error {
	var errs []error
	if r.Err != nil {
		errs = append(errs, r.Err)
	}
	for _, e := range r.Errors {
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

var instanceSeq struct {
	sync.Mutex
	n int
}

// handedOut are the ports FreePort returned in this process: the kernel
// may give a just-closed ephemeral port out again at once, and two
// listeners of one test (socketmap and reinject, say) then collide.
var handedOut struct {
	sync.Mutex
	ports map[int]bool
}

// FreePort returns a currently unused TCP port on 127.0.0.1 that it has not
// returned before in this process.
func FreePort(t testing.TB) int {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	if handedOut.ports == nil {
		handedOut.ports = map[int]bool{}
	}
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("postfixtest: free port: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return port
		}
	}
	t.Fatal("postfixtest: free port: the kernel keeps handing out ports already in use by this test process")
	return 0
}

// Available reports whether a usable postfix is installed and we are root.
func Available() error {
	if _, err := exec.LookPath("postfix"); err != nil {
		if _, err2 := os.Stat("/usr/sbin/postfix"); err2 != nil {
			return fmt.Errorf("postfix not installed (run scripts/install-deps.sh): %v", err)
		}
	}
	if os.Geteuid() != 0 {
		return errors.New("a private Postfix instance needs root")
	}
	if _, err := user.Lookup("postfix"); err != nil {
		return fmt.Errorf("user postfix missing: %v", err)
	}
	return nil
}

// SASLAvailable reports whether what Options.SASLUsers needs is installed:
// saslpasswd2 and sasldblistusers2 (sasl2-bin) and the Cyrus PLAIN, LOGIN and
// sasldb plugins (libsasl2-modules, libsasl2-modules-db).
func SASLAvailable() error {
	for _, c := range []string{"saslpasswd2", "sasldblistusers2"} {
		if _, err := os.Stat(sbin(c)); err != nil {
			return fmt.Errorf("%s not installed (package sasl2-bin; run scripts/install-deps.sh)", c)
		}
	}
	for _, plugin := range []string{"libplain.so*", "liblogin.so*", "libsasldb.so*"} {
		found := false
		for _, dir := range []string{"/usr/lib/*/sasl2", "/usr/lib/sasl2", "/usr/lib64/sasl2"} {
			if m, _ := filepath.Glob(filepath.Join(dir, plugin)); len(m) > 0 {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("Cyrus SASL plugin %s not found (packages libsasl2-modules, libsasl2-modules-db; run scripts/install-deps.sh)", plugin)
		}
	}
	return nil
}

func sbin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return "/usr/sbin/" + name
}

// Start creates, checks and starts a private Postfix; t.Cleanup stops it.
// It fails the test (with the Postfix log) on error.
func Start(t testing.TB, opts Options) *Instance {
	t.Helper()
	if err := Available(); err != nil {
		t.Fatalf("postfixtest: %v", err)
	}
	if len(opts.SASLUsers) > 0 {
		if err := SASLAvailable(); err != nil {
			t.Fatalf("postfixtest: %v", err)
		}
	}
	if opts.MilterDefaultAction == "" {
		opts.MilterDefaultAction = "tempfail"
	}
	if opts.MessageSizeLimit <= 0 {
		opts.MessageSizeLimit = 50 << 20
	}
	if opts.CleanupSizeLimit <= 0 {
		opts.CleanupSizeLimit = 2 * opts.MessageSizeLimit
	}
	dir := t.TempDir()
	openPath(t, dir)

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		inst := &Instance{
			Dir:  filepath.Join(dir, fmt.Sprintf("pf%d", attempt)),
			opts: opts,
		}
		inst.ConfigDir = filepath.Join(inst.Dir, "etc")
		inst.DeliveryDir = filepath.Join(inst.Dir, "deliveries")
		inst.LogFile = filepath.Join(inst.Dir, "log", "maillog")
		inst.SMTPAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		if opts.ReinjectPort > 0 {
			inst.ReinjectAddr = fmt.Sprintf("127.0.0.1:%d", opts.ReinjectPort)
		}
		if err := inst.setup(); err != nil {
			t.Fatalf("postfixtest: setup: %v", err)
		}
		t.Cleanup(inst.Stop)
		err := inst.start()
		if err == nil {
			t.Logf("postfixtest: Postfix in %s on %s (reinject %q, milter %q)", inst.Dir, inst.SMTPAddr, inst.ReinjectAddr, opts.Milter)
			return inst
		}
		lastErr = err
		inst.Stop()
		// Only a port race is worth another try (the reinject port is fixed).
		if !strings.Contains(inst.Log(), "in use") || opts.ReinjectPort > 0 && attempt > 0 {
			break
		}
	}
	t.Fatalf("postfixtest: %v", lastErr)
	return nil
}

// openPath makes dir and its ancestors below the temp root enterable (0755)
// by the postfix user; t.TempDir()/mktemp create them 0700.
func openPath(t testing.TB, dir string) {
	t.Helper()
	tmp := filepath.Clean(os.TempDir())
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatalf("postfixtest: %v", err)
		}
		if st.Mode().Perm()&0o005 != 0o005 {
			if err := os.Chmod(d, st.Mode().Perm()|0o755); err != nil {
				t.Fatalf("postfixtest: chmod %s: %v", d, err)
			}
		}
		if d == tmp || d == "/" || filepath.Dir(d) == d {
			break
		}
		if !strings.HasPrefix(d, tmp+string(filepath.Separator)) {
			// Outside the temp root: only check, do not touch.
			if st.Mode().Perm()&0o001 == 0 {
				t.Fatalf("postfixtest: %s is not enterable by the postfix user", d)
			}
		}
	}
}

const deliverScript = `#!/bin/sh
# postfixtest pipe delivery: deliver.sh BASEDIR RECIPIENT QUEUEID
# Writes stdin to BASEDIR/<recipient>/<unixnano>-<queueid>.eml atomically.
PATH=/usr/bin:/bin
export PATH
umask 022
base=$1
rcpt=$(printf '%s' "$2" | tr '/' '_')
qid=$3
[ -n "$rcpt" ] || rcpt=_empty_
if [ -e "$base/.tempfail" ]; then
	echo "4.3.0 postfixtest: deliveries are tempfailed (SetDeliveryTempfail)"
	exit 75
fi
mkdir -p "$base/$rcpt" || exit 75
tmp="$base/.tmp-$qid-$$"
if ! cat > "$tmp"; then rm -f "$tmp"; exit 75; fi
mv "$tmp" "$base/$rcpt/$(date +%s%N)-$qid.eml" || exit 75
exit 0
`

func (i *Instance) setup() error {
	for _, d := range []string{i.Dir, i.ConfigDir, filepath.Join(i.Dir, "queue"), filepath.Join(i.Dir, "data"), filepath.Join(i.Dir, "log"), i.DeliveryDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(i.DeliveryDir, 0o1777); err != nil {
		return err
	}
	// data_directory must belong to the postfix user.
	if u, err := user.Lookup("postfix"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		_ = os.Chown(filepath.Join(i.Dir, "data"), uid, gid)
	}
	script := filepath.Join(i.Dir, "deliver.sh")
	if err := os.WriteFile(script, []byte(deliverScript), 0o755); err != nil {
		return err
	}

	instanceSeq.Lock()
	instanceSeq.n++
	n := instanceSeq.n
	instanceSeq.Unlock()
	name := fmt.Sprintf("pftest%d-%d", os.Getpid(), n)

	main := baseMain(i, name)
	seen := map[string]int{}
	for idx, kv := range main {
		seen[kv[0]] = idx
	}
	set := func(k, v string) {
		if idx, ok := seen[k]; ok {
			main[idx][1] = v
		} else {
			seen[k] = len(main)
			main = append(main, [2]string{k, v})
		}
	}
	if len(i.opts.SASLUsers) > 0 {
		for _, kv := range saslMain(i) {
			set(kv[0], kv[1])
		}
	}
	keys := make([]string, 0, len(i.opts.ExtraMain))
	for k := range i.opts.ExtraMain {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		set(k, i.opts.ExtraMain[k])
	}
	if len(i.opts.SASLUsers) > 0 {
		myhostname := ""
		for _, kv := range main {
			if kv[0] == "myhostname" {
				myhostname = kv[1]
			}
		}
		if err := i.setupSASL(myhostname); err != nil {
			return err
		}
	}
	var mb strings.Builder
	mb.WriteString("# generated by postfixtest\n")
	for _, kv := range main {
		fmt.Fprintf(&mb, "%s = %s\n", kv[0], kv[1])
	}
	mainCf := filepath.Join(i.ConfigDir, "main.cf")
	if err := os.WriteFile(mainCf, []byte(mb.String()), 0o644); err != nil {
		return err
	}

	var ms strings.Builder
	ms.WriteString("# generated by postfixtest\n")
	fmt.Fprintf(&ms, "%s inet n - n - - smtpd\n", i.SMTPAddr)
	if i.ReinjectAddr != "" {
		fmt.Fprintf(&ms, "%s inet n - n - - smtpd\n  -o syslog_name=%s/reinject\n  -o smtpd_milters=\n  -o non_smtpd_milters=\n", i.ReinjectAddr, name)
	}
	fmt.Fprintf(&ms, `pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
  -o message_size_limit=%d
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
postlog   unix-dgram n  -       n       -       1       postlogd
testdeliver unix -      n       n       -       -       pipe
  flags=%shu user=nobody argv=%s %s ${recipient} ${queue_id}
`, i.opts.CleanupSizeLimit, pipeFlags(i.opts), script, i.DeliveryDir)
	masterCf := filepath.Join(i.ConfigDir, "master.cf")
	if err := os.WriteFile(masterCf, []byte(ms.String()), 0o644); err != nil {
		return err
	}
	// A main.cf changed within the last second makes Postfix wait for it to
	// "settle" (~2 s): backdate both files.
	old := time.Now().Add(-10 * time.Second)
	for _, f := range []string{mainCf, masterCf} {
		if err := os.Chtimes(f, old, old); err != nil {
			return err
		}
	}
	return nil
}

// pipeFlags are the extra pipe(8) flags of the delivery transport.
func pipeFlags(o Options) string {
	if o.MboxQuote {
		return ">"
	}
	return ""
}

func baseMain(i *Instance, name string) [][2]string {
	return [][2]string{
		{"compatibility_level", "3.6"},
		{"queue_directory", filepath.Join(i.Dir, "queue")},
		{"data_directory", filepath.Join(i.Dir, "data")},
		{"mail_owner", "postfix"},
		{"setgid_group", "postdrop"},
		{"syslog_name", name},
		{"maillog_file", i.LogFile},
		{"maillog_file_prefixes", i.Dir}, // default (/var, /dev/stdout) refuses our path
		{"myhostname", "mx.postfixtest.test"},
		{"mydomain", "postfixtest.test"},
		{"myorigin", "$myhostname"},
		{"mydestination", ""},
		{"local_recipient_maps", ""},
		{"alias_maps", ""},
		{"alias_database", ""},
		{"relay_domains", ""},
		{"inet_interfaces", "127.0.0.1"},
		{"inet_protocols", "ipv4"},
		{"mynetworks", "127.0.0.0/8"},
		{"smtpd_relay_restrictions", "permit_mynetworks, reject_unauth_destination"},
		{"smtpd_error_sleep_time", "0"},
		{"smtpd_client_connection_count_limit", "0"},
		{"smtpd_client_connection_rate_limit", "0"},
		{"smtpd_client_message_rate_limit", "0"},
		{"in_flow_delay", "0"},
		{"biff", "no"},
		{"append_dot_mydomain", "no"},
		{"smtputf8_enable", "yes"},
		{"default_transport", "testdeliver"},
		{"relay_transport", "testdeliver"},
		{"local_transport", "testdeliver"},
		{"testdeliver_destination_recipient_limit", "1"},
		{"smtp_dns_support_level", "disabled"},
		{"smtp_host_lookup", "native"},
		{"queue_run_delay", "5s"},
		{"minimal_backoff_time", "5s"},
		{"maximal_backoff_time", "10s"},
		{"message_size_limit", strconv.Itoa(i.opts.MessageSizeLimit)},
		{"mailbox_size_limit", "0"},
		{"milter_protocol", "6"},
		{"milter_default_action", i.opts.MilterDefaultAction},
		{"milter_connect_timeout", "10s"},
		{"milter_command_timeout", "10s"},
		{"milter_content_timeout", "60s"},
		{"smtpd_milters", i.opts.Milter},
		{"non_smtpd_milters", i.opts.Milter},
	}
}

// SASLDir is where an instance with Options.SASLUsers keeps its Cyrus SASL
// configuration (smtpd.conf) and sasldb2: ConfigDir/sasl. Upstream Postfix
// reads smtpd.conf from cyrus_sasl_config_path (set to this directory), but
// Debian's Postfix (patch 07_sasl_config) ignores that setting and always
// searches "$config_directory/sasl:/usr/lib/sasl": this path works for both.
func (i *Instance) SASLDir() string { return filepath.Join(i.ConfigDir, "sasl") }

func saslMain(i *Instance) [][2]string {
	return [][2]string{
		{"smtpd_relay_restrictions", "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination"},
		{"smtpd_sasl_auth_enable", "yes"},
		{"smtpd_sasl_type", "cyrus"},
		{"smtpd_sasl_path", "smtpd"},
		{"cyrus_sasl_config_path", i.SASLDir()},
		{"smtpd_sasl_security_options", "noanonymous"},
		{"smtpd_sasl_local_domain", ""},
		{"smtpd_tls_auth_only", "no"},
		{"broken_sasl_auth_clients", "no"},
	}
}

// setupSASL writes SASLDir()/smtpd.conf and creates the users in
// SASLDir()/sasldb2, readable by the postfix user (smtpd reads it as postfix).
func (i *Instance) setupSASL(myhostname string) error {
	dir := i.SASLDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	db := filepath.Join(dir, "sasldb2")
	conf := fmt.Sprintf("pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\nsasldb_path: %s\n", db)
	if err := os.WriteFile(filepath.Join(dir, "smtpd.conf"), []byte(conf), 0o644); err != nil {
		return err
	}
	logins := make([]string, 0, len(i.opts.SASLUsers))
	for l := range i.opts.SASLUsers {
		logins = append(logins, l)
	}
	sort.Strings(logins)
	for _, login := range logins {
		pass := i.opts.SASLUsers[login]
		if login == "" || strings.ContainsAny(login, " \t\r\n") || strings.ContainsAny(pass, "\r\n") || pass == "" {
			return fmt.Errorf("SASLUsers: bad login %q or empty/multi-line password", login)
		}
		local, realm := login, myhostname
		if at := strings.LastIndexByte(login, '@'); at >= 0 {
			local, realm = login[:at], login[at+1:]
		}
		if local == "" || realm == "" {
			return fmt.Errorf("SASLUsers: bad login %q", login)
		}
		// -p: the password comes from stdin, up to the first line end.
		cmd := exec.Command(sbin("saslpasswd2"), "-f", db, "-c", "-p", "-u", realm, local)
		cmd.Stdin = strings.NewReader(pass + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("saslpasswd2 %s: %v\n%s", login, err, out)
		}
	}
	// Check that every login is stored under the name clients log in with.
	out, err := exec.Command(sbin("sasldblistusers2"), "-f", db).CombinedOutput()
	if err != nil {
		return fmt.Errorf("sasldblistusers2: %v\n%s", err, out)
	}
	listed := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		if name, _, ok := strings.Cut(l, ": "); ok {
			listed[name] = true
		}
	}
	for _, login := range logins {
		want := login
		if !strings.Contains(login, "@") {
			want = login + "@" + myhostname
		}
		if !listed[want] {
			return fmt.Errorf("sasldb2 lacks %s after saslpasswd2; sasldblistusers2 says:\n%s", want, out)
		}
	}
	// saslpasswd2 creates the file 0640 root:root; smtpd runs as postfix.
	if u, err := user.Lookup("postfix"); err == nil {
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(db, 0, gid); err != nil {
			return err
		}
	}
	return os.Chmod(db, 0o640)
}

func (i *Instance) postfix(args ...string) ([]byte, error) {
	cmd := exec.Command(sbin("postfix"), append([]string{"-c", i.ConfigDir}, args...)...)
	cmd.Env = append(os.Environ(), "MAIL_CONFIG="+i.ConfigDir)
	return cmd.CombinedOutput()
}

func (i *Instance) start() error {
	// "postfix start" runs the same integrity checks as "postfix check"
	// (postfix-script check-fatal, check-warn) first; a separate check would
	// only double the start-up time (~0.7 s idle, seconds under load).
	if out, err := i.postfix("start"); err != nil {
		return fmt.Errorf("postfix start: %v\n%s%s\n--- log ---\n%s", err, out, i.ttyDiag("check"), i.Log())
	}
	addrs := []string{i.SMTPAddr}
	if i.ReinjectAddr != "" {
		addrs = append(addrs, i.ReinjectAddr)
	}
	for _, a := range addrs {
		if err := waitBanner(a, 15*time.Second); err != nil {
			return fmt.Errorf("postfix did not answer on %s: %v\n--- log ---\n%s", a, err, i.Log())
		}
	}
	return nil
}

// ttyDiag reruns "postfix -c DIR ARG" under script(1): without a tty on stderr
// and without syslog, Postfix's fatal errors that happen before it can log to
// maillog_file (e.g. a bad main.cf) go nowhere.
func (i *Instance) ttyDiag(arg string) string {
	scr, err := exec.LookPath("script")
	if err != nil {
		return ""
	}
	cmd := exec.Command(scr, "-qec", sbin("postfix")+" -c "+i.ConfigDir+" "+arg, "/dev/null")
	out, _ := cmd.CombinedOutput()
	return string(out)
}

func waitBanner(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err == nil && strings.HasPrefix(line, "220") {
				_, _ = c.Write([]byte("QUIT\r\n"))
				c.Close()
				return nil
			}
			c.Close()
			lastErr = fmt.Errorf("banner %q: %v", line, err)
		} else {
			lastErr = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return lastErr
}

func (i *Instance) masterPID() int {
	b, err := os.ReadFile(filepath.Join(i.Dir, "queue", "pid", "master.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Stop stops the instance (postfix stop, then SIGKILL to the master if it
// lingers). It is registered with t.Cleanup by Start and safe to call twice.
func (i *Instance) Stop() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.stopped {
		return
	}
	i.stopped = true
	pid := i.masterPID()
	_, _ = i.postfix("stop")
	if pid <= 0 {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The master did not exit: kill its process group's leader and children.
	_ = syscall.Kill(pid, syscall.SIGKILL)
	killChildren(pid)
}

// killChildren SIGKILLs the direct children of pid (Postfix daemons).
func killChildren(pid int) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		cpid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		if j := strings.LastIndexByte(s, ')'); j >= 0 {
			f := strings.Fields(s[j+1:])
			if len(f) > 1 {
				if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
					_ = syscall.Kill(cpid, syscall.SIGKILL)
				}
			}
		}
	}
}

// Postconf changes main.cf settings (postconf -e) and reloads Postfix, e.g. to
// lift a defer_transports or point smtpd_milters elsewhere mid-test.
func (i *Instance) Postconf(t testing.TB, settings map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := []string{"-c", i.ConfigDir, "-e"}
	for _, k := range keys {
		args = append(args, k+"="+settings[k])
	}
	cmd := exec.Command(sbin("postconf"), args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("postfixtest: postconf %v: %v\n%s", args, err, out)
	}
	old := time.Now().Add(-10 * time.Second)
	_ = os.Chtimes(filepath.Join(i.ConfigDir, "main.cf"), old, old)
	if out, err := i.postfix("reload"); err != nil {
		t.Fatalf("postfixtest: postfix reload: %v\n%s%s\n--- log ---\n%s", err, out, i.ttyDiag("check"), i.Log())
	}
}

// SetDeliveryTempfail makes the pipe transport fail every delivery with a
// temporary error (exit 75: Postfix defers the mail and retries it) while on
// is true, to simulate a down-stream outage. Turn it off and Flush to deliver.
func (i *Instance) SetDeliveryTempfail(t testing.TB, on bool) {
	t.Helper()
	marker := filepath.Join(i.DeliveryDir, ".tempfail")
	var err error
	if on {
		err = os.WriteFile(marker, nil, 0o644)
	} else if err = os.Remove(marker); errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	if err != nil {
		t.Fatalf("postfixtest: %v", err)
	}
}

// Log returns the instance's log (DIR/log/maillog, written by postlogd).
func (i *Instance) Log() string {
	b, _ := os.ReadFile(i.LogFile)
	return string(b)
}

// WaitLog polls until the instance's log contains s and returns the log; it
// fails the test with the log on timeout. Postfix logs through postlogd, so a
// line may appear a moment after the SMTP reply it belongs to.
func (i *Instance) WaitLog(t testing.TB, s string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		log := i.Log()
		if strings.Contains(log, s) {
			return log
		}
		if time.Now().After(deadline) {
			t.Fatalf("postfixtest: log never said %q within %v:\n%s", s, timeout, log)
			return log
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Send submits m over SMTP to SMTPAddr (or m.Addr). It returns nil if the
// message was queued for every recipient, else an error whose text contains
// the server's reply (e.g. "MAIL: 451 4.7.1 Service unavailable - try again
// later"). A refused recipient does not stop the others: the message is still
// sent to those accepted, and the error lists the refusals (errors.As to
// *SMTPError). Use Submit for details.
func (i *Instance) Send(t testing.TB, m Mail) error {
	t.Helper()
	r := i.Submit(m)
	if err := r.Error(); err != nil {
		t.Logf("postfixtest: send from %s to %v: %v", m.From, m.To, err)
		return err
	}
	t.Logf("postfixtest: sent from %s to %v, queued as %s", m.From, m.To, r.QueueID)
	return nil
}

// Submit runs one SMTP transaction and reports every reply.
func (i *Instance) Submit(m Mail) *Result {
	addr := m.Addr
	if addr == "" {
		addr = i.SMTPAddr
	}
	return submit(addr, m)
}

type smtpConn struct {
	c  net.Conn
	tp *textproto.Conn
}

func (s *smtpConn) cmd(stage, rcpt string, expect int, format string, args ...any) (int, string, *SMTPError, error) {
	if format != "" {
		if err := s.tp.PrintfLine(format, args...); err != nil {
			return 0, "", nil, err
		}
	}
	code, msg, err := s.tp.ReadResponse(0)
	if err != nil {
		var te *textproto.Error
		if errors.As(err, &te) {
			code, msg = te.Code, te.Msg
		} else {
			return 0, "", nil, err
		}
	}
	if code/100 != expect {
		return code, msg, &SMTPError{Stage: stage, Rcpt: rcpt, Code: code, Msg: msg}, nil
	}
	return code, msg, nil, nil
}

func submit(addr string, m Mail) *Result {
	res := &Result{}
	d := net.Dialer{Timeout: 10 * time.Second}
	if m.SourceIP != nil {
		d.LocalAddr = &net.TCPAddr{IP: m.SourceIP}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		res.Err = fmt.Errorf("connect %s: %w", addr, err)
		return res
	}
	defer c.Close()
	// Long enough for milter_content_timeout (60 s) plus slack.
	_ = c.SetDeadline(time.Now().Add(3 * time.Minute))
	s := &smtpConn{c: c, tp: textproto.NewConn(c)}
	fail := func(e *SMTPError, err error) *Result {
		if e != nil {
			res.Errors = append(res.Errors, e)
		}
		if err != nil {
			res.Err = err
		}
		_ = s.tp.PrintfLine("QUIT")
		return res
	}
	if _, _, e, err := s.cmd("connect", "", 2, ""); e != nil || err != nil {
		return fail(e, err)
	}
	helo := m.Helo
	if helo == "" {
		helo = "client.test"
	}
	_, ehloMsg, e, err := s.cmd("EHLO", "", 2, "EHLO %s", helo)
	if e != nil || err != nil {
		return fail(e, err)
	}
	ext := map[string]bool{}
	for _, l := range strings.Split(ehloMsg, "\n")[1:] {
		f := strings.Fields(l)
		if len(f) > 0 {
			ext[strings.ToUpper(f[0])] = true
		}
	}
	if m.Auth != nil {
		if e, err := s.auth(m.Auth); e != nil || err != nil {
			return fail(e, err)
		}
	}
	mail := fmt.Sprintf("MAIL FROM:<%s>", m.From)
	if ext["8BITMIME"] && has8bit(m.Data) {
		mail += " BODY=8BITMIME"
	}
	if ext["SMTPUTF8"] && (has8bit([]byte(m.From)) || has8bit([]byte(strings.Join(m.To, "")))) {
		mail += " SMTPUTF8"
	}
	for _, p := range m.MailParams {
		mail += " " + p
	}
	if _, _, e, err := s.cmd("MAIL", "", 2, "%s", mail); e != nil || err != nil {
		return fail(e, err)
	}
	for _, r := range m.To {
		rcpt := "RCPT TO:<" + r + ">"
		for _, p := range m.RcptParams[r] {
			rcpt += " " + p
		}
		_, _, e, err := s.cmd("RCPT", r, 2, "%s", rcpt)
		if err != nil {
			return fail(nil, err)
		}
		if e != nil {
			res.Errors = append(res.Errors, e)
			continue
		}
		res.Accepted = append(res.Accepted, r)
	}
	if len(res.Accepted) == 0 {
		return fail(nil, nil)
	}
	if _, _, e, err := s.cmd("DATA", "", 3, "DATA"); e != nil || err != nil {
		return fail(e, err)
	}
	w := s.tp.DotWriter()
	if _, err := w.Write(m.Data); err != nil {
		return fail(nil, err)
	}
	if err := w.Close(); err != nil {
		return fail(nil, err)
	}
	_, msg, e, err := s.cmd("DOT", "", 2, "")
	if e != nil || err != nil {
		return fail(e, err)
	}
	if j := strings.Index(msg, "queued as "); j >= 0 {
		res.QueueID = strings.TrimSpace(msg[j+len("queued as "):])
	}
	_ = s.tp.PrintfLine("QUIT")
	_, _, _ = s.tp.ReadResponse(2)
	return res
}

// auth runs AUTH PLAIN (initial response) or AUTH LOGIN; 235 means success.
func (s *smtpConn) auth(a *Auth) (*SMTPError, error) {
	b64 := base64.StdEncoding.EncodeToString
	switch mech := strings.ToUpper(a.Mech); mech {
	case "", "PLAIN":
		_, _, e, err := s.cmd("AUTH", "", 2, "AUTH PLAIN %s", b64([]byte("\x00"+a.User+"\x00"+a.Pass)))
		return e, err
	case "LOGIN":
		if _, _, e, err := s.cmd("AUTH", "", 3, "AUTH LOGIN"); e != nil || err != nil {
			return e, err
		}
		if _, _, e, err := s.cmd("AUTH", "", 3, "%s", b64([]byte(a.User))); e != nil || err != nil {
			return e, err
		}
		_, _, e, err := s.cmd("AUTH", "", 2, "%s", b64([]byte(a.Pass)))
		return e, err
	default:
		return nil, fmt.Errorf("postfixtest: AUTH mechanism %q not supported (PLAIN, LOGIN)", a.Mech)
	}
}

func has8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// DeliveredFiles returns the paths of the files delivered for rcpt, oldest
// first. The recipient is matched case-insensitively (the pipe folds case).
func (i *Instance) DeliveredFiles(rcpt string) []string {
	dir := filepath.Join(i.DeliveryDir, strings.ReplaceAll(strings.ToLower(rcpt), "/", "_"))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var files []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".eml") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files) // names start with a fixed-width unix-nanosecond time
	return files
}

// Delivered returns the messages delivered so far for rcpt, oldest first, with
// CRLF line ends (see the package comment for what they contain).
func (i *Instance) Delivered(rcpt string) [][]byte {
	var out [][]byte
	for _, f := range i.DeliveredFiles(rcpt) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		out = append(out, ToCRLF(b))
	}
	return out
}

// Recipients lists the (lowercased) recipients that got at least one delivery.
func (i *Instance) Recipients() []string {
	ents, _ := os.ReadDir(i.DeliveryDir)
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// WaitDelivered polls until at least n messages were delivered for rcpt and
// returns them (all of them, oldest first). On timeout it fails the test with
// the queue and the Postfix log.
func (i *Instance) WaitDelivered(t testing.TB, rcpt string, n int, timeout time.Duration) [][]byte {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if got := i.Delivered(rcpt); len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	q, _ := i.postqueue("-p")
	t.Fatalf("postfixtest: %d message(s) for %s not delivered within %v (got %d); delivered to: %v\n--- queue ---\n%s\n--- log ---\n%s",
		n, rcpt, timeout, len(i.Delivered(rcpt)), i.Recipients(), q, i.Log())
	return nil
}

func (i *Instance) postqueue(args ...string) (string, error) {
	cmd := exec.Command(sbin("postqueue"), append([]string{"-c", i.ConfigDir}, args...)...)
	cmd.Env = append(os.Environ(), "MAIL_CONFIG="+i.ConfigDir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// QueueEntry is one message still in the queue (postqueue -j).
type QueueEntry struct {
	QueueName  string `json:"queue_name"` // active, deferred, hold, incoming
	QueueID    string `json:"queue_id"`
	Sender     string `json:"sender"`
	Recipients []struct {
		Address     string `json:"address"`
		DelayReason string `json:"delay_reason"`
	} `json:"recipients"`
}

// Queue returns the messages still in the queue.
func (i *Instance) Queue(t testing.TB) []QueueEntry {
	t.Helper()
	out, err := i.postqueue("-j")
	if err != nil {
		t.Fatalf("postfixtest: postqueue -j: %v\n%s", err, out)
	}
	var q []QueueEntry
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var e QueueEntry
		if err := dec.Decode(&e); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("postfixtest: postqueue -j: %v\n%s", err, out)
		}
		q = append(q, e)
	}
	return q
}

// QueueIDs returns the ids of the messages still in the queue.
func (i *Instance) QueueIDs(t testing.TB) []string {
	t.Helper()
	var ids []string
	for _, e := range i.Queue(t) {
		ids = append(ids, e.QueueID)
	}
	return ids
}

// Flush asks Postfix to retry deferred mail now (postqueue -f).
func (i *Instance) Flush(t testing.TB) {
	t.Helper()
	if out, err := i.postqueue("-f"); err != nil {
		t.Fatalf("postfixtest: postqueue -f: %v\n%s", err, out)
	}
}

// WaitQueueEmpty polls until the queue is empty; it fails the test on timeout.
func (i *Instance) WaitQueueEmpty(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ids := i.QueueIDs(t)
		if len(ids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			q, _ := i.postqueue("-p")
			t.Fatalf("postfixtest: queue not empty after %v:\n%s\n--- log ---\n%s", timeout, q, i.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ToCRLF converts bare LF line ends to CRLF (CRLF stays as it is).
func ToCRLF(b []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(b) + len(b)/40)
	for j, c := range b {
		if c == '\n' && (j == 0 || b[j-1] != '\r') {
			out.WriteByte('\r')
		}
		out.WriteByte(c)
	}
	return out.Bytes()
}

// SplitMessage splits a message at the first empty line into header and body
// (the empty line belongs to neither).
func SplitMessage(msg []byte) (header, body []byte) {
	if j := bytes.Index(msg, []byte("\r\n\r\n")); j >= 0 {
		return msg[:j+2], msg[j+4:]
	}
	if j := bytes.Index(msg, []byte("\n\n")); j >= 0 {
		return msg[:j+1], msg[j+2:]
	}
	return msg, nil
}
