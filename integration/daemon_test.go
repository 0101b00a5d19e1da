package integration

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
	"github.com/mailseal/mailseal/pgsql/pgtest"
)

// binary is the real mailseal built once for all tests.
var binary string

// buildFlags go to `go build` of binary (hsm_test.go adds -tags pkcs11).
var buildFlags []string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mailseal-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mailseal")
	// Static, as `make` builds it: the container test puts this binary into
	// its images. A tagged build (pkcs11) needs cgo.
	build := exec.Command("go", append(append([]string{"build"}, buildFlags...), "-o", binary, "github.com/mailseal/mailseal/cmd/mailseal")...)
	if len(buildFlags) == 0 {
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mailseal:", err)
		os.Exit(1)
	}
	code := m.Run()
	pgtest.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// daemon is one real `mailseal serve` process.
type daemon struct {
	t          *testing.T
	Dir        string
	ConfigFile string
	StateDir   string
	Listen     string // host:port of the milter
	Admin      string
	Socketmap  string // host:port of the TLS policy socketmap
	// ReinjectPort is the port the Postfix of the test must open without
	// milters (postfixtest.Options.ReinjectPort) for split copies.
	ReinjectPort int
	// Prefix runs the daemon under a wrapper command, e.g. prlimit.
	Prefix  []string
	logFile string

	mu  sync.Mutex
	cmd *exec.Cmd
	out *os.File
}

// trustedIP is the only client address in trusted_networks; tests connect
// from untrustedIP to play an outside client.
var (
	trustedIP   = net.ParseIP("127.0.0.2")
	untrustedIP = net.ParseIP("127.0.0.3")
)

const authservID = "mx.corp.example"

// BaseConfig is the test config; tests append keys (e.g. a policy block).
func (d *daemon) BaseConfig() string {
	return fmt.Sprintf(`listen: inet:%s
admin_listen: %s
socketmap_listen: %s
reinject: 127.0.0.1:%d
state_dir: %s
authserv_id: %s
internal_domains: [corp.example]
trusted_networks: [127.0.0.2/32]
ca:
  key_type: rsa-2048
log:
  level: debug
`, d.Listen, d.Admin, d.Socketmap, d.ReinjectPort, d.StateDir, authservID)
}

func newDaemon(t *testing.T) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{
		t:          t,
		Dir:        dir,
		ConfigFile: filepath.Join(dir, "mailseal.yaml"),
		StateDir:   filepath.Join(dir, "state"),
		Listen:     fmt.Sprintf("127.0.0.1:%d", postfixtest.FreePort(t)),
		Admin:      fmt.Sprintf("127.0.0.1:%d", postfixtest.FreePort(t)),
		Socketmap:  fmt.Sprintf("127.0.0.1:%d", postfixtest.FreePort(t)),
		logFile:    filepath.Join(dir, "mailseal.log"),
	}
	d.ReinjectPort = postfixtest.FreePort(t)
	d.WriteConfig(d.BaseConfig())
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("--- mailseal log ---\n%s", d.Log())
		}
	})
	return d
}

func (d *daemon) MilterSocket() string { return "inet:" + d.Listen }

// PostfixOptions are the harness options for a Postfix that uses this daemon.
func (d *daemon) PostfixOptions() postfixtest.Options {
	return postfixtest.Options{Milter: d.MilterSocket(), ReinjectPort: d.ReinjectPort}
}

func (d *daemon) WriteConfig(body string) {
	d.t.Helper()
	if err := os.WriteFile(d.ConfigFile, []byte(body), 0o600); err != nil {
		d.t.Fatal(err)
	}
}

// Start runs `mailseal serve` and waits until the milter and admin ports answer.
func (d *daemon) Start() {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	out, err := os.OpenFile(d.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	args := append(append([]string(nil), d.Prefix...), binary, "serve", "--config", d.ConfigFile)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = cleanEnv()
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.cmd, d.out = cmd, out
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", d.Listen, time.Second)
		if err == nil {
			c.Close()
			if resp, err := http.Get("http://" + d.Admin + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("mailseal did not start within 60s\n%s", d.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop sends SIGTERM and requires a clean exit 0.
func (d *daemon) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			d.t.Errorf("mailseal exited with %v after SIGTERM", err)
		}
	case <-time.After(45 * time.Second):
		_ = d.cmd.Process.Kill()
		d.t.Errorf("mailseal did not exit within 45s of SIGTERM")
	}
	d.out.Close()
	d.cmd = nil
}

func (d *daemon) Signal(sig os.Signal) {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatal(err)
	}
}

func (d *daemon) Log() string {
	b, _ := os.ReadFile(d.logFile)
	return string(b)
}

// WaitLog waits until the daemon's log contains s.
func (d *daemon) WaitLog(s string, timeout time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(d.Log(), s) {
		if time.Now().After(deadline) {
			d.t.Fatalf("log never said %q:\n%s", s, d.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CLI runs a mailseal subcommand against the same config.
func (d *daemon) CLI(args ...string) (string, error) {
	cmd := exec.Command(binary, append(args, "--config", d.ConfigFile)...)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// CAFile writes the built-in CA certificate (as served over HTTP) to a file.
func (d *daemon) CAFile() string {
	d.t.Helper()
	resp, err := http.Get("http://" + d.Admin + "/ca.pem")
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	p := filepath.Join(d.Dir, "ca.pem")
	f, err := os.Create(p)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadFrom(resp.Body); err != nil {
		d.t.Fatal(err)
	}
	return p
}

func (d *daemon) Metrics() string {
	d.t.Helper()
	resp, err := http.Get("http://" + d.Admin + "/metrics")
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// cleanEnv drops MAILSEAL_* variables of the developer's shell so the test
// config alone decides.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MAILSEAL_") {
			env = append(env, kv)
		}
	}
	return env
}
