// Package ledger remembers which per-recipient copies of a message were
// already handed back to Postfix, so that a client's retry after a partial
// failure delivers each copy exactly once, also across a daemon restart.
package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"time"

	_ "modernc.org/sqlite" // pure-Go driver "sqlite"
)

// DefaultTTL is how long a copy is remembered: Postfix's default
// maximal_queue_lifetime, the longest a client keeps retrying.
const DefaultTTL = 5 * 24 * time.Hour

// SQLite is a ledger in one SQLite file.
type SQLite struct {
	db  *sql.DB
	ttl time.Duration
	now func() time.Time
}

// Open opens (creating) the ledger at path.
func Open(ctx context.Context, path string) (*SQLite, error) {
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	dsn := (&url.URL{Scheme: "file", OmitHost: true, Path: path, RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS copies (
		key TEXT PRIMARY KEY, sent_at INTEGER NOT NULL)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger: open %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return &SQLite{db: db, ttl: DefaultTTL, now: time.Now}, nil
}

// Seen reports whether the copy was handed over within the TTL.
func (l *SQLite) Seen(ctx context.Context, key string) (bool, error) {
	var at int64
	err := l.db.QueryRowContext(ctx, `SELECT sent_at FROM copies WHERE key = ?`, key).Scan(&at)
	if err == sql.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ledger: look up copy: %w", err)
	}
	return l.now().Sub(time.Unix(at, 0)) < l.ttl, nil
}

// Record notes that the copy was handed over now; it also forgets entries
// older than the TTL, so the file stays small.
func (l *SQLite) Record(ctx context.Context, key string) error {
	now := l.now()
	if _, err := l.db.ExecContext(ctx, `INSERT INTO copies (key, sent_at) VALUES (?, ?)
		ON CONFLICT(key) DO UPDATE SET sent_at = excluded.sent_at`, key, now.Unix()); err != nil {
		return fmt.Errorf("ledger: record copy: %w", err)
	}
	if _, err := l.db.ExecContext(ctx, `DELETE FROM copies WHERE sent_at < ?`, now.Add(-l.ttl).Unix()); err != nil {
		return fmt.Errorf("ledger: expire copies: %w", err)
	}
	return nil
}

// Forget drops a copy once its message was accepted as a whole: a later
// identical message is new, not a retry.
func (l *SQLite) Forget(ctx context.Context, key string) error {
	if _, err := l.db.ExecContext(ctx, `DELETE FROM copies WHERE key = ?`, key); err != nil {
		return fmt.Errorf("ledger: forget copy: %w", err)
	}
	return nil
}

// Close closes the database.
func (l *SQLite) Close() error { return l.db.Close() }
