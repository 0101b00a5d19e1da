package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"syscall"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/config"
)

// caWarnings lists what makes the CA unfit to hand to partners: no CRL URL
// they can reach, no name constraints, internal domains it does not cover.
// mgr may be nil (then only what the config tells).
func caWarnings(cfg *config.Config, mgr *certs.Manager) []string {
	ws := cfg.CAWarnings()
	if mgr != nil {
		ws = append(ws, mgr.CAWarnings(cfg.InternalDomains)...)
	}
	return ws
}

// logIdentitySetup logs, at start, the CA warnings and the login map in use.
func logIdentitySetup(cfg *config.Config, mgr *certs.Manager, log *slog.Logger) {
	for _, w := range caWarnings(cfg, mgr) {
		log.Warn("ca: " + w)
	}
	if m := cfg.Auth.LoginMap; m != nil {
		log.Info("auth: login map loaded", "file", m.Source(), "logins", m.Len())
	}
}

// logCADomainWarnings repeats, after a reload, what the CA does not cover
// of internal_domains: a domain added by the reload gets no certificates.
func logCADomainWarnings(cfg *config.Config, mgr *certs.Manager, log *slog.Logger) {
	for _, w := range mgr.CAWarnings(cfg.InternalDomains) {
		log.Warn("ca: " + w)
	}
}

// checkWarnings are the warnings `config check` prints. It opens the store
// only when one exists, so that checking a config never creates state.
func checkWarnings(ctx context.Context, cfg *config.Config) []string {
	if db := cfg.SQLitePath(cfg.StateDir); db != "" {
		fi, err := os.Stat(db)
		if errors.Is(err, fs.ErrNotExist) {
			return caWarnings(cfg, nil)
		}
		// Opening the store as another user (root) could leave SQLite's -wal
		// and -shm files owned by that user, which the daemon then cannot open.
		if st, ok := fi.Sys().(*syscall.Stat_t); err == nil && ok && int(st.Uid) != os.Geteuid() {
			return append(caWarnings(cfg, nil), fmt.Sprintf("the CA was not checked: %s belongs to user id %d; run `mailseal config check` as that user", db, st.Uid))
		}
	}
	quiet := newLogger(&config.Config{Log: config.LogConfig{Level: "error", Format: cfg.Log.Format}})
	mgr, err := openCerts(ctx, cfg, quiet, nil)
	if err != nil {
		return append(caWarnings(cfg, nil), "could not open the certificate store to check the CA: "+err.Error())
	}
	defer mgr.Close()
	return caWarnings(cfg, mgr)
}
