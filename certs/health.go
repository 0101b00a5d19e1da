package certs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// MinFreeBytes is the free space below which the state disk counts as
// full: SQLite needs room for its WAL before a write can succeed.
const MinFreeBytes = 16 << 20

// Ping reports whether the store answers queries and is still the one this
// Manager opened, for health checks: a store file deleted, replaced or
// malformed under the running daemon, a CA that is not the one loaded at
// start, or a full state disk all make it fail.
func (m *Manager) Ping(ctx context.Context) error {
	if c, ok := m.store.(fileChecker); ok {
		if err := c.checkFile(MinFreeBytes); err != nil {
			return err
		}
	}
	_, err := m.store.CurrentCert(ctx, "healthcheck@invalid")
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if m.opts.Issuer == nil && m.caCert != nil {
		rec, err := m.store.CA(ctx, builtinCAName)
		if err != nil {
			return fmt.Errorf("certs: the store has lost the built-in CA: %w", err)
		}
		if !bytes.Equal(rec.CertDER, m.caCert.Raw) {
			return errors.New("certs: the store holds another CA than the one loaded at start (store replaced?)")
		}
	}
	return nil
}

// fileChecker is a store kept in a local file.
type fileChecker interface {
	checkFile(minFree uint64) error
}

func (s *SQLiteStore) checkFile(minFree uint64) error {
	if s.file == nil {
		return nil
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("certs: store file %s: %w (deleted? restore it from backup and restart)", s.path, err)
	}
	if !os.SameFile(fi, s.file) {
		return fmt.Errorf("certs: store file %s was replaced after start; restart mailseal if that was intended", s.path)
	}
	// SQLite answers from its cache and WAL for a while after the file was
	// overwritten; the header tells at once.
	if err := checkSQLiteHeader(s.path); err != nil {
		return err
	}
	return CheckDiskSpace(filepath.Dir(s.path), minFree)
}

var sqliteMagic = []byte("SQLite format 3\x00")

func checkSQLiteHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("certs: store file %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteMagic))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, sqliteMagic) {
		return fmt.Errorf("certs: store file %s is malformed (no SQLite header); restore it from backup", path)
	}
	return nil
}

// CheckDiskSpace fails when the file system holding dir has less than
// minFree bytes available to us.
func CheckDiskSpace(dir string, minFree uint64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fmt.Errorf("certs: state disk %s: %w", dir, err)
	}
	if free := st.Bavail * uint64(st.Bsize); free < minFree {
		return fmt.Errorf("certs: state disk %s is full: %d bytes free, need at least %d", dir, free, minFree)
	}
	return nil
}
