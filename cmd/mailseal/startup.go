package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/mailseal/mailseal/admin"
	"github.com/mailseal/mailseal/config"
	"github.com/mailseal/mailseal/reinject"
)

// firstStart remembers what existed before the store was opened, so the
// start summary can tell the admin what was just created.
type firstStart struct {
	keyFile    string // master key file that did not exist before; "" otherwise
	newStore   bool   // the store file did not exist before
	configFile string
}

func probeFirstStart(cfg *config.Config) firstStart {
	var f firstStart
	if cfg.MasterKey == "" {
		key := cfg.MasterKeyFile
		if key == "" {
			key = filepath.Join(cfg.StateDir, "master.key")
		}
		if _, err := os.Stat(key); os.IsNotExist(err) {
			f.keyFile = key
		}
	}
	// A PostgreSQL store is shared: its first start is reported by the
	// instance that created it, not known here.
	if store := cfg.SQLitePath(cfg.StateDir); store != "" {
		if _, err := os.Stat(store); os.IsNotExist(err) {
			f.newStore = true
		}
	}
	f.configFile = cfg.Source
	return f
}

// report logs, after a successful open, what the first start created and
// what the admin does next.
func (f firstStart) report(log *slog.Logger) {
	if f.keyFile != "" {
		if _, err := os.Stat(f.keyFile); err == nil {
			log.Warn("master key created: back it up now, and keep that copy apart from the store's backups (either alone is useless; together they open every private key)", "file", f.keyFile)
		}
	}
	if f.newStore {
		cmd := "mailseal postfix-config"
		if f.configFile != "" {
			cmd += " --config " + f.configFile
		}
		log.Info("first start: new store and CA created; next step: run `"+cmd+"` and add its lines to Postfix's main.cf and master.cf", "command", cmd)
	}
}

// caFingerprint is the SHA-256 of the CA certificate (DER), as partners
// compare it when they import the trust anchor (openssl x509 -fingerprint -sha256).
func caFingerprint(ca *x509.Certificate) string {
	if ca == nil {
		return ""
	}
	sum := sha256.Sum256(ca.Raw)
	hexes := make([]string, len(sum))
	for i, b := range sum {
		hexes[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(hexes, ":")
}

// logFatal logs the error that stops serve in the configured format (and to
// syslog when configured) and keeps main from printing it a second time.
func logFatal(log *slog.Logger, err error) error {
	log.Error("mailseal cannot run", "err", err)
	if ee, ok := err.(*exitError); ok {
		return &exitError{code: ee.code, err: ee.err, logged: true}
	}
	return &exitError{code: exitFailed, err: err, logged: true}
}

// countingReinjector counts the copies the reinject listener did not take.
type countingReinjector struct {
	*reinject.Client
	metrics *admin.Metrics
}

func (c countingReinjector) Send(ctx context.Context, env reinject.Envelope, msg []byte) error {
	err := c.Client.Send(ctx, env, msg)
	if err != nil {
		kind := "connection"
		var re *reinject.Error
		if errors.As(err, &re) {
			kind = "permanent"
			if re.Temporary() {
				kind = "temporary"
			}
		}
		c.metrics.ReinjectFailed(kind)
	}
	return err
}
