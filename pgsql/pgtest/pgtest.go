// Package pgtest runs a private PostgreSQL cluster for tests: initdb into
// a temporary directory (as the postgres user when the tests run as root,
// since initdb refuses root), the server on a free loopback port with its
// socket in that directory, and one fresh database per test. The shared
// cluster starts once per test binary, on first use; call Stop from
// TestMain (the server also dies with the test process). A test that takes
// PostgreSQL down makes its own cluster with New, so the tests sharing the
// other one never notice.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

type cluster struct {
	dir      string
	bin      string
	data     string
	port     int
	password string
	cred     *syscall.Credential

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

var (
	once    sync.Once
	current *cluster
	skipMsg string
	failErr error
	dbSeq   atomic.Int64
)

// DSN returns the DSN of a new, empty database for t (skipping t when
// PostgreSQL cannot run here at all).
func DSN(t testing.TB) string {
	t.Helper()
	return start(t).newDB(t)
}

func (c *cluster) newDB(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.dsn("postgres"))
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	return c.dsn(name)
}

// Password is the superuser password of the running cluster (for tests
// that write it to a file themselves).
func Password(t testing.TB) string { return start(t).password }

// Terminate ends the server sessions whose application_name is app, as a
// crash of the client would (for leader take-over tests).
func Terminate(t testing.TB, app string) int {
	t.Helper()
	c := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.dsn("postgres"))
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
		t.Fatalf("pgtest: terminate %s: %v", app, err)
	}
	return n
}

func (c *cluster) dsn(db string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=postgres password=%s dbname=%s sslmode=disable", c.port, c.password, db)
}

func start(t testing.TB) *cluster {
	t.Helper()
	once.Do(func() {
		current, skipMsg, failErr = boot()
	})
	if skipMsg != "" {
		t.Skip(skipMsg)
	}
	if failErr != nil {
		t.Fatalf("pgtest: %v", failErr)
	}
	return current
}

// Stop shuts the shared cluster down and removes its directory.
func Stop() {
	c := current
	if c == nil {
		return
	}
	c.shutdown()
	os.RemoveAll(c.dir)
}

// shutdown stops the server (fast shutdown: sessions are cut, nothing
// waits for clients) and waits for it to exit.
func (c *cluster) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	c.cmd = nil
}

// Cluster is a private PostgreSQL cluster a test may stop and start.
type Cluster struct{ c *cluster }

// New starts a private cluster for t alone (skipping t when PostgreSQL
// cannot run here at all); it is stopped and removed when t ends.
func New(t testing.TB) *Cluster {
	t.Helper()
	c, skip, err := boot()
	if skip != "" {
		t.Skip(skip)
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		c.shutdown()
		os.RemoveAll(c.dir)
	})
	return &Cluster{c}
}

// DSN returns the DSN of a new, empty database in the cluster.
func (p *Cluster) DSN(t testing.TB) string {
	t.Helper()
	return p.c.newDB(t)
}

// Stop shuts the server down (fast shutdown, as `pg_ctl stop -m fast`):
// every client session is cut and new connections are refused.
func (p *Cluster) Stop() { p.c.shutdown() }

// Start starts the stopped server again on the same port and data
// directory and waits until it accepts connections.
func (p *Cluster) Start(t testing.TB) {
	t.Helper()
	if err := p.c.run(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// Log is the server's log so far.
func (p *Cluster) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.c.dir, "postgres.log"))
	return string(b)
}

func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { // highest major version first
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server binary (install the postgresql package: scripts/deps.d/20-postgresql.sh)")
}

func boot() (*cluster, string, error) {
	bin, err := binDir()
	if err != nil {
		if os.Geteuid() != 0 {
			return nil, "PostgreSQL is not installed and installing it needs root: " + err.Error(), nil
		}
		return nil, "", err
	}
	var cred *syscall.Credential
	var uid, gid = -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, "", fmt.Errorf("initdb refuses root and there is no postgres user: %w", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	// As root the server runs as postgres, which must reach the directory:
	// a TMPDIR under root's home would not do, /tmp always does.
	parent := ""
	if cred != nil {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "mailseal-pg-")
	if err != nil {
		return nil, "", err
	}
	fail := func(err error) (*cluster, string, error) {
		os.RemoveAll(dir)
		return nil, "", err
	}
	c := &cluster{dir: dir, password: fmt.Sprintf("pgtest-%d-%d", os.Getpid(), time.Now().UnixNano())}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(c.password+"\n"), 0o600); err != nil {
		return fail(err)
	}
	if cred != nil {
		for _, p := range []string{dir, pwfile} {
			if err := os.Chown(p, uid, gid); err != nil {
				return fail(err)
			}
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-E", "UTF8",
		"--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile="+pwfile)
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %v\n%s", err, out))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	c.bin, c.data, c.cred = bin, data, cred
	if err := c.run(); err != nil {
		return fail(err)
	}
	return c, "", nil
}

// run starts the server on c's port and waits until it accepts connections.
func (c *cluster) run() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return errors.New("postgres is running already")
	}
	logf, err := os.OpenFile(filepath.Join(c.dir, "postgres.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), "-D", c.data, "-k", c.dir, "-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=300", "-c", "shared_buffers=32MB")
	// The server dies with the test process even when Stop is never called.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGQUIT}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = c.dir
	exited := make(chan struct{})
	startErr := make(chan error, 1)
	// Pdeathsig fires when the starting thread ends: start from a thread
	// that never does.
	go func() {
		runtime.LockOSThread()
		err := cmd.Start()
		startErr <- err
		if err != nil {
			return
		}
		cmd.Wait()
		close(exited)
		select {} // keep the thread
	}()
	if err := <-startErr; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	readLog := func() string {
		b, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
		return string(b)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, c.dsn("postgres"))
		if err == nil {
			conn.Close(ctx)
			cancel()
			break
		}
		cancel()
		select {
		case <-exited:
			return fmt.Errorf("postgres exited at start:\n%s", readLog())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("postgres did not accept connections: %v\n%s", err, readLog())
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.cmd, c.exited = cmd, exited
	return nil
}
