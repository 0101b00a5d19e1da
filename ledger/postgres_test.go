package ledger

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/mailseal/mailseal/pgsql/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// Two instances' ledgers on one database: a copy one recorded is seen by
// the other, and both forget it after the retention.
func TestPostgresLedgerShared(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	a, err := OpenPostgres(ctx, dsn, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenPostgres(ctx, dsn, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	a.now, b.now = clock, clock

	if ok, err := b.Seen(ctx, "msg1/rcpt-group-1"); err != nil || ok {
		t.Fatalf("before any record: Seen = %v, %v", ok, err)
	}
	if err := a.Record(ctx, "msg1/rcpt-group-1"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Seen(ctx, "msg1/rcpt-group-1"); err != nil || !ok {
		t.Fatalf("B does not see A's copy: %v, %v", ok, err)
	}
	if ok, err := b.Seen(ctx, "msg1/rcpt-group-2"); err != nil || ok {
		t.Fatalf("B sees a copy nobody sent: %v, %v", ok, err)
	}
	// Recording the same copy again (the other instance) is no error.
	if err := b.Record(ctx, "msg1/rcpt-group-1"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Hour)
	if ok, err := a.Seen(ctx, "msg1/rcpt-group-1"); err != nil || ok {
		t.Fatalf("after the retention: Seen = %v, %v", ok, err)
	}
	if err := b.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Len(ctx); err != nil || n != 0 {
		t.Fatalf("after purge: %d entries, %v", n, err)
	}
	// A third instance opening the existing table keeps what is there.
	if err := a.Record(ctx, "msg2/x"); err != nil {
		t.Fatal(err)
	}
	c, err := OpenPostgres(ctx, dsn, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, err := c.Seen(ctx, "msg2/x"); err != nil || !ok {
		t.Fatalf("reopened ledger lost a copy: %v, %v", ok, err)
	}
}

// Instances starting together all create the table without an error.
func TestPostgresLedgerConcurrentOpen(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			l, err := OpenPostgres(ctx, dsn, 0)
			if err == nil {
				l.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
