// Package ledger remembers which per-recipient copies of a message were
// already handed back to Postfix, so that a client's retry after a partial
// failure or a crash delivers each copy exactly once, also across a daemon
// restart.
package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/mailseal/mailseal/pgsql"
	_ "modernc.org/sqlite" // pure-Go driver "sqlite"
)

// DefaultRetention is how long a copy is remembered: Postfix's default
// maximal_queue_lifetime, the longest a client keeps retrying.
const DefaultRetention = 5 * 24 * time.Hour

// purgeEvery spaces out the deletion of expired entries: once a minute is
// plenty for a retention of hours or days, and keeps Record to one write.
const purgeEvery = time.Minute

// SQLite is a ledger in one SQLite file. A copy is remembered for the
// retention period whatever happens to its message afterwards: the ledger
// cannot tell a message accepted by Postfix from one whose reply was lost
// (a crash after the copies went out), so it never forgets early.
type SQLite struct {
	db        *sql.DB
	retention time.Duration
	now       func() time.Time

	mu         sync.Mutex
	lastPurged time.Time
}

// schema is the ledger's table, in SQLite's words (pgsql.DDL translates).
var schema = []string{
	`CREATE TABLE IF NOT EXISTS copies (key TEXT PRIMARY KEY, sent_at INTEGER NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS copies_sent_at ON copies (sent_at)`,
}

// Open opens (creating) the ledger at path. retention ≤ 0 means
// DefaultRetention. Entries older than retention are purged at once.
func Open(ctx context.Context, path string, retention time.Duration) (*SQLite, error) {
	if retention <= 0 {
		retention = DefaultRetention
	}
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_journal_mode", "WAL")
	// NORMAL in WAL mode: a commit survives the process being killed (the
	// WAL is in the OS page cache); only a power loss may lose the last ones.
	q.Set("_synchronous", "NORMAL")
	dsn := (&url.URL{Scheme: "file", OmitHost: true, Path: path, RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", path, err)
	}
	for _, stmt := range schema {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			db.Close()
			return nil, fmt.Errorf("ledger: open %s: %w", path, err)
		}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger: %w", err)
	}
	l := &SQLite{db: db, retention: retention, now: time.Now}
	if err := l.Purge(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return l, nil
}

// Seen reports whether the copy was handed over within the retention period.
func (l *SQLite) Seen(ctx context.Context, key string) (bool, error) {
	var at int64
	err := l.db.QueryRowContext(ctx, `SELECT sent_at FROM copies WHERE key = ?`, key).Scan(&at)
	if err == sql.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ledger: look up copy: %w", err)
	}
	return l.now().Sub(time.Unix(at, 0)) < l.retention, nil
}

// Record notes that the copy was handed over now. At most once a minute it
// also purges entries older than the retention period, so the file stays
// small; a failed purge does not fail the record.
func (l *SQLite) Record(ctx context.Context, key string) error {
	now := l.now()
	if _, err := l.db.ExecContext(ctx, `INSERT INTO copies (key, sent_at) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET sent_at = excluded.sent_at`, key, now.Unix()); err != nil {
		return fmt.Errorf("ledger: record copy: %w", err)
	}
	l.mu.Lock()
	due := now.Sub(l.lastPurged) >= purgeEvery
	l.mu.Unlock()
	if due {
		_ = l.Purge(ctx)
	}
	return nil
}

// Purge deletes entries older than the retention period.
func (l *SQLite) Purge(ctx context.Context) error {
	now := l.now()
	if _, err := l.db.ExecContext(ctx, `DELETE FROM copies WHERE sent_at < ?`, now.Add(-l.retention).Unix()); err != nil {
		return fmt.Errorf("ledger: purge expired copies: %w", err)
	}
	l.mu.Lock()
	l.lastPurged = now
	l.mu.Unlock()
	return nil
}

// Len returns the number of entries kept, expired or not.
func (l *SQLite) Len(ctx context.Context) (int, error) {
	var n int
	if err := l.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM copies`).Scan(&n); err != nil {
		return 0, fmt.Errorf("ledger: count copies: %w", err)
	}
	return n, nil
}

// Close closes the database.
func (l *SQLite) Close() error { return l.db.Close() }

// Postgres is the ledger in a PostgreSQL database shared by several
// instances: a copy recorded by one instance is seen by the others, so a
// client's retry that reaches another instance sends no copy twice. It
// runs the SQLite ledger's queries (package pgsql rewrites their
// placeholders); times are Unix seconds in both.
type Postgres struct{ *SQLite }

// OpenPostgres opens the ledger in the database dsn names, creating its
// table when missing. retention ≤ 0 means DefaultRetention.
func OpenPostgres(ctx context.Context, dsn string, retention time.Duration) (*Postgres, error) {
	if retention <= 0 {
		retention = DefaultRetention
	}
	db, err := pgsql.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	db.SetMaxOpenConns(8)
	if err := createPostgres(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger: open %s: %w", pgsql.Describe(dsn), err)
	}
	l := &SQLite{db: db, retention: retention, now: time.Now}
	if err := l.Purge(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return &Postgres{l}, nil
}

// createPostgres creates the table under a transaction-level advisory
// lock: PostgreSQL's CREATE … IF NOT EXISTS is not safe against another
// instance starting at the same moment.
func createPostgres(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, pgsql.LockKey("ledger schema")); err != nil {
		return err
	}
	for _, stmt := range schema {
		if _, err := tx.ExecContext(ctx, pgsql.DDL(stmt)); err != nil {
			return err
		}
	}
	return tx.Commit()
}
