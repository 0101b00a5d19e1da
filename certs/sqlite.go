package certs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	_ "modernc.org/sqlite" // pure-Go driver "sqlite"
)

// SQLiteStore is the default Store: one SQLite file in WAL mode.
type SQLiteStore struct {
	db   *sql.DB
	path string
	file os.FileInfo // the file as opened, to notice it being deleted or replaced
}

var _ Store = (*SQLiteStore)(nil)

// OpenSQLite opens (creating if needed) the database at path, sets WAL mode
// and a busy timeout, and applies pending migrations.
func OpenSQLite(ctx context.Context, path string, now time.Time) (*SQLiteStore, error) {
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_txlock", "immediate")
	q.Set("_foreign_keys", "1")
	dsn := (&url.URL{Scheme: "file", OmitHost: true, Path: path, RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("certs: open store %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("certs: open store %s: %w", path, err)
	}
	// The database holds sealed keys only, but keep it private anyway.
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("certs: open store: %w", err)
	}
	if err := migrate(ctx, db, sqliteMigrations, now); err != nil {
		db.Close()
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("certs: open store: %w", err)
	}
	return &SQLiteStore{db: db, path: path, file: fi}, nil
}

// Close closes the database.
func (s *SQLiteStore) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("certs: close store: %w", err)
	}
	return nil
}

// CA implements Store.
func (s *SQLiteStore) CA(ctx context.Context, name string) (*CARecord, error) {
	rec := &CARecord{Name: name}
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT cert_der, key_sealed, created_at FROM ca WHERE name = ?`, name).
		Scan(&rec.CertDER, &rec.KeySealed, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("certs: load CA: %w", err)
	}
	rec.CreatedAt = time.Unix(created, 0)
	return rec, nil
}

// PutCA implements Store.
func (s *SQLiteStore) PutCA(ctx context.Context, rec *CARecord) (*CARecord, error) {
	if _, err := s.db.ExecContext(ctx,
		`INSERT INTO ca (name, cert_der, key_sealed, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		rec.Name, rec.CertDER, rec.KeySealed, rec.CreatedAt.Unix()); err != nil {
		return nil, fmt.Errorf("certs: store CA: %w", err)
	}
	return s.CA(ctx, rec.Name)
}

// ReplaceCA implements Store.
func (s *SQLiteStore) ReplaceCA(ctx context.Context, oldCertDER []byte, rec *CARecord) error {
	res, err := s.db.ExecContext(ctx, `UPDATE ca SET cert_der = ?, key_sealed = ? WHERE name = ? AND cert_der = ?`,
		rec.CertDER, rec.KeySealed, rec.Name, oldCertDER)
	if err != nil {
		return fmt.Errorf("certs: replace CA: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("certs: replace CA %s: it changed meanwhile or is missing (%d rows, %v)", rec.Name, n, err)
	}
	return nil
}

const certColumns = `id, email, serial, cert_der, chain_der, key_sealed, key_type, not_before, not_after,
	revoked_at, revocation_reason, created_at`

func scanCert(row interface{ Scan(...any) error }) (*CertRecord, error) {
	var (
		r                           CertRecord
		notBefore, notAfter, create int64
		revokedAt, reason           sql.NullInt64
	)
	if err := row.Scan(&r.ID, &r.Email, &r.Serial, &r.CertDER, &r.ChainDER, &r.KeySealed, &r.KeyType,
		&notBefore, &notAfter, &revokedAt, &reason, &create); err != nil {
		return nil, err
	}
	r.NotBefore, r.NotAfter, r.CreatedAt = time.Unix(notBefore, 0), time.Unix(notAfter, 0), time.Unix(create, 0)
	if revokedAt.Valid {
		r.RevokedAt = time.Unix(revokedAt.Int64, 0)
		r.RevocationReason = int(reason.Int64)
	}
	return &r, nil
}

func (s *SQLiteStore) queryCerts(ctx context.Context, query string, args ...any) ([]*CertRecord, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("certs: query certificates: %w", err)
	}
	defer rows.Close()
	var out []*CertRecord
	for rows.Next() {
		r, err := scanCert(rows)
		if err != nil {
			return nil, fmt.Errorf("certs: read certificate: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("certs: query certificates: %w", err)
	}
	return out, nil
}

// InsertCert implements Store.
func (s *SQLiteStore) InsertCert(ctx context.Context, r *CertRecord) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO certificates
		(email, serial, cert_der, chain_der, key_sealed, key_type, not_before, not_after, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Email, r.Serial, r.CertDER, r.ChainDER, r.KeySealed, r.KeyType,
		r.NotBefore.Unix(), r.NotAfter.Unix(), r.CreatedAt.Unix())
	if err != nil {
		return fmt.Errorf("certs: store certificate %s for %s: %w", r.Serial, r.Email, err)
	}
	if id, err := res.LastInsertId(); err == nil {
		r.ID = id
	}
	return nil
}

// CurrentCert implements Store.
func (s *SQLiteStore) CurrentCert(ctx context.Context, email string) (*CertRecord, error) {
	r, err := scanCert(s.db.QueryRowContext(ctx,
		`SELECT `+certColumns+` FROM certificates WHERE email = ? ORDER BY id DESC LIMIT 1`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("certs: load certificate for %s: %w", email, err)
	}
	return r, nil
}

// CurrentCerts implements Store.
func (s *SQLiteStore) CurrentCerts(ctx context.Context) ([]*CertRecord, error) {
	return s.queryCerts(ctx, `SELECT `+certColumns+` FROM certificates
		WHERE id IN (SELECT MAX(id) FROM certificates GROUP BY email) ORDER BY email`)
}

// CertsByEmail implements Store.
func (s *SQLiteStore) CertsByEmail(ctx context.Context, email string) ([]*CertRecord, error) {
	return s.queryCerts(ctx, `SELECT `+certColumns+` FROM certificates WHERE email = ? ORDER BY id DESC`, email)
}

// MarkRevoked implements Store.
func (s *SQLiteStore) MarkRevoked(ctx context.Context, serial string, at time.Time, reason int) error {
	res, err := s.db.ExecContext(ctx,
		`UPDATE certificates SET revoked_at = ?, revocation_reason = ? WHERE serial = ? AND revoked_at IS NULL`,
		at.Unix(), reason, serial)
	if err != nil {
		return fmt.Errorf("certs: revoke %s: %w", serial, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("certs: revoke %s: %w", serial, err)
	} else if n == 0 {
		return fmt.Errorf("certs: revoke %s: %w", serial, ErrNotFound)
	}
	return nil
}

// CertBySerial implements Store.
func (s *SQLiteStore) CertBySerial(ctx context.Context, serial string) (*CertRecord, error) {
	r, err := scanCert(s.db.QueryRowContext(ctx,
		`SELECT `+certColumns+` FROM certificates WHERE serial = ?`, serial))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("certs: load certificate %s: %w", serial, err)
	}
	return r, nil
}

// RevokedCerts implements Store.
func (s *SQLiteStore) RevokedCerts(ctx context.Context, notAfter time.Time) ([]*CertRecord, error) {
	return s.queryCerts(ctx, `SELECT `+certColumns+` FROM certificates
		WHERE revoked_at IS NOT NULL AND not_after > ? ORDER BY id`, notAfter.Unix())
}

// AcquireLease implements Store.
func (s *SQLiteStore) AcquireLease(ctx context.Context, email, holder string, now, until time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO issuance_leases (email, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (email) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE issuance_leases.expires_at <= ?`,
		email, holder, until.UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("certs: issuance lease for %s: %w", email, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("certs: issuance lease for %s: %w", email, err)
	}
	return n == 1, nil
}

// ReleaseLease implements Store.
func (s *SQLiteStore) ReleaseLease(ctx context.Context, email, holder string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM issuance_leases WHERE email = ? AND holder = ?`, email, holder); err != nil {
		return fmt.Errorf("certs: release issuance lease for %s: %w", email, err)
	}
	return nil
}

// NextCounter implements Store.
func (s *SQLiteStore) NextCounter(ctx context.Context, name string) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO counters (name, value) VALUES (?, 1)
		ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value`, name).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("certs: counter %s: %w", name, err)
	}
	return v, nil
}
