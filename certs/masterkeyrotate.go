package certs

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// sealedColumn is a column that holds blobs sealed under the master key,
// with the columns of the same row that the blob's associated data is made
// of.
type sealedColumn struct {
	table, column string
	extra         []string
	aad           func(extra []any) (string, error)
}

// sealedColumns are every sealed column. Rotation re-seals exactly these; a
// sealed column it does not know makes it refuse, so that a new table cannot
// be left sealed under a key that is thrown away.
var sealedColumns = []sealedColumn{
	{"ca", "key_sealed", []string{"name", "cert_der"}, func(x []any) (string, error) {
		der, _ := x[1].([]byte)
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return "", fmt.Errorf("CA certificate: %w", err)
		}
		return caAAD(asString(x[0]), serialHex(cert)), nil
	}},
	{"certificates", "key_sealed", []string{"email", "serial"}, func(x []any) (string, error) {
		return certAAD(asString(x[0]), asString(x[1])), nil
	}},
	{"user_pgp_keys", "private_sealed", []string{"email", "fingerprint"}, func(x []any) (string, error) {
		return pgpAAD(asString(x[0]), asString(x[1])), nil
	}},
	{"pdf_passwords", "sealed", []string{"address"}, func(x []any) (string, error) {
		return pdfAAD(asString(x[0])), nil
	}},
}

// sealedRow is one sealed blob with its row id and associated data.
type sealedRow struct {
	rowid int64
	blob  []byte
	aad   string
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// sealedRows reads every blob of column c.
func sealedRows(ctx context.Context, q querier, c sealedColumn) ([]sealedRow, error) {
	rows, err := q.QueryContext(ctx, fmt.Sprintf(`SELECT rowid, %s, %s FROM %s`, c.column, strings.Join(c.extra, ", "), c.table))
	if err != nil {
		return nil, fmt.Errorf("certs: rotate master key: %s: %w", c.table, err)
	}
	defer rows.Close()
	var out []sealedRow
	for rows.Next() {
		var r sealedRow
		extra := make([]any, len(c.extra))
		dest := []any{&r.rowid, &r.blob}
		for i := range extra {
			dest = append(dest, &extra[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("certs: rotate master key: %s: %w", c.table, err)
		}
		if r.aad, err = c.aad(extra); err != nil {
			return nil, fmt.Errorf("certs: rotate master key: %s row %d: %w", c.table, r.rowid, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("certs: rotate master key: %s: %w", c.table, err)
	}
	return out, nil
}

// MasterKeyRotation reports what RotateMasterKey did.
type MasterKeyRotation struct {
	Resealed int    // sealed blobs re-sealed under the new key
	Backup   string // the old key file, kept
	// Resumed is true when an earlier, interrupted rotation had already
	// re-sealed the store and only the key file was left to replace.
	Resumed bool
}

// RotateMasterKey replaces the master key in keyFile by a new random key and
// re-seals every sealed blob in the SQLite store at dbPath under it, all in
// one transaction: the store is either wholly under the old key or wholly
// under the new one. The old key file stays as keyFile.old-TIMESTAMP (older
// backups of the store need it). No other process may use the store
// meanwhile: a running daemon would go on sealing new keys under the old key.
//
// Steps, so that a crash at any point can be resumed by running it again:
// the new key is written to keyFile.new, the old one linked to the backup
// name, the store re-sealed and committed, then keyFile.new renamed over
// keyFile. A rerun that finds keyFile.new checks which key opens the CA: the
// new one means only the rename was missing; the old one means the store was
// never changed, and it starts afresh.
func RotateMasterKey(ctx context.Context, dbPath, keyFile string, rand io.Reader, now time.Time) (*MasterKeyRotation, error) {
	if _, err := os.Stat(dbPath); err != nil {
		return nil, fmt.Errorf("certs: rotate master key: store: %w", err)
	}
	oldKey, err := loadMasterKey(keyFile, false, nil)
	if err != nil {
		return nil, err
	}
	st, err := OpenSQLite(ctx, dbPath, now)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if err := checkSealedColumns(ctx, st.db); err != nil {
		return nil, err
	}
	var cas int
	if err := st.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ca`).Scan(&cas); err != nil {
		return nil, fmt.Errorf("certs: rotate master key: %w", err)
	}
	if cas == 0 {
		return nil, fmt.Errorf("certs: rotate master key: the store %s holds no CA yet, so nothing is sealed: start mailseal once first", dbPath)
	}
	oldSealer, err := newSealer(oldKey, rand)
	if err != nil {
		return nil, err
	}
	newFile := keyFile + ".new"
	backup := keyFile + ".old-" + now.UTC().Format("20060102T150405Z")

	if _, err := os.Stat(newFile); err == nil {
		pending, err := loadMasterKey(newFile, false, nil)
		if err != nil {
			return nil, fmt.Errorf("certs: rotate master key: an interrupted rotation left %s: %w", newFile, err)
		}
		pendingSealer, err := newSealer(pending, rand)
		if err != nil {
			return nil, err
		}
		switch {
		case opensCA(ctx, st.db, pendingSealer):
			// Committed under the new key; the old key is in keyFile.
			kept, err := linkBackup(keyFile, backup)
			if err != nil {
				return nil, err
			}
			if err := replaceKeyFile(newFile, keyFile); err != nil {
				return nil, err
			}
			return &MasterKeyRotation{Backup: kept, Resumed: true}, nil
		case opensCA(ctx, st.db, oldSealer):
			if err := os.Remove(newFile); err != nil {
				return nil, fmt.Errorf("certs: rotate master key: %w", err)
			}
		default:
			return nil, fmt.Errorf("certs: rotate master key: neither %s nor %s opens the CA key: %w", keyFile, newFile, ErrWrongMasterKey)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("certs: rotate master key: %w", err)
	}
	if !opensCA(ctx, st.db, oldSealer) {
		return nil, fmt.Errorf("certs: rotate master key: %s does not open the CA key: %w", keyFile, ErrWrongMasterKey)
	}

	newKey, err := createMasterKey(newFile, rand)
	if err != nil {
		return nil, err
	}
	newSealerV, err := newSealer(newKey, rand)
	clear(newKey)
	if err != nil {
		os.Remove(newFile)
		return nil, err
	}
	kept, err := linkBackup(keyFile, backup)
	if err != nil {
		os.Remove(newFile)
		return nil, err
	}
	n, err := reseal(ctx, st.db, oldSealer, newSealerV)
	if err != nil {
		os.Remove(newFile)
		os.Remove(kept)
		return nil, err
	}
	if err := replaceKeyFile(newFile, keyFile); err != nil {
		return nil, err
	}
	return &MasterKeyRotation{Resealed: n, Backup: kept}, nil
}

// checkSealedColumns refuses a schema with a sealed column rotation does
// not know (by name: every sealed column's name contains "sealed").
func checkSealedColumns(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'`)
	if err != nil {
		return fmt.Errorf("certs: rotate master key: read schema: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			return fmt.Errorf("certs: rotate master key: read schema: %w", err)
		}
		if !strings.Contains(column, "sealed") {
			continue
		}
		known := slices.ContainsFunc(sealedColumns, func(c sealedColumn) bool {
			return c.table == table && c.column == column
		})
		if !known {
			return fmt.Errorf("certs: rotate master key: the store has a sealed column %s.%s this version cannot re-seal; upgrade mailseal", table, column)
		}
	}
	return rows.Err()
}

// opensCA reports whether s opens the sealed CA key.
func opensCA(ctx context.Context, db *sql.DB, s *sealer) bool {
	rows, err := sealedRows(ctx, db, sealedColumns[0])
	if err != nil || len(rows) == 0 {
		return false
	}
	for _, r := range rows {
		plain, err := s.openBytes(r.blob, r.aad)
		if err != nil {
			return false
		}
		clear(plain)
	}
	return true
}

// reseal opens every sealed blob with from and seals it with to, in one
// immediate transaction, and checks each new blob opens before committing.
func reseal(ctx context.Context, db *sql.DB, from, to *sealer) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("certs: rotate master key: %w", err)
	}
	defer tx.Rollback()
	n := 0
	for _, c := range sealedColumns {
		todo, err := sealedRows(ctx, tx, c)
		if err != nil {
			return 0, err
		}
		for _, r := range todo {
			plain, err := from.openBytes(r.blob, r.aad)
			if err != nil {
				return 0, fmt.Errorf("certs: rotate master key: %s row %d: %w", c.table, r.rowid, err)
			}
			sealed, err := to.sealBytes(plain, r.aad)
			clear(plain)
			if err != nil {
				return 0, err
			}
			if check, err := to.openBytes(sealed, r.aad); err != nil {
				return 0, fmt.Errorf("certs: rotate master key: %s row %d does not open after re-sealing: %w", c.table, r.rowid, err)
			} else {
				clear(check)
			}
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET %s = ? WHERE rowid = ?`, c.table, c.column), sealed, r.rowid); err != nil {
				return 0, fmt.Errorf("certs: rotate master key: %s row %d: %w", c.table, r.rowid, err)
			}
			n++
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("certs: rotate master key: commit: %w", err)
	}
	return n, nil
}

// asString turns a TEXT column scanned into any (string or []byte) into a string.
func asString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return ""
}

// linkBackup keeps the old key file under backup, or backup-2, -3, … when
// that name is taken (two rotations in one second), and returns the name
// used. A hard link: the same 0600 file, nothing is copied.
func linkBackup(keyFile, backup string) (string, error) {
	name := backup
	for i := 2; ; i++ {
		err := os.Link(keyFile, name)
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, fs.ErrExist) || i > 100 {
			return "", fmt.Errorf("certs: rotate master key: keep the old key: %w", err)
		}
		name = fmt.Sprintf("%s-%d", backup, i)
	}
}

// replaceKeyFile renames newFile over keyFile and syncs the directory.
func replaceKeyFile(newFile, keyFile string) error {
	if err := os.Rename(newFile, keyFile); err != nil {
		return fmt.Errorf("certs: rotate master key: install the new key: %w", err)
	}
	if d, err := os.Open(filepath.Dir(keyFile)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
