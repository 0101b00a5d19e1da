package certs

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mailseal/mailseal/pgsql/pgtest"
)

// fakeClock is an adjustable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 15, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testOptions returns options for a fresh state dir with a fast key type and
// a fake clock.
func testOptions(t *testing.T, clock *fakeClock) Options {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	opts := Options{
		StateDir: dir,
		KeyType:  KeyECDSAP256,
		CRLURL:   "http://127.0.0.1:8892/ca.crl",
		Now:      clock.Now,
		Logger:   slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if testOnPostgres {
		opts.Store = openTestPostgres(t, pgtest.DSN(t), clock)
	}
	return opts
}

// openTest opens a Manager and closes it at the end of the test.
func openTest(t *testing.T, opts Options) *Manager {
	t.Helper()
	m, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
