package certs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"
)

// The partner key directory in SQLite. The SQL is kept portable (ON
// CONFLICT … RETURNING, no SQLite-only functions) for a PostgreSQL store.

// PutPartnerCert implements Store.
func (s *SQLiteStore) PutPartnerCert(ctx context.Context, r *PartnerCert) error {
	return s.putKey(ctx, "certificate "+r.Fingerprint, &r.ID, `INSERT INTO partner_certs
		(fingerprint, cert_der, subject, not_before, not_after, provenance, trust, added_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (fingerprint) DO UPDATE SET provenance = excluded.provenance, trust = excluded.trust, removed_at = NULL
		RETURNING id`,
		[]any{r.Fingerprint, r.CertDER, r.Subject, r.NotBefore.Unix(), r.NotAfter.Unix(), string(r.Provenance), string(r.Trust), r.AddedAt.Unix()},
		"partner_cert_emails", "cert_id", r.Emails)
}

// HarvestPartnerCert implements Store. It reads the row first, in the same
// transaction, so an administrator's entry (or removal) is never changed
// by what a partner's signature brought along.
func (s *SQLiteStore) HarvestPartnerCert(ctx context.Context, r *PartnerCert) (HarvestOutcome, error) {
	what := "harvested certificate " + r.Fingerprint
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("certs: store %s: %w", what, err)
	}
	defer tx.Rollback()
	var (
		id      int64
		prov    string
		removed sql.NullInt64
	)
	err = tx.QueryRowContext(ctx, `SELECT id, provenance, removed_at FROM partner_certs WHERE fingerprint = ?`, r.Fingerprint).Scan(&id, &prov, &removed)
	var outcome HarvestOutcome
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if err := tx.QueryRowContext(ctx, `INSERT INTO partner_certs
			(fingerprint, cert_der, subject, not_before, not_after, provenance, trust, added_at, capabilities, seen_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			r.Fingerprint, r.CertDER, r.Subject, r.NotBefore.Unix(), r.NotAfter.Unix(), string(r.Provenance), string(r.Trust),
			r.AddedAt.Unix(), r.Capabilities, r.SeenAt.Unix()).Scan(&id); err != nil {
			return "", fmt.Errorf("certs: store %s: %w", what, err)
		}
		for _, e := range r.Emails {
			if _, err := tx.ExecContext(ctx, `INSERT INTO partner_cert_emails (cert_id, email) VALUES (?, ?) ON CONFLICT DO NOTHING`, id, e); err != nil {
				return "", fmt.Errorf("certs: store %s: %w", what, err)
			}
		}
		outcome = HarvestAdded
	case err != nil:
		return "", fmt.Errorf("certs: store %s: %w", what, err)
	case removed.Valid:
		// An administrator removed it: a signature must not bring it back.
		return HarvestRemoved, nil
	default:
		if _, err := tx.ExecContext(ctx, `UPDATE partner_certs SET capabilities = COALESCE(?, capabilities), seen_at = ? WHERE id = ?`,
			r.Capabilities, r.SeenAt.Unix(), id); err != nil {
			return "", fmt.Errorf("certs: store %s: %w", what, err)
		}
		outcome = HarvestRefreshed
		if Provenance(prov) != ProvenanceHarvested {
			outcome = HarvestKept
		}
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("certs: store %s: %w", what, err)
	}
	r.ID = id
	return outcome, nil
}

// PutPartnerPGPKey implements Store.
func (s *SQLiteStore) PutPartnerPGPKey(ctx context.Context, r *PartnerPGPKey) error {
	var expires sql.NullInt64
	if !r.ExpiresAt.IsZero() {
		expires = sql.NullInt64{Int64: r.ExpiresAt.Unix(), Valid: true}
	}
	return s.putKey(ctx, "OpenPGP key "+r.Fingerprint, &r.ID, `INSERT INTO partner_pgp_keys
		(fingerprint, key_data, created_at, expires_at, provenance, trust, added_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (fingerprint) DO UPDATE SET key_data = excluded.key_data, expires_at = excluded.expires_at,
			provenance = excluded.provenance, trust = excluded.trust, removed_at = NULL
		RETURNING id`,
		[]any{r.Fingerprint, r.KeyData, r.CreatedAt.Unix(), expires, string(r.Provenance), string(r.Trust), r.AddedAt.Unix()},
		"partner_pgp_key_emails", "key_id", r.Emails)
}

// putKey upserts one row and replaces its addresses, in one transaction.
// table and column are constants of this file, never input.
func (s *SQLiteStore) putKey(ctx context.Context, what string, id *int64, upsert string, args []any, table, column string, emails []string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("certs: store %s: %w", what, err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, upsert, args...).Scan(id); err != nil {
		return fmt.Errorf("certs: store %s: %w", what, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+column+` = ?`, *id); err != nil {
		return fmt.Errorf("certs: store %s: %w", what, err)
	}
	for _, e := range emails {
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (`+column+`, email) VALUES (?, ?) ON CONFLICT DO NOTHING`, *id, e); err != nil {
			return fmt.Errorf("certs: store %s: %w", what, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("certs: store %s: %w", what, err)
	}
	return nil
}

// PartnerCerts implements Store.
func (s *SQLiteStore) PartnerCerts(ctx context.Context, email string) ([]*PartnerCert, error) {
	const cols = `c.id, c.fingerprint, c.cert_der, c.subject, c.not_before, c.not_after, c.provenance, c.trust, c.added_at, c.capabilities, c.seen_at`
	q := `SELECT ` + cols + ` FROM partner_certs c WHERE c.removed_at IS NULL ORDER BY c.not_before DESC, c.id DESC`
	var args []any
	if email != "" {
		q = `SELECT ` + cols + ` FROM partner_certs c JOIN partner_cert_emails e ON e.cert_id = c.id
			WHERE e.email = ? AND c.removed_at IS NULL ORDER BY c.not_before DESC, c.id DESC`
		args = append(args, email)
	}
	var out []*PartnerCert
	err := s.queryRows(ctx, q, args, func(rows *sql.Rows) error {
		var (
			r                          PartnerCert
			notBefore, notAfter, added int64
			prov, trust                string
			seen                       sql.NullInt64
		)
		if err := rows.Scan(&r.ID, &r.Fingerprint, &r.CertDER, &r.Subject, &notBefore, &notAfter, &prov, &trust, &added, &r.Capabilities, &seen); err != nil {
			return err
		}
		r.NotBefore, r.NotAfter, r.AddedAt = time.Unix(notBefore, 0), time.Unix(notAfter, 0), time.Unix(added, 0)
		if seen.Valid {
			r.SeenAt = time.Unix(seen.Int64, 0)
		}
		r.Provenance, r.Trust = Provenance(prov), TrustLevel(trust)
		out = append(out, &r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("certs: partner certificates: %w", err)
	}
	for _, r := range out {
		if r.Emails, err = s.keyEmails(ctx, "partner_cert_emails", "cert_id", r.ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PartnerPGPKeys implements Store.
func (s *SQLiteStore) PartnerPGPKeys(ctx context.Context, email string) ([]*PartnerPGPKey, error) {
	const cols = `k.id, k.fingerprint, k.key_data, k.created_at, k.expires_at, k.provenance, k.trust, k.added_at`
	q := `SELECT ` + cols + ` FROM partner_pgp_keys k WHERE k.removed_at IS NULL ORDER BY k.created_at DESC, k.id DESC`
	var args []any
	if email != "" {
		q = `SELECT ` + cols + ` FROM partner_pgp_keys k JOIN partner_pgp_key_emails e ON e.key_id = k.id
			WHERE e.email = ? AND k.removed_at IS NULL ORDER BY k.created_at DESC, k.id DESC`
		args = append(args, email)
	}
	var out []*PartnerPGPKey
	err := s.queryRows(ctx, q, args, func(rows *sql.Rows) error {
		var (
			r              PartnerPGPKey
			created, added int64
			expires        sql.NullInt64
			prov, trust    string
		)
		if err := rows.Scan(&r.ID, &r.Fingerprint, &r.KeyData, &created, &expires, &prov, &trust, &added); err != nil {
			return err
		}
		r.CreatedAt, r.AddedAt = time.Unix(created, 0), time.Unix(added, 0)
		if expires.Valid {
			r.ExpiresAt = time.Unix(expires.Int64, 0)
		}
		r.Provenance, r.Trust = Provenance(prov), TrustLevel(trust)
		out = append(out, &r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("certs: partner OpenPGP keys: %w", err)
	}
	for _, r := range out {
		if r.Emails, err = s.keyEmails(ctx, "partner_pgp_key_emails", "key_id", r.ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *SQLiteStore) keyEmails(ctx context.Context, table, column string, id int64) ([]string, error) {
	var out []string
	err := s.queryRows(ctx, `SELECT email FROM `+table+` WHERE `+column+` = ?`, []any{id}, func(rows *sql.Rows) error {
		var e string
		if err := rows.Scan(&e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("certs: partner key addresses: %w", err)
	}
	sort.Strings(out)
	return out, nil
}

func (s *SQLiteStore) queryRows(ctx context.Context, q string, args []any, each func(*sql.Rows) error) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// RemovePartnerCert implements Store.
func (s *SQLiteStore) RemovePartnerCert(ctx context.Context, fingerprint string, at time.Time) error {
	return s.markRemoved(ctx, `UPDATE partner_certs SET removed_at = ? WHERE fingerprint = ? AND removed_at IS NULL`, "certificate", fingerprint, at)
}

// RemovePartnerPGPKey implements Store.
func (s *SQLiteStore) RemovePartnerPGPKey(ctx context.Context, fingerprint string, at time.Time) error {
	return s.markRemoved(ctx, `UPDATE partner_pgp_keys SET removed_at = ? WHERE fingerprint = ? AND removed_at IS NULL`, "OpenPGP key", fingerprint, at)
}

func (s *SQLiteStore) markRemoved(ctx context.Context, q, what, fingerprint string, at time.Time) error {
	res, err := s.db.ExecContext(ctx, q, at.Unix(), fingerprint)
	if err != nil {
		return fmt.Errorf("certs: remove %s %s: %w", what, fingerprint, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("certs: remove %s %s: %w", what, fingerprint, err)
	} else if n == 0 {
		return fmt.Errorf("certs: remove %s %s: %w", what, fingerprint, ErrNotFound)
	}
	return nil
}
