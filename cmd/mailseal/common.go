package main

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/config"
)

func configFileFromEnv() string { return config.ConfigFileFromEnv() }

// loadConfig loads and validates; a bad config exits 2 with one line per problem.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		if config.IsInvalid(err) {
			return nil, &exitError{code: 2, err: err}
		}
		return nil, err
	}
	return cfg, nil
}

func newLogger(cfg *config.Config) *slog.Logger {
	if cfg.Log.Output == "syslog" {
		w, err := syslog.New(syslog.LOG_MAIL|syslog.LOG_INFO, "mailseal")
		if err == nil {
			return syslogLogger(w, cfg)
		}
		log := stderrLogger(cfg)
		log.Warn("log.output is syslog but syslog is not reachable; logging to standard error", "key", "log.output", "err", err)
		return log
	}
	return stderrLogger(cfg)
}

func stderrLogger(cfg *config.Config) *slog.Logger {
	return slog.New(logHandler(os.Stderr, cfg, nil))
}

func logHandler(w io.Writer, cfg *config.Config, replace func([]string, slog.Attr) slog.Attr) slog.Handler {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: replace}
	if cfg.Log.Format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// openCerts opens the certificate store and CA the config names.
// onIssue, when set, is told of every certificate this process issues.
func openCerts(ctx context.Context, cfg *config.Config, log *slog.Logger, onIssue func(string, *x509.Certificate)) (*certs.Manager, error) {
	keyType, err := certs.ParseKeyType(cfg.CA.KeyType)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	var masterKey []byte
	if cfg.MasterKey != "" {
		masterKey, _ = base64.StdEncoding.DecodeString(cfg.MasterKey) // validated by config
	}
	caSubject, err := config.ParseSubject(cfg.CA.Subject)
	if err != nil {
		return nil, &exitError{code: 2, err: fmt.Errorf("config: ca.subject: %w", err)}
	}
	var store certs.Store
	if cfg.Postgres() {
		dsn, err := cfg.PostgresDSN()
		if err != nil {
			return nil, &exitError{code: 2, err: fmt.Errorf("config: store.dsn_file: %w", err)}
		}
		if store, err = certs.OpenPostgres(ctx, dsn, time.Now(), log); err != nil {
			return nil, err
		}
	} else if cfg.Store.DSN != "" {
		// store.dsn names the SQLite file when it must live outside state_dir.
		keyFile := cfg.MasterKeyFile
		if keyFile == "" && cfg.MasterKey == "" {
			keyFile = filepath.Join(cfg.StateDir, "master.key")
		}
		if cfg.MasterKey != "" {
			keyFile = ""
		}
		if err := certs.CheckStoreNotLost(cfg.Store.DSN, keyFile); err != nil {
			return nil, err
		}
		if store, err = certs.OpenSQLite(ctx, cfg.Store.DSN, time.Now()); err != nil {
			return nil, err
		}
	}
	issuer, err := newIssuer(cfg)
	if err != nil {
		if store != nil {
			store.Close()
		}
		return nil, err
	}
	caKeys, err := openCAKeyStore(cfg)
	if err != nil {
		if store != nil {
			store.Close()
		}
		return nil, err
	}
	m, err := certs.Open(ctx, certs.Options{
		Issuer:        issuer,
		StateDir:      cfg.StateDir,
		Store:         store,
		MasterKeyFile: cfg.MasterKeyFile,
		MasterKey:     masterKey,
		KeyType:       keyType,
		Validity:      cfg.CA.Validity,
		RenewBefore:   cfg.CA.RenewBefore,
		CRLURL:        cfg.CRLURL(),
		OCSPURL:       cfg.OCSPURL(),
		Logger:        log,
		OnIssue:       onIssue,
		// The CRL and OCSP answers read revocations from the store on each
		// request, so `certs revoke` in another process shows at once.
		CASubject: caSubject,
		// Non-nil even when empty: `certs issue` then refuses every address.
		InternalDomains: append([]string{}, cfg.InternalDomains...),
		CAKeyStore:      caKeys,
	})
	if err != nil {
		closeCAKeyStore(caKeys)
	}
	return m, err
}

// newIssuer builds the issuer ca.backend names; nil is the built-in CA.
// Problems with the files ca.step.* name are config errors (exit 2).
func newIssuer(cfg *config.Config) (certs.Issuer, error) {
	if cfg.CA.Backend != "step" {
		return nil, nil
	}
	st := cfg.CA.Step
	bad := func(key string, err error) error {
		return &exitError{code: 2, err: fmt.Errorf("config: %s: %w", key, err)}
	}
	root, err := certs.LoadPEMCertificate(st.Root)
	if err != nil {
		return nil, bad("ca.step.root", err)
	}
	if !root.IsCA {
		return nil, bad("ca.step.root", fmt.Errorf("%s is not a CA certificate (%s)", st.Root, root.Subject))
	}
	key, err := certs.LoadStepCAKeyFile(st.KeyFile, st.PasswordFile)
	if err != nil {
		key := "ca.step.key_file"
		if st.PasswordFile != "" && strings.Contains(err.Error(), "password") {
			key = "ca.step.password_file"
		}
		return nil, bad(key, err)
	}
	iss, err := certs.NewStepCA(certs.StepCAConfig{URL: st.URL, Root: root, Provisioner: st.Provisioner, Key: key})
	if err != nil {
		return nil, bad("ca.step", err)
	}
	return iss, nil
}
