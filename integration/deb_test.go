package integration

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// Paths the package installs (packaging/nfpm.yaml).
const (
	debBinary    = "/usr/sbin/mailseal"
	debConfig    = "/etc/mailseal/mailseal.yaml"
	debUnit      = "/lib/systemd/system/mailseal.service"
	debStateDir  = "/var/lib/mailseal"
	debMan8      = "/usr/share/man/man8/mailseal.8.gz"
	debMan5      = "/usr/share/man/man5/mailseal.yaml.5.gz"
	debDocDir    = "/usr/share/doc/mailseal"
	debBackupDir = "/var/backups"
)

// TestDebianPackage builds the .deb (packaging/build-deb.sh, nfpm), installs
// it with dpkg on this machine, runs the installed binary the way the
// installed unit would (systemd is not PID 1 in CI, and a real service on the
// default ports could clash with other tests), sends a mail through a private
// Postfix wired to it and checks it leaves signed. Then `dpkg --remove` keeps
// the config, the user and the CA; a reinstall continues with the same CA;
// `dpkg --purge` removes everything and parks the state (CA and master key)
// in /var/backups.
func TestDebianPackage(t *testing.T) {
	if os.Geteuid() != 0 {
		skipUnlessRequired(t, "installs a .deb with dpkg and creates a system user: needs root (CI runs as root)")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query", "adduser", "deluser", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipUnlessRequired(t, "not a Debian system (%s missing): the package test needs dpkg and adduser", tool)
		}
	}
	if err := postfixtest.Available(); err != nil {
		skipUnlessRequired(t, "%v", err)
	}
	unlock := lockDebTest(t)
	defer unlock()
	if debKnown(t) {
		// Left over from an interrupted run of this test.
		dpkg(t, "--purge", "mailseal")
	}
	if _, err := user.Lookup("mailseal"); err == nil {
		t.Skip("a user mailseal exists that the package did not create: the test would take it over and delete it on purge")
	}
	backupsBefore := stateBackups(t)
	t.Cleanup(func() {
		if debKnown(t) {
			dpkg(t, "--purge", "mailseal")
		}
		for b := range stateBackups(t) {
			if !backupsBefore[b] {
				os.RemoveAll(b)
			}
		}
	})

	deb := buildDeb(t)
	dpkg(t, "--install", deb)
	checkInstalledFiles(t)
	checkUnit(t)
	if out, err := asMailseal(t, debBinary, "config", "check", "--config", debConfig); err != nil {
		t.Fatalf("mailseal config check on the installed config: %v\n%s", err, out)
	}

	svc := startAsUnit(t)
	pf := postfixtest.Start(t, postfixtest.Options{Milter: "inet:" + svc.listen, ReinjectPort: svc.reinjectPort})
	caPEM := svc.sendSigned(t, pf, "bob@partner.example")
	svc.reload(t)
	svc.stop(t)
	for _, f := range []string{"master.key", "mailseal.db", "copies.db"} {
		checkOwnedByMailseal(t, filepath.Join(debStateDir, f), 0o600)
	}
	if out, err := asMailseal(t, debBinary, "ca", "cert", "--config", debConfig); err != nil || out != string(caPEM) {
		t.Fatalf("mailseal ca cert as the service user (err %v) differs from the CA the daemon signed with:\n%s", err, out)
	}

	// Upgrade path (dpkg -i over the installed package): a local change to
	// the conffile, its permissions and the state survive.
	orig, err := os.ReadFile(debConfig)
	if err != nil {
		t.Fatal(err)
	}
	edited := append(append([]byte(nil), orig...), "# a local change\n"...)
	if err := os.WriteFile(debConfig, edited, 0o640); err != nil {
		t.Fatal(err)
	}
	dpkg(t, "--install", deb)
	if got, _ := os.ReadFile(debConfig); !bytes.Equal(got, edited) {
		t.Error("reinstalling the package overwrote the edited /etc/mailseal/mailseal.yaml")
	}
	checkInstalledFiles(t)
	checkOwnedByMailseal(t, filepath.Join(debStateDir, "master.key"), 0o600)

	// remove: program gone, config, user and state (the CA) kept.
	dpkg(t, "--remove", "mailseal")
	for _, p := range []string{debBinary, debUnit, debMan8, debMan5} {
		mustNotExist(t, "after dpkg --remove", p)
	}
	for _, p := range []string{debConfig, filepath.Join(debStateDir, "master.key"), filepath.Join(debStateDir, "mailseal.db")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("dpkg --remove must keep %s: %v", p, err)
		}
	}
	if _, err := user.Lookup("mailseal"); err != nil {
		t.Errorf("dpkg --remove must keep the user mailseal: %v", err)
	}

	// Reinstall: the same CA signs again.
	dpkg(t, "--install", deb)
	svc = startAsUnit(t)
	pf2 := postfixtest.Start(t, postfixtest.Options{Milter: "inet:" + svc.listen, ReinjectPort: svc.reinjectPort})
	if again := svc.sendSigned(t, pf2, "carol@partner.example"); !bytes.Equal(again, caPEM) {
		t.Error("after remove and reinstall mailseal has another CA: the state directory was not kept")
	}
	svc.stop(t)

	// purge: everything gone; the state is parked root-only in /var/backups.
	dpkg(t, "--purge", "mailseal")
	if debKnown(t) {
		t.Error("dpkg-query still knows mailseal after --purge")
	}
	for _, p := range []string{debBinary, debUnit, debMan8, debMan5, debConfig, filepath.Dir(debConfig), debStateDir, debDocDir} {
		mustNotExist(t, "after dpkg --purge", p)
	}
	if _, err := user.Lookup("mailseal"); err == nil {
		t.Error("user mailseal still exists after dpkg --purge")
	}
	if _, err := user.LookupGroup("mailseal"); err == nil {
		t.Error("group mailseal still exists after dpkg --purge")
	}
	var parked []string
	for b := range stateBackups(t) {
		if !backupsBefore[b] {
			parked = append(parked, b)
		}
	}
	if len(parked) != 1 {
		t.Fatalf("purge should park the state in one new %s/mailseal-state-*, found %v", debBackupDir, parked)
	}
	fi, err := os.Stat(parked[0])
	if err != nil || fi.Mode().Perm() != 0o700 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("parked state %s must be a root-owned 0700 directory: %v %v", parked[0], fi.Mode(), err)
	}
	for _, f := range []string{"master.key", "mailseal.db"} {
		fi, err := os.Stat(filepath.Join(parked[0], f))
		if err != nil {
			t.Errorf("parked state lacks %s: %v", f, err)
		} else if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 || st.Gid != 0 {
			t.Errorf("parked %s is owned by %d:%d, want root (the user's uid is free again)", f, st.Uid, st.Gid)
		}
	}
}

// lockDebTest serialises this test across concurrent `go test` runs on the
// same machine (several worktrees): there is only one dpkg database.
func lockDebTest(t *testing.T) func() {
	if err := os.MkdirAll("/run/lock", 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile("/run/lock/mailseal-deb-test.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return func() { f.Close() }
}

// debKnown reports whether dpkg knows the package in any state (installed,
// or removed with its conffiles left).
func debKnown(t *testing.T) bool {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", "mailseal").Output()
	return err == nil && !strings.Contains(string(out), "not-installed")
}

// dpkg runs dpkg, waiting while another dpkg or apt holds the lock (other
// engineers install packages on the same machine).
func dpkg(t *testing.T, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	for {
		cmd := exec.Command("dpkg", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Logf("dpkg %s:\n%s", strings.Join(args, " "), out)
			return string(out)
		}
		if strings.Contains(string(out), "lock") && time.Now().Before(deadline) {
			time.Sleep(2 * time.Second)
			continue
		}
		t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func stateBackups(t *testing.T) map[string]bool {
	m, err := filepath.Glob(filepath.Join(debBackupDir, "mailseal-state-*"))
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, p := range m {
		set[p] = true
	}
	return set
}

// buildDeb runs packaging/build-deb.sh (as `make deb` does) into a temp dir.
func buildDeb(t *testing.T) string {
	t.Helper()
	out := t.TempDir()
	cmd := exec.Command("sh", "../packaging/build-deb.sh", out)
	cmd.Env = append(cleanEnv(), "VERSION=1.0.0~test")
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("packaging/build-deb.sh: %v\n%s", err, res)
	}
	debs, _ := filepath.Glob(filepath.Join(out, "mailseal_*_amd64.deb"))
	if len(debs) != 1 {
		t.Fatalf("build-deb.sh made %v\n%s", debs, res)
	}
	info, err := exec.Command("dpkg-deb", "--field", debs[0], "Package", "Version", "Depends").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Package: mailseal", "Version: 1.0.0~test-1", "Depends: adduser"} {
		mustContain(t, string(info), want)
	}
	return debs[0]
}

func mustNotExist(t *testing.T, when, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s %s still exists (%v)", when, p, err)
	}
}

func mailseal(t *testing.T) (uid, gid int) {
	t.Helper()
	u, err := user.Lookup("mailseal")
	if err != nil {
		t.Fatalf("the package did not create the user mailseal: %v", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

func checkOwnedByMailseal(t *testing.T, p string, perm os.FileMode) {
	t.Helper()
	uid, gid := mailseal(t)
	fi, err := os.Stat(p)
	if err != nil {
		t.Errorf("%s: %v", p, err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if int(st.Uid) != uid || int(st.Gid) != gid || fi.Mode().Perm() != perm {
		t.Errorf("%s: owner %d:%d mode %04o, want mailseal (%d:%d) %04o", p, st.Uid, st.Gid, fi.Mode().Perm(), uid, gid, perm)
	}
}

func checkInstalledFiles(t *testing.T) {
	t.Helper()
	uid, gid := mailseal(t)
	u, _ := user.Lookup("mailseal")
	if uid >= 1000 || u.HomeDir != debStateDir {
		t.Errorf("user mailseal: uid %d home %s, want a system user (uid < 1000) with home %s", uid, u.HomeDir, debStateDir)
	}
	if pw, err := os.ReadFile("/etc/passwd"); err == nil {
		for _, line := range strings.Split(string(pw), "\n") {
			if strings.HasPrefix(line, "mailseal:") && !strings.HasSuffix(line, ":/usr/sbin/nologin") {
				t.Errorf("user mailseal may log in: %s", line)
			}
		}
	}

	// A static binary: no ELF interpreter, so it runs on any Linux.
	f, err := elf.Open(debBinary)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked (has PT_INTERP)", debBinary)
		}
	}
	f.Close()
	if out, err := exec.Command(debBinary, "version").CombinedOutput(); err != nil || !strings.Contains(string(out), "1.0.0~test") {
		t.Errorf("mailseal version: %v %s", err, out)
	}

	checkOwnedByMailseal(t, debStateDir, 0o700)
	fi, err := os.Stat(debConfig)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 || int(st.Gid) != gid || fi.Mode().Perm() != 0o640 {
		t.Errorf("%s: owner %d:%d mode %04o, want root:mailseal 0640", debConfig, st.Uid, st.Gid, fi.Mode().Perm())
	}
	conffiles, err := exec.Command("dpkg-query", "-W", "-f=${Conffiles}", "mailseal").Output()
	if err != nil || !strings.Contains(string(conffiles), debConfig) {
		t.Errorf("%s is not a conffile (dpkg-query: %v %q)", debConfig, err, conffiles)
	}
	cfg, _ := os.ReadFile(debConfig)
	mustContain(t, string(cfg), "\nstate_dir: \"/var/lib/mailseal\"")
	mustContain(t, string(cfg), "\n# Senders in these domains")

	for p, want := range map[string]string{debMan8: ".TH MAILSEAL 8", debMan5: ".TH MAILSEAL.YAML 5"} {
		f, err := os.Open(p)
		if err != nil {
			t.Errorf("man page: %v", err)
			continue
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Errorf("%s: %v", p, err)
		} else if b, _ := io.ReadAll(zr); !strings.Contains(strings.ToUpper(string(b)), want) {
			t.Errorf("%s lacks %q", p, want)
		}
		f.Close()
	}
	for _, doc := range []string{"README.md", "operations.md", "grafana/mailseal-dashboard.json"} {
		if _, err := os.Stat(filepath.Join(debDocDir, doc)); err != nil {
			t.Errorf("docs not installed: %v", err)
		}
	}
}

// unitDirectives parses the installed unit's [Service] section.
func unitDirectives(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(debUnit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			section = line
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") || section != "[Service]" {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		m[k] = append(m[k], v)
	}
	return m
}

func checkUnit(t *testing.T) {
	t.Helper()
	u := unitDirectives(t)
	for k, want := range map[string]string{
		"User": "mailseal", "Group": "mailseal",
		"ExecStart":               debBinary + " serve --config " + debConfig,
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"ProtectSystem":           "strict",
		"ReadWritePaths":          debStateDir,
		"StateDirectory":          "mailseal",
		"NoNewPrivileges":         "yes",
		"PrivateTmp":              "yes",
		"ProtectHome":             "yes",
		"CapabilityBoundingSet":   "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"MemoryDenyWriteExecute":  "yes",
		"LockPersonality":         "yes",
		"UMask":                   "0077",
		"Restart":                 "on-failure",
	} {
		if got := u[k]; len(got) != 1 || got[0] != want {
			t.Errorf("unit: %s=%q, want %q", k, got, want)
		}
	}
	if got := strings.Join(u["SystemCallFilter"], " "); !strings.Contains(got, "@system-service") {
		t.Errorf("unit: SystemCallFilter=%q lacks @system-service", got)
	}

	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze not installed: unit syntax not verified")
		return
	}
	out, err := exec.Command("systemd-analyze", "verify", debUnit).CombinedOutput()
	if err != nil {
		// verify also runs `man` for Documentation=; without man-db
		// installed that is the only complaint allowed.
		_, noMan := exec.LookPath("man")
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if noMan == nil || !strings.Contains(line, "Command 'man ") {
				t.Errorf("systemd-analyze verify %s: %v\n%s", debUnit, err, out)
				break
			}
		}
	} else if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("systemd-analyze verify warns:\n%s", s)
	}
	// The hardening as systemd scores it: "OK" is below 2.0 of 10.
	out, err = exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager", debUnit).CombinedOutput()
	if err != nil {
		t.Logf("systemd-analyze security --offline unsupported here: %v", err)
		return
	}
	last := strings.TrimSpace(string(out))
	last = last[strings.LastIndex(last, "\n")+1:]
	var level float64
	if _, err := fmt.Sscanf(last[strings.Index(last, ": ")+2:], "%g", &level); err != nil || level >= 2.0 {
		t.Errorf("systemd-analyze security: %q, want an exposure level below 2.0 (OK)", last)
	}
}

// asMailseal runs a command as the service user, as an admin would with
// `sudo -u mailseal` (the CLI must never create root-owned state files).
func asMailseal(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	uid, gid := mailseal(t)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	cmd.Env = append(cleanEnv(), "HOME="+debStateDir)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// unitService is the installed binary started as the installed unit says.
type unitService struct {
	cmd          *exec.Cmd
	log          string
	listen       string
	admin        string
	reinjectPort int
	exited       chan error
}

// startAsUnit runs the unit's ExecStart as its User= and Group= with the
// installed config. Only the listening ports (free loopback ports instead of
// the defaults, which a real service on this machine may hold) and the
// test's domains come from MAILSEAL_* variables.
func startAsUnit(t *testing.T) *unitService {
	t.Helper()
	u := unitDirectives(t)
	if u["User"][0] != "mailseal" || u["Group"][0] != "mailseal" {
		t.Fatalf("unit runs as %v:%v", u["User"], u["Group"])
	}
	argv := strings.Fields(u["ExecStart"][0])
	uid, gid := mailseal(t)
	s := &unitService{
		log:          filepath.Join(t.TempDir(), "mailseal.log"),
		listen:       fmt.Sprintf("127.0.0.1:%d", postfixtest.FreePort(t)),
		admin:        fmt.Sprintf("127.0.0.1:%d", postfixtest.FreePort(t)),
		reinjectPort: postfixtest.FreePort(t),
		exited:       make(chan error, 1),
	}
	logf, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Dir = "/"
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	s.cmd.Env = append(cleanEnv(), "HOME="+debStateDir, "USER=mailseal", "LOGNAME=mailseal",
		"MAILSEAL_LISTEN=inet:"+s.listen,
		"MAILSEAL_ADMIN_LISTEN="+s.admin,
		fmt.Sprintf("MAILSEAL_SOCKETMAP_LISTEN=127.0.0.1:%d", postfixtest.FreePort(t)),
		fmt.Sprintf("MAILSEAL_REINJECT=127.0.0.1:%d", s.reinjectPort),
		"MAILSEAL_INTERNAL_DOMAINS=corp.example",
		"MAILSEAL_TRUSTED_NETWORKS=127.0.0.2/32",
		"MAILSEAL_AUTHSERV_ID="+authservID,
		"MAILSEAL_CA_KEY_TYPE=rsa-2048",
	)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("--- installed mailseal's log ---\n%s", s.logText())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", s.listen, time.Second); err == nil {
			c.Close()
			if resp, err := http.Get("http://" + s.admin + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return s
				}
			}
		}
		select {
		case err := <-s.exited:
			t.Fatalf("installed mailseal exited at start: %v\n%s", err, s.logText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("installed mailseal did not start within 60s\n%s", s.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *unitService) logText() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

func (s *unitService) waitLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.logText(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("installed mailseal never logged %q:\n%s", want, s.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sendSigned sends one internal mail through pf and checks it leaves signed
// under the daemon's CA, which it returns (PEM).
func (s *unitService) sendSigned(t *testing.T, pf *postfixtest.Instance, rcpt string) []byte {
	t.Helper()
	from := "alice@corp.example"
	if err := pf.Send(t, postfixtest.Mail{From: from, To: []string{rcpt}, Data: plainMail(from, rcpt, "from the package"), SourceIP: trustedIP}); err != nil {
		t.Fatal(err)
	}
	raw := pf.WaitDelivered(t, rcpt, 1, deliveryTimeout)[0]
	resp, err := http.Get("http://" + s.admin + "/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, signer := opensslVerify(t, writeTemp(t, caPEM), raw)
	if len(signer.EmailAddresses) != 1 || signer.EmailAddresses[0] != from {
		t.Errorf("signed by %v, want %s", signer.EmailAddresses, from)
	}
	return caPEM
}

// reload does what the unit's ExecReload does.
func (s *unitService) reload(t *testing.T) {
	t.Helper()
	u := unitDirectives(t)
	if u["ExecReload"][0] != "/bin/kill -HUP $MAINPID" {
		t.Fatalf("unit ExecReload=%q", u["ExecReload"])
	}
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitLog(t, "configuration reloaded")
}

// stop does what systemctl stop does: SIGTERM, then wait (TimeoutStopSec).
func (s *unitService) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		if err != nil {
			t.Errorf("installed mailseal exited with %v after SIGTERM", err)
		}
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		t.Error("installed mailseal did not stop within TimeoutStopSec")
	}
}
