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
	l, err := Open(ctx, path)
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
		{name: "still known before the TTL", advance: DefaultTTL - time.Minute, ask: "a", want: true},
		{name: "forgotten after the TTL", advance: 2 * time.Minute, ask: "a", want: false},
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
	l2, err := Open(ctx, path)
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
