package certs

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMigrationsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "test.db")
	now := time.Unix(1700000000, 0)
	for i := range 3 {
		s, err := OpenSQLite(ctx, path, now)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		// Applying again on an open store changes nothing either.
		if err := migrate(ctx, s.db, sqliteMigrations, now); err != nil {
			t.Fatalf("migrate again: %v", err)
		}
		var n, maxV int
		if err := s.db.QueryRow(`SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &maxV); err != nil {
			t.Fatal(err)
		}
		if n != len(sqliteMigrations) || maxV != sqliteMigrations[len(sqliteMigrations)-1].version {
			t.Errorf("open %d: %d migrations recorded up to %d", i, n, maxV)
		}
		var mode string
		if err := s.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("journal_mode = %q, %v; want wal", mode, err)
		}
		if i == 0 {
			if err := s.InsertCert(ctx, &CertRecord{Email: "a@x.example", Serial: "01", CertDER: []byte{1},
				KeySealed: []byte{2}, ChainDER: []byte{}, KeyType: "k", NotBefore: now, NotAfter: now, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		} else if _, err := s.CurrentCert(ctx, "a@x.example"); err != nil {
			t.Errorf("data lost after reopen: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMigrationsRefuseNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "test.db")
	s, err := OpenSQLite(ctx, path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	err = migrate(ctx, s.db, sqliteMigrations, time.Now())
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("migrate over newer schema: %v", err)
	}
}

func TestMigrationStepsApplyInOrder(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "test.db"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	next := sqliteMigrations[len(sqliteMigrations)-1].version + 1
	steps := append(append([]migration{}, sqliteMigrations...),
		migration{version: next, name: "extra", sql: []string{`CREATE TABLE extra (x INTEGER)`}})
	for range 2 {
		if err := migrate(ctx, s.db, steps, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.db.Exec(`INSERT INTO extra (x) VALUES (1)`); err != nil {
		t.Fatalf("step %d not applied: %v", next, err)
	}
	bad := append(append([]migration{}, steps...), migration{version: next + 1, name: "bad", sql: []string{`CREATE TABLE y (a)`, `SYNTAX ERROR`}})
	if err := migrate(ctx, s.db, bad, time.Now()); err == nil {
		t.Fatal("bad migration succeeded")
	}
	// The failed step rolled back completely.
	if _, err := s.db.Exec(`SELECT * FROM y`); err == nil {
		t.Error("partial migration left table y behind")
	}
}
