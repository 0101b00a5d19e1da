package certs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPingNoticesBrokenStore(t *testing.T) {
	ctx := context.Background()
	opts := testOptions(t, newFakeClock())
	m := openTest(t, opts)
	db := filepath.Join(opts.StateDir, databaseFileName)
	if err := m.Ping(ctx); err != nil {
		t.Fatalf("healthy store: %v", err)
	}

	if err := os.Rename(db, db+".away"); err != nil {
		t.Fatal(err)
	}
	if err := m.Ping(ctx); err == nil || !strings.Contains(err.Error(), "deleted?") {
		t.Fatalf("Ping with the store file gone = %v", err)
	}
	if err := os.Rename(db+".away", db); err != nil {
		t.Fatal(err)
	}
	if err := m.Ping(ctx); err != nil {
		t.Fatalf("store back in place: %v", err)
	}

	// Another store (another CA) copied over the file.
	other := testOptions(t, newFakeClock())
	openTest(t, other).Close()
	raw, err := os.ReadFile(filepath.Join(other.StateDir, databaseFileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db+".new", raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(db+".new", db); err != nil {
		t.Fatal(err)
	}
	if err := m.Ping(ctx); err == nil || !strings.Contains(err.Error(), "replaced") {
		t.Fatalf("Ping with the store file replaced = %v", err)
	}
}

func TestCheckDiskSpace(t *testing.T) {
	dir := t.TempDir()
	if err := CheckDiskSpace(dir, 1); err != nil {
		t.Fatalf("1 byte needed: %v", err)
	}
	if err := CheckDiskSpace(dir, 1<<62); err == nil || !strings.Contains(err.Error(), "is full") {
		t.Fatalf("4 EiB needed: %v", err)
	}
	if err := CheckDiskSpace(filepath.Join(dir, "missing"), 1); err == nil {
		t.Fatal("no error for a missing dir")
	}
}

func TestStateDirIsTightened(t *testing.T) {
	opts := testOptions(t, newFakeClock())
	if err := os.Chmod(opts.StateDir, 0o777); err != nil {
		t.Fatal(err)
	}
	openTest(t, opts)
	fi, err := os.Stat(opts.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Fatalf("state dir mode %04o after Open, want 0700", perm)
	}
}

func TestPingNoticesMalformedStore(t *testing.T) {
	opts := testOptions(t, newFakeClock())
	m := openTest(t, opts)
	db := filepath.Join(opts.StateDir, databaseFileName)
	f, err := os.OpenFile(db, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Garbage over the file in place (same inode): a disk or copy gone wrong.
	if _, err := f.WriteAt(bytes.Repeat([]byte("garbage!"), 4096), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := m.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Fatalf("Ping on a malformed store = %v", err)
	}
}
