package certs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// MinPDFPasswordLen is the shortest password `pdf set-password` stores.
const MinPDFPasswordLen = 12

// pdfPasswordStore is implemented by stores that keep fixed PDF passwords
// (the SQLite store); the Store interface stays as it is.
type pdfPasswordStore interface {
	putPDFPassword(ctx context.Context, addr string, sealed []byte, now time.Time) error
	pdfPassword(ctx context.Context, addr string) ([]byte, error) // nil, nil: none
	deletePDFPassword(ctx context.Context, addr string) (bool, error)
	pdfPasswordAddresses(ctx context.Context) ([]string, error)
}

// pdfAAD binds a sealed PDF password to its address: a blob copied to
// another row does not open.
func pdfAAD(addr string) string { return "mailseal/v1 pdf-password " + addr }

func (m *Manager) pdfStore() (pdfPasswordStore, error) {
	s, ok := m.store.(pdfPasswordStore)
	if !ok {
		return nil, errors.New("certs: this store keeps no PDF passwords")
	}
	return s, nil
}

// SetPDFPassword stores (or replaces) the password that opens every PDF
// sent to addr with pdf.password_delivery: fixed, sealed under the master key.
func (m *Manager) SetPDFPassword(ctx context.Context, addr, password string) error {
	a, err := NormalizeAddress(addr)
	if err != nil {
		return err
	}
	if utf8.RuneCountInString(password) < MinPDFPasswordLen || !utf8.ValidString(password) {
		return fmt.Errorf("certs: a PDF password needs at least %d characters", MinPDFPasswordLen)
	}
	st, err := m.pdfStore()
	if err != nil {
		return err
	}
	sealed, err := m.sealer.sealBytes([]byte(password), pdfAAD(a))
	if err != nil {
		return err
	}
	return st.putPDFPassword(ctx, a, sealed, time.Now())
}

// PDFPassword returns addr's stored password; ok is false without one.
func (m *Manager) PDFPassword(ctx context.Context, addr string) (password string, ok bool, err error) {
	a, err := NormalizeAddress(addr)
	if err != nil {
		return "", false, nil // no valid address has no password
	}
	st, err := m.pdfStore()
	if err != nil {
		return "", false, err
	}
	sealed, err := st.pdfPassword(ctx, a)
	if err != nil || sealed == nil {
		return "", false, err
	}
	plain, err := m.sealer.openBytes(sealed, pdfAAD(a))
	if err != nil {
		return "", false, fmt.Errorf("certs: PDF password of %s: %w", a, err)
	}
	return string(plain), true, nil
}

// RemovePDFPassword deletes addr's password; false when it had none.
func (m *Manager) RemovePDFPassword(ctx context.Context, addr string) (bool, error) {
	a, err := NormalizeAddress(addr)
	if err != nil {
		return false, err
	}
	st, err := m.pdfStore()
	if err != nil {
		return false, err
	}
	return st.deletePDFPassword(ctx, a)
}

// PDFPasswordAddresses lists the addresses with a stored password, sorted.
func (m *Manager) PDFPasswordAddresses(ctx context.Context) ([]string, error) {
	st, err := m.pdfStore()
	if err != nil {
		return nil, err
	}
	return st.pdfPasswordAddresses(ctx)
}

func (s *SQLiteStore) putPDFPassword(ctx context.Context, addr string, sealed []byte, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO pdf_passwords (address, sealed, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (address) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at`,
		addr, sealed, now.Unix())
	if err != nil {
		return fmt.Errorf("certs: store PDF password: %w", err)
	}
	return nil
}

func (s *SQLiteStore) pdfPassword(ctx context.Context, addr string) ([]byte, error) {
	var sealed []byte
	err := s.db.QueryRowContext(ctx, `SELECT sealed FROM pdf_passwords WHERE address = ?`, addr).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("certs: read PDF password: %w", err)
	}
	return sealed, nil
}

func (s *SQLiteStore) deletePDFPassword(ctx context.Context, addr string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM pdf_passwords WHERE address = ?`, addr)
	if err != nil {
		return false, fmt.Errorf("certs: remove PDF password: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (s *SQLiteStore) pdfPasswordAddresses(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT address FROM pdf_passwords ORDER BY address`)
	if err != nil {
		return nil, fmt.Errorf("certs: list PDF passwords: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("certs: list PDF passwords: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
