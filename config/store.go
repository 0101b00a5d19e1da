package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mailseal/mailseal/pgsql"
)

// validateStore checks store.driver, store.dsn and store.dsn_file.
func (c *Config) validateStore(bad func(key, format string, args ...any)) {
	s := c.Store
	switch s.Driver {
	case "sqlite":
		if s.DSNFile != "" {
			bad("store.dsn_file", "is for store.driver: postgres only; with sqlite, store.dsn names the store file")
		}
	case "postgres":
		switch {
		case s.DSN != "" && s.DSNFile != "":
			bad("store.dsn", "set either store.dsn or store.dsn_file, not both")
		case s.DSN == "" && s.DSNFile == "":
			bad("store.dsn", "store.driver: postgres needs a connection string in store.dsn (or MAILSEAL_STORE_DSN) or store.dsn_file, e.g. \"host=db.corp user=mailseal dbname=mailseal\"")
		default:
			key := "store.dsn"
			if s.DSNFile != "" {
				key = "store.dsn_file"
			}
			dsn, err := c.PostgresDSN()
			if err == nil {
				err = pgsql.CheckDSN(dsn)
			}
			if err != nil {
				bad(key, "%v", err)
			}
		}
	default:
		bad("store.driver", "%q is not a store driver (sqlite or postgres)", s.Driver)
	}
}

// Postgres reports whether the store (and copy ledger) is on PostgreSQL.
func (c *Config) Postgres() bool { return c.Store.Driver == "postgres" }

// PostgresDSN returns the connection string of store.driver: postgres,
// from store.dsn or the first line of store.dsn_file.
func (c *Config) PostgresDSN() (string, error) {
	if c.Store.DSNFile == "" {
		return c.Store.DSN, nil
	}
	f, err := os.Open(c.Store.DSNFile)
	if err != nil {
		return "", fmt.Errorf("cannot read the connection string: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return "", fmt.Errorf("cannot read the connection string: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	line = strings.TrimSpace(line)
	if line == "" {
		return "", errors.New("the file is empty; its first line must be the connection string")
	}
	return line, nil
}

// SQLitePath is the SQLite store file ("" with store.driver: postgres).
func (c *Config) SQLitePath(stateDir string) string {
	if c.Postgres() {
		return ""
	}
	if c.Store.DSN != "" {
		return c.Store.DSN
	}
	return filepath.Join(stateDir, "mailseal.db")
}
