package certs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The queries below use only SQL that PostgreSQL reads as well (apart from
// the ? placeholders), so a PostgreSQL store can reuse them.

const pgpKeyColumns = `id, email, fingerprint, key_type, public_armored, private_sealed,
	created_at, expires_at, revoked_at`

func scanPGPKey(row interface{ Scan(...any) error }) (*PGPKeyRecord, error) {
	var (
		r                PGPKeyRecord
		public           string
		created, expires int64
		revokedAt        sql.NullInt64
	)
	if err := row.Scan(&r.ID, &r.Email, &r.Fingerprint, &r.KeyType, &public, &r.PrivateSealed,
		&created, &expires, &revokedAt); err != nil {
		return nil, err
	}
	r.PublicArmored = []byte(public)
	r.CreatedAt, r.ExpiresAt = time.Unix(created, 0), time.Unix(expires, 0)
	if revokedAt.Valid {
		r.RevokedAt = time.Unix(revokedAt.Int64, 0)
	}
	return &r, nil
}

// InsertPGPKey implements Store.
func (s *SQLiteStore) InsertPGPKey(ctx context.Context, r *PGPKeyRecord) error {
	err := s.db.QueryRowContext(ctx, `INSERT INTO user_pgp_keys
		(email, fingerprint, key_type, public_armored, private_sealed, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		r.Email, r.Fingerprint, r.KeyType, string(r.PublicArmored), r.PrivateSealed,
		r.CreatedAt.Unix(), r.ExpiresAt.Unix()).Scan(&r.ID)
	if err != nil {
		return fmt.Errorf("certs: store OpenPGP key %s for %s: %w", r.Fingerprint, r.Email, err)
	}
	return nil
}

// CurrentPGPKey implements Store.
func (s *SQLiteStore) CurrentPGPKey(ctx context.Context, email string) (*PGPKeyRecord, error) {
	r, err := scanPGPKey(s.db.QueryRowContext(ctx,
		`SELECT `+pgpKeyColumns+` FROM user_pgp_keys WHERE email = ? ORDER BY id DESC LIMIT 1`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("certs: load OpenPGP key for %s: %w", email, err)
	}
	return r, nil
}

// PGPKeysByEmail implements Store.
func (s *SQLiteStore) PGPKeysByEmail(ctx context.Context, email string) ([]*PGPKeyRecord, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+pgpKeyColumns+` FROM user_pgp_keys WHERE email = ? ORDER BY id DESC`, email)
	if err != nil {
		return nil, fmt.Errorf("certs: query OpenPGP keys of %s: %w", email, err)
	}
	defer rows.Close()
	var out []*PGPKeyRecord
	for rows.Next() {
		r, err := scanPGPKey(rows)
		if err != nil {
			return nil, fmt.Errorf("certs: read OpenPGP key of %s: %w", email, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("certs: query OpenPGP keys of %s: %w", email, err)
	}
	return out, nil
}

// MarkPGPKeyRevoked implements Store.
func (s *SQLiteStore) MarkPGPKeyRevoked(ctx context.Context, fingerprint string, at time.Time) error {
	res, err := s.db.ExecContext(ctx,
		`UPDATE user_pgp_keys SET revoked_at = ? WHERE fingerprint = ? AND revoked_at IS NULL`,
		at.Unix(), fingerprint)
	if err != nil {
		return fmt.Errorf("certs: revoke OpenPGP key %s: %w", fingerprint, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("certs: revoke OpenPGP key %s: %w", fingerprint, err)
	} else if n == 0 {
		return fmt.Errorf("certs: revoke OpenPGP key %s: %w", fingerprint, ErrNotFound)
	}
	return nil
}
