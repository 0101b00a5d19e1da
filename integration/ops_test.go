package integration

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// An empty config file on SIGHUP must not switch signing off: the reload
// fails and the running config stays. A valid file that empties
// internal_domains is taken over, but with a WARN naming the key.
func TestReloadWithEmptyConfigKeepsSigning(t *testing.T) {
	d, pf := setup(t)
	caFile := d.CAFile()
	send := func(rcpt string) []byte {
		t.Helper()
		from := "alice@corp.example"
		if err := pf.Send(t, postfixtest.Mail{From: from, To: []string{rcpt}, Data: plainMail(from, rcpt, "reload"), SourceIP: trustedIP}); err != nil {
			t.Fatal(err)
		}
		return pf.WaitDelivered(t, rcpt, 1, deliveryTimeout)[0]
	}
	good := d.BaseConfig() + "policy:\n  rules:\n    - name: partner\n      recipients: [\"*@partner.example\"]\n      require_tls: true\n"
	d.WriteConfig(good)
	d.Signal(syscall.SIGHUP)
	d.WaitLog("configuration reloaded", 10*time.Second)

	d.WriteConfig("  \n\n")
	d.Signal(syscall.SIGHUP)
	d.WaitLog("reload failed, keeping the running configuration", 10*time.Second)
	mustContain(t, d.Log(), "is empty")
	opensslVerify(t, caFile, send("r1@partner.example"))
	if got := socketmapQuery(t, d.Socketmap, "tlspolicy", "partner.example"); got != "OK encrypt" {
		t.Fatalf("socketmap after an empty reload answered %q, want the require_tls policy", got)
	}

	// Valid but without internal domains and rules: taken over, loudly.
	d.WriteConfig(strings.Replace(d.BaseConfig(), "internal_domains: [corp.example]", "internal_domains: []", 1))
	d.Signal(syscall.SIGHUP)
	d.WaitLog("internal_domains=[]", 10*time.Second)
	log := d.Log()
	for _, want := range []string{"level=WARN msg=\"reload: internal_domains is now empty", "level=WARN msg=\"reload: no require_tls rule is left"} {
		mustContain(t, log, want)
	}
	raw := send("r2@partner.example")
	if strings.Contains(string(raw), "application/pkcs7-signature") {
		t.Fatal("signed although internal_domains is empty")
	}

	// serve refuses an empty file outright (exit 2).
	empty := writeTemp(t, []byte("\n"))
	cmd := exec.Command(binary, "serve", "--config", empty)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("serve with an empty config: %v, want exit 2\n%s", err, out)
	}
	mustContain(t, string(out), "is empty")
}

// With a relayhost, Postfix looks up the TLS policy of the relay, never of
// the partner: a require_tls rule would silently not hold. config check,
// serve and postfix-config read the real Postfix config with postconf
// (MAIL_CONFIG points it at the test instance) and say so.
func TestRequireTLSBehindRelayhostIsReported(t *testing.T) {
	if _, err := exec.LookPath("postconf"); err != nil {
		t.Fatalf("postconf not installed (scripts/install-deps.sh installs postfix): %v", err)
	}
	d := newDaemon(t)
	d.WriteConfig(d.BaseConfig() + "policy:\n  rules:\n    - name: partner-tls\n      recipients: [\"*@partner.example\"]\n      require_tls: true\n")
	pf := postfixtest.Start(t, d.PostfixOptions())
	env := append(cleanEnv(), "MAIL_CONFIG="+pf.ConfigDir)
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(binary, append(args, "--config", d.ConfigFile)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}

	// Direct delivery: no warning, and the policy map is printed.
	if out := cli("config", "check"); strings.Contains(out, "NOT enforced") {
		t.Fatalf("warning without a relayhost:\n%s", out)
	}
	mustContain(t, cli("postfix-config"), "smtp_tls_policy_maps = socketmap:inet:"+d.Socketmap+":tlspolicy")

	postconf(t, pf, "-e", "relayhost = [127.0.0.1]:2525")
	want := "relayhost = [127.0.0.1]:2525: all outbound mail goes to that relay"
	out := cli("config", "check")
	mustContain(t, out, "warning: Postfix "+want)
	mustContain(t, out, "require_tls rules (partner-tls) are NOT enforced")
	mustContain(t, cli("postfix-config"), "# WARNING: Postfix "+want)

	cmd := exec.Command(binary, "serve", "--config", d.ConfigFile)
	cmd.Env = env
	logf, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(logf.Name())
		if strings.Contains(string(b), "mailseal serving") {
			mustContain(t, string(b), "level=WARN msg=\"require_tls not enforced: Postfix "+want)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Every file mailseal leaves in its state dir is private, SQLite's -wal and
// -shm included, and a state dir others may write is tightened.
func TestStateFilesArePrivate(t *testing.T) {
	d := newDaemon(t)
	if err := os.MkdirAll(d.StateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d.StateDir, 0o777); err != nil {
		t.Fatal(err)
	}
	d.Start()
	pf := postfixtest.Start(t, d.PostfixOptions())
	from, rcpt := "alice@corp.example", "bob@partner.example"
	if err := pf.Send(t, postfixtest.Mail{From: from, To: []string{rcpt}, Data: plainMail(from, rcpt, "modes"), SourceIP: trustedIP}); err != nil {
		t.Fatal(err)
	}
	pf.WaitDelivered(t, rcpt, 1, deliveryTimeout)
	fi, err := os.Stat(d.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("state dir mode %04o, want 0700", perm)
	}
	entries, err := os.ReadDir(d.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		seen[e.Name()] = true
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %04o: group or others may read it", e.Name(), perm)
		}
	}
	for _, name := range []string{"mailseal.db-wal", "mailseal.db-shm", "master.key"} {
		if !seen[name] {
			t.Errorf("no %s in the state dir (have %v)", name, seen)
		}
	}
	mustContain(t, d.Log(), "state dir was accessible by group or others; tightened")
}

func healthz(t *testing.T, d *daemon) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + d.Admin + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A store deleted under the running daemon makes /healthz answer 503; a
// restart does not quietly create a new CA but refuses and says how to
// restore. Putting the store back brings everything back.
func TestDeletedStoreIsReportedAndNotReplaced(t *testing.T) {
	d := newDaemon(t)
	d.Start()
	caBefore, err := os.ReadFile(d.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(d.StateDir, "mailseal.db")
	backup := filepath.Join(d.Dir, "backup")
	if err := os.Mkdir(backup, 0o700); err != nil {
		t.Fatal(err)
	}
	if code, body := healthz(t, d); code != 200 {
		t.Fatalf("healthz %d %s", code, body)
	}
	// "Deleted": the files move out of the state dir.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Rename(db+suffix, filepath.Join(backup, "mailseal.db"+suffix)); err != nil {
			t.Fatal(err)
		}
	}
	code, body := healthz(t, d)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "mailseal.db") {
		t.Fatalf("healthz with the store deleted: %d %s", code, body)
	}
	d.Stop()

	cmd := exec.Command(binary, "serve", "--config", d.ConfigFile)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("serve without its store: %v, want exit 1\n%s", err, out)
	}
	mustContain(t, string(out), "not a first start")
	mustContain(t, string(out), "Restore it from backup")
	if _, err := os.Stat(db); err == nil {
		t.Fatal("serve created a new store")
	}

	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Rename(filepath.Join(backup, "mailseal.db"+suffix), db+suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	d.Start()
	caAfter, err := os.ReadFile(d.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if string(caAfter) != string(caBefore) {
		t.Fatal("the restored store serves another CA")
	}
}

// The operator's view of one day: the start summary, WARN for what was
// refused or tempfailed, the queue ID of each re-injected copy as Postfix
// logs it, the new metrics, and a fatal listen error naming its key in the
// configured (JSON) format.
func TestOperatorLogsAndMetrics(t *testing.T) {
	flaky := map[string]string{
		"smtpd_restriction_classes":    "flaky",
		"flaky":                        "check_recipient_access inline:{ { flaky@other.example = DEFER_IF_PERMIT try later } }",
		"smtpd_recipient_restrictions": "check_helo_access inline:{ { " + authservID + " = flaky } }, permit_mynetworks, reject_unauth_destination",
	}
	d, pf := setupPolicy(t, partnerRules, flaky)

	// Start summary: the master key to back up, the CA fingerprint as
	// openssl computes it, and the next step.
	log := d.Log()
	mustContain(t, log, `level=WARN msg="master key created: back it up now`)
	mustContain(t, log, "file="+filepath.Join(d.StateDir, "master.key"))
	mustContain(t, log, "next step: run `mailseal postfix-config --config "+d.ConfigFile+"`")
	fp, err := exec.Command("openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", d.CAFile()).Output()
	if err != nil {
		t.Fatal(err)
	}
	_, hexfp, _ := strings.Cut(strings.TrimSpace(string(fp)), "=")
	mustContain(t, log, "ca_fingerprint_sha256="+hexfp)

	// bob is refused at RCPT; eve's copy (signed, carol's stays unsigned
	// in place) is re-injected. Then flaky's copy is deferred by the
	// listener, so that message is tempfailed. (Signed Bcc recipients share
	// one copy, so they go in two messages.)
	msg := mailTo("alice@corp.example", []string{"carol@plain.example"}, "Ops")
	pf.Submit(postfixtest.Mail{From: "alice@corp.example", To: []string{"carol@plain.example", "bob@partner.example", "eve@other.example"}, Data: msg, SourceIP: trustedIP})
	pf.WaitDelivered(t, "eve@other.example", 1, deliveryTimeout)
	msg = mailTo("alice@corp.example", []string{"carol@plain.example"}, "Ops again")
	pf.Submit(postfixtest.Mail{From: "alice@corp.example", To: []string{"carol@plain.example", "flaky@other.example"}, Data: msg, SourceIP: trustedIP})
	d.WaitLog(`reply="451`, 10*time.Second)
	log = d.Log()
	mustContain(t, log, `level=WARN msg="recipient refused"`)
	mustContain(t, log, `level=WARN msg=message`)
	id := regexp.MustCompile(`msg="reinject: copy queued" copy_queue_id=([0-9A-Za-z]+) from=alice@corp.example rcpts=\[eve@other.example\]`).FindStringSubmatch(log)
	if id == nil {
		t.Fatalf("no queue ID logged for eve's copy:\n%s", log)
	}
	pf.WaitLog(t, id[1]+": to=<eve@other.example>", 30*time.Second)

	socketmapQuery(t, d.Socketmap, "tlspolicy", "nothing.example")
	metrics := d.Metrics()
	for _, want := range []string{
		`mailseal_build_info{goversion="go`,
		`mailseal_reinject_failures_total{kind="temporary"} 1`,
		`mailseal_socketmap_lookups_total{map="tlspolicy",result="notfound"} 1`,
		"mailseal_ca_expiry_timestamp_seconds ",
		"mailseal_certificate_soonest_expiry_timestamp_seconds ",
		"mailseal_certificate_renewal_failures_total 0",
		"# HELP mailseal_certificates_issued_total User certificates this process issued",
	} {
		mustContain(t, metrics, want)
	}

	// A second daemon on the same milter socket cannot listen: it says
	// which key, in JSON as configured, once.
	second := filepath.Join(d.Dir, "second.yaml")
	if err := os.WriteFile(second, []byte(strings.Replace(d.BaseConfig(), "  format: text\n", "", 1)+"  format: json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "serve", "--config", second)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("second serve: %v, want exit 1\n%s", err, out)
	}
	if !strings.Contains(string(out), `"level":"ERROR","msg":"mailseal cannot run","err":"listen: cannot listen on inet:`+d.Listen) {
		t.Fatalf("fatal error not logged as JSON naming the key:\n%s", out)
	}
	if strings.Count(string(out), "cannot listen") != 1 {
		t.Fatalf("fatal error printed more than once:\n%s", out)
	}
	if strings.Contains(string(out), "master key created") {
		t.Fatal("second start claims it created the master key")
	}
}

// `make install` puts the binary and both man pages where man finds them.
func TestMakeInstallsManPages(t *testing.T) {
	for _, tool := range []string{"make", "man"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (scripts/install-deps.sh)", tool)
		}
	}
	dest, build := t.TempDir(), t.TempDir()
	cmd := exec.Command("make", "-C", "..", "install", "DESTDIR="+dest, "PREFIX=/usr", "BUILDDIR="+build, "VERSION=test")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(dest, "usr/sbin/mailseal"), "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "mailseal test") {
		t.Fatalf("installed binary: %v %s", err, out)
	}
	for page, want := range map[string]string{
		"usr/share/man/man8/mailseal.8":      "EXIT STATUS",
		"usr/share/man/man5/mailseal.yaml.5": "MAILSEAL_INTERNAL_DOMAINS",
	} {
		man := exec.Command("man", "-l", filepath.Join(dest, page))
		man.Env = append(os.Environ(), "MANPAGER=cat", "MANWIDTH=100", "LC_ALL=C")
		text, err := man.CombinedOutput()
		if err != nil || !strings.Contains(string(text), want) {
			t.Errorf("man -l %s: %v\n%s", page, err, text)
		}
	}
}
