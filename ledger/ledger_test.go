package ledger

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLedger(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "copies.db")
	l, err := Open(ctx, path, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	l.now = func() time.Time { return now }
	steps := []struct {
		name    string
		record  string
		ask     string
		advance time.Duration
		want    bool
	}{
		{name: "unknown copy", ask: "a", want: false},
		{name: "recorded copy", record: "a", ask: "a", want: true},
		{name: "other copy", ask: "b", want: false},
		{name: "still known before the retention ends", advance: DefaultRetention - time.Minute, ask: "a", want: true},
		{name: "forgotten after the retention", advance: 2 * time.Minute, ask: "a", want: false},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		if s.record != "" {
			if err := l.Record(ctx, s.record); err != nil {
				t.Fatal(err)
			}
		}
		got, err := l.Seen(ctx, s.ask)
		if err != nil || got != s.want {
			t.Fatalf("%s: Seen(%q) = %v, %v; want %v", s.name, s.ask, got, err, s.want)
		}
	}
	if err := l.Record(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	l.Close()

	// A restart keeps what was recorded.
	l2, err := Open(ctx, path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if ok, err := l2.Seen(ctx, "c"); err != nil || !ok {
		t.Fatalf("after reopen Seen(c) = %v, %v", ok, err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("ledger file mode %v", fi.Mode().Perm())
	}
}

// TestLedgerPurgesAfterRetention: entries stay for the whole retention
// period (a success does not remove them) and are deleted after it, so the
// file does not grow without bound.
func TestLedgerPurgesAfterRetention(t *testing.T) {
	ctx := context.Background()
	l, err := Open(ctx, filepath.Join(t.TempDir(), "copies.db"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := time.Unix(1_800_000_000, 0)
	l.now = func() time.Time { return now }
	for _, k := range []string{"a", "b", "c"} {
		if err := l.Record(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(59 * time.Minute)
	if err := l.Record(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if n, _ := l.Len(ctx); n != 4 {
		t.Fatalf("%d entries within the retention, want 4", n)
	}
	now = now.Add(2 * time.Minute) // a, b, c expire; d does not
	if err := l.Record(ctx, "e"); err != nil {
		t.Fatal(err)
	}
	if n, _ := l.Len(ctx); n != 2 {
		t.Fatalf("%d entries after a, b, c expired, want 2 (d, e)", n)
	}
	for k, want := range map[string]bool{"a": false, "d": true, "e": true} {
		if ok, err := l.Seen(ctx, k); err != nil || ok != want {
			t.Errorf("Seen(%s) = %v, %v; want %v", k, ok, err, want)
		}
	}
}

// TestLedgerOpenPurges: a restart after a long stop drops what expired
// meanwhile.
func TestLedgerOpenPurges(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "copies.db")
	l, err := Open(ctx, path, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Record(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.db.ExecContext(ctx, `UPDATE copies SET sent_at = sent_at - 7200`); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, err = Open(ctx, path, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if n, _ := l.Len(ctx); n != 0 {
		t.Fatalf("%d expired entries kept after reopening", n)
	}
}
