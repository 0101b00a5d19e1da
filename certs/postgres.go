package certs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/mailseal/mailseal/pgsql"
)

// PostgresStore is the Store on PostgreSQL, for several mailseal instances
// sharing one database. It runs the SQLite store's queries (package pgsql
// rewrites their placeholders) on the same migrations, translated by
// pgsql.DDL. Issuance leases are rows like on SQLite: PostgreSQL's
// INSERT … ON CONFLICT DO UPDATE … WHERE locks the lease row, so exactly
// one instance wins an unexpired lease and the others wait for its
// certificate.
type PostgresStore struct {
	*SQLiteStore
	dsn    string
	logger *slog.Logger
}

var _ Store = (*PostgresStore)(nil)

// migrationLock is the advisory lock that serialises migrations of
// instances starting at the same time.
var migrationLock = pgsql.LockKey("schema migrations")

// OpenPostgres connects to the database dsn names and applies pending
// migrations. log (nil: discard) reports leader changes.
func OpenPostgres(ctx context.Context, dsn string, now time.Time, log *slog.Logger) (*PostgresStore, error) {
	db, err := pgsql.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("certs: open store: %w", err)
	}
	db.SetMaxOpenConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	// One connection holds a session lock while migrating, so two
	// instances starting together do not both create the tables.
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("certs: open store: %w", err)
	}
	err = func() error {
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(?)`, migrationLock); err != nil {
			return fmt.Errorf("certs: migrate: lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(?)`, migrationLock)
		if _, err := conn.ExecContext(ctx, pgsql.DDL(schemaMigrationsDDL)); err != nil {
			return fmt.Errorf("certs: migrate: %w", err)
		}
		return migrate(ctx, conn, postgresMigrations(), now)
	}()
	if err != nil {
		db.Close()
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &PostgresStore{SQLiteStore: &SQLiteStore{db: db}, dsn: dsn, logger: log}, nil
}

// postgresMigrations is the SQLite migration list in PostgreSQL's types.
func postgresMigrations() []migration {
	out := make([]migration, len(sqliteMigrations))
	for i, m := range sqliteMigrations {
		out[i] = migration{version: m.version, name: m.name, sql: make([]string, len(m.sql))}
		for j, stmt := range m.sql {
			out[i].sql[j] = pgsql.DDL(stmt)
		}
	}
	return out
}

// RunAsLeader implements Leader: fn runs on one instance at a time.
func (s *PostgresStore) RunAsLeader(ctx context.Context, name string, fn func(ctx context.Context)) error {
	l := &pgsql.Leader{DSN: s.dsn, Logger: s.logger, Retry: leaderRetry}
	return l.Run(ctx, name, fn)
}

// leaderRetry is how often a standby instance tries to become leader
// (tests shorten it).
var leaderRetry = pgsql.DefaultLeaderRetry
