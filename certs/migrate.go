package certs

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migration is one schema step. Steps are applied in order, each in its own
// transaction together with its row in schema_migrations.
type migration struct {
	version int
	name    string
	sql     []string
}

var sqliteMigrations = []migration{
	{version: 1, name: "initial schema", sql: []string{
		`CREATE TABLE ca (
			name       TEXT PRIMARY KEY,
			cert_der   BLOB NOT NULL,
			key_sealed BLOB NOT NULL,
			created_at INTEGER NOT NULL
		)`,
		`CREATE TABLE certificates (
			id                INTEGER PRIMARY KEY AUTOINCREMENT,
			email             TEXT NOT NULL,
			serial            TEXT NOT NULL UNIQUE,
			cert_der          BLOB NOT NULL,
			chain_der         BLOB NOT NULL,
			key_sealed        BLOB NOT NULL,
			key_type          TEXT NOT NULL,
			not_before        INTEGER NOT NULL,
			not_after         INTEGER NOT NULL,
			revoked_at        INTEGER,
			revocation_reason INTEGER,
			created_at        INTEGER NOT NULL
		)`,
		`CREATE INDEX certificates_email_id ON certificates (email, id)`,
		`CREATE INDEX certificates_revoked ON certificates (revoked_at) WHERE revoked_at IS NOT NULL`,
		`CREATE TABLE issuance_leases (
			email      TEXT PRIMARY KEY,
			holder     TEXT NOT NULL,
			expires_at INTEGER NOT NULL
		)`,
		`CREATE TABLE counters (
			name  TEXT PRIMARY KEY,
			value INTEGER NOT NULL
		)`,
	}},
	{version: 2, name: "internal users' OpenPGP keys", sql: []string{
		`CREATE TABLE user_pgp_keys (
			id             INTEGER PRIMARY KEY AUTOINCREMENT,
			email          TEXT NOT NULL,
			fingerprint    TEXT NOT NULL UNIQUE,
			key_type       TEXT NOT NULL,
			public_armored TEXT NOT NULL,
			private_sealed BLOB NOT NULL,
			created_at     INTEGER NOT NULL,
			expires_at     INTEGER NOT NULL,
			revoked_at     INTEGER
		)`,
		`CREATE INDEX user_pgp_keys_email_id ON user_pgp_keys (email, id)`,
	}},
	// Partner key directory: addresses in their own tables so that a lookup
	// by address is an index scan in SQLite and PostgreSQL alike. (Version 2
	// is the internal users' OpenPGP keys, built alongside.)
	{version: 3, name: "partner key directory", sql: []string{
		`CREATE TABLE partner_certs (
			id          INTEGER PRIMARY KEY AUTOINCREMENT,
			fingerprint TEXT NOT NULL UNIQUE,
			cert_der    BLOB NOT NULL,
			subject     TEXT NOT NULL,
			not_before  INTEGER NOT NULL,
			not_after   INTEGER NOT NULL,
			provenance  TEXT NOT NULL,
			trust       TEXT NOT NULL,
			added_at    INTEGER NOT NULL,
			removed_at  INTEGER
		)`,
		`CREATE TABLE partner_cert_emails (
			cert_id INTEGER NOT NULL REFERENCES partner_certs (id) ON DELETE CASCADE,
			email   TEXT NOT NULL,
			PRIMARY KEY (cert_id, email)
		)`,
		`CREATE INDEX external_cert_emails_email ON partner_cert_emails (email)`,
		`CREATE TABLE partner_pgp_keys (
			id          INTEGER PRIMARY KEY AUTOINCREMENT,
			fingerprint TEXT NOT NULL UNIQUE,
			key_data    BLOB NOT NULL,
			created_at  INTEGER NOT NULL,
			expires_at  INTEGER,
			provenance  TEXT NOT NULL,
			trust       TEXT NOT NULL,
			added_at    INTEGER NOT NULL,
			removed_at  INTEGER
		)`,
		`CREATE TABLE partner_pgp_key_emails (
			key_id INTEGER NOT NULL REFERENCES partner_pgp_keys (id) ON DELETE CASCADE,
			email  TEXT NOT NULL,
			PRIMARY KEY (key_id, email)
		)`,
		`CREATE INDEX pgp_key_emails_email ON partner_pgp_key_emails (email)`,
	}},
	// Per-recipient passwords for PDF fallback with pdf.password_delivery:
	// fixed, sealed under the master key like private keys.
	{version: 4, name: "fixed PDF passwords", sql: []string{
		`CREATE TABLE pdf_passwords (
			address    TEXT PRIMARY KEY,
			sealed     BLOB NOT NULL,
			updated_at INTEGER NOT NULL
		)`,
	}},
	// Harvesting from signed inbound mail: the SMIMECapabilities a partner
	// announced in a verified signature (DER, NULL when none), and when a
	// verified signature last showed the certificate.
	{version: 5, name: "harvested certificates", sql: []string{
		`ALTER TABLE partner_certs ADD COLUMN capabilities BLOB`,
		`ALTER TABLE partner_certs ADD COLUMN seen_at INTEGER`,
	}},
}

// migrate brings db up to the newest schema. It is idempotent and safe when
// several processes open the same database: each step runs in an immediate
// transaction that re-reads the current version first.
func migrate(ctx context.Context, db migrator, steps []migration, now time.Time) error {
	if _, err := db.ExecContext(ctx, schemaMigrationsDDL); err != nil {
		return fmt.Errorf("certs: migrate: %w", err)
	}
	latest := 0
	for _, m := range steps {
		latest = max(latest, m.version)
	}
	for _, m := range steps {
		if err := applyMigration(ctx, db, m, latest, now); err != nil {
			return err
		}
	}
	return nil
}

// schemaMigrationsDDL creates the version table (PostgreSQL: translated
// and created before migrate runs).
const schemaMigrationsDDL = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	)`

// migrator is a *sql.DB, or the *sql.Conn that holds PostgreSQL's
// migration lock.
type migrator interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

func applyMigration(ctx context.Context, db migrator, m migration, latest int, now time.Time) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("certs: migrate to %d: %w", m.version, err)
	}
	defer tx.Rollback()
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("certs: migrate: read version: %w", err)
	}
	if current > latest {
		return fmt.Errorf("certs: database schema version %d is newer than this program knows (%d): upgrade mailseal", current, latest)
	}
	if current >= m.version {
		return nil
	}
	for _, stmt := range m.sql {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("certs: migrate to %d (%s): %w", m.version, m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, now.Unix()); err != nil {
		return fmt.Errorf("certs: migrate to %d: record version: %w", m.version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("certs: migrate to %d: commit: %w", m.version, err)
	}
	return nil
}
