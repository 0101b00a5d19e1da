package certs

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// builtinCAName is the ca row holding the built-in root.
const builtinCAName = "builtin"

// Manager issues, stores, renews and revokes personal S/MIME certificates.
// All methods are safe for concurrent use.
type Manager struct {
	opts   Options
	store  Store
	sealer *sealer
	issuer Issuer
	caCert *x509.Certificate // nil when the issuer does not tell its root
	// caKeyRef names the built-in CA's key in a PKCS#11 token; "" when
	// the key is sealed in the store.
	caKeyRef string
	log      *slog.Logger

	holder    string // lease holder prefix, unique per Manager
	leaseSeq  atomic.Uint64
	flights   singleflight.Group
	issuances atomic.Uint64

	staleMu     sync.Mutex
	staleLeases map[string]string // lease → holder whose release failed (lease.go)

	idMu    sync.Mutex
	cache   map[string]*Identity // email → last identity handed out
	current map[string]current   // email → the store's recent answer (currentTTL)
	pgp     pgpState             // the same for internal users' OpenPGP keys

	crl crlCache

	closeOnce sync.Once
	closeErr  error
}

// Open opens (and migrates) the store, loads the master key, creates the
// built-in CA on first start (its key sealed in the store like user keys) and
// returns the Manager. Close releases it.
func Open(ctx context.Context, opts Options) (*Manager, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.StateDir != "" {
		if err := prepareStateDir(o.StateDir, o.Logger); err != nil {
			return nil, err
		}
	}
	store := o.Store
	if store == nil {
		if err := CheckStoreNotLost(filepath.Join(o.StateDir, databaseFileName), o.MasterKeyFile); err != nil {
			return nil, err
		}
		if store, err = OpenSQLite(ctx, filepath.Join(o.StateDir, databaseFileName), o.Now()); err != nil {
			return nil, err
		}
	}
	m, err := newManager(ctx, o, store)
	if err != nil {
		store.Close()
		return nil, err
	}
	return m, nil
}

func newManager(ctx context.Context, o Options, store Store) (*Manager, error) {
	m := &Manager{opts: o, store: store, log: o.Logger, cache: make(map[string]*Identity), current: make(map[string]current)}
	fresh, err := m.isFresh(ctx)
	if err != nil {
		return nil, err
	}
	if fresh && o.Issuer == nil && len(o.MasterKey) == 0 {
		if err := CheckStoreNotLost("", o.MasterKeyFile); err != nil {
			return nil, err
		}
	}
	key := o.MasterKey
	if len(key) == 0 {
		if o.MasterKeyFile == "" {
			return nil, errors.New("certs: no master key: set MasterKey or MasterKeyFile")
		}
		if key, err = loadMasterKey(o.MasterKeyFile, fresh, o.Rand); err != nil {
			return nil, err
		}
	}
	if m.sealer, err = newSealer(key, o.Rand); err != nil {
		return nil, err
	}
	m.issuer = o.Issuer
	if m.issuer == nil {
		ca, err := m.loadOrCreateCA(ctx)
		if err != nil {
			return nil, err
		}
		m.issuer = ca
	}
	if c, ok := m.issuer.(CACertifier); ok {
		m.caCert = c.CACertificate()
	}
	id := make([]byte, 8)
	if _, err := io.ReadFull(o.Rand, id); err != nil {
		return nil, fmt.Errorf("certs: random: %w", err)
	}
	m.holder = hex.EncodeToString(id)
	return m, nil
}

// CheckStoreNotLost refuses a first start that is not one: the master key
// file exists, so a CA was created with it, but the store file (storePath;
// "" when the caller already found the store empty) is gone. Opening would
// create a new CA and orphan every trust anchor handed to partners.
func CheckStoreNotLost(storePath, masterKeyFile string) error {
	if masterKeyFile == "" {
		return nil
	}
	if storePath != "" {
		if _, err := os.Stat(storePath); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	if _, err := os.Stat(masterKeyFile); err != nil {
		return nil
	}
	return fmt.Errorf("certs: the store has no CA but the master key %s exists, so this is not a first start: "+
		"the store was deleted or replaced. Restore it from backup (STATE_DIR/%s, or the file store.dsn names) and start again. "+
		"A new CA would orphan every trust anchor handed to partners; only if you really want one, move %s away first",
		masterKeyFile, databaseFileName, masterKeyFile)
}

// isFresh reports whether the store holds no sealed keys yet, so that a
// missing master key file may be created.
func (m *Manager) isFresh(ctx context.Context) (bool, error) {
	if m.opts.Issuer == nil {
		_, err := m.store.CA(ctx, builtinCAName)
		if err == nil || !errors.Is(err, ErrNotFound) {
			return false, err
		}
	}
	recs, err := m.store.CurrentCerts(ctx)
	return len(recs) == 0, err
}

// loadOrCreateCA returns the built-in CA, creating its root on first start.
func (m *Manager) loadOrCreateCA(ctx context.Context) (*BuiltinCA, error) {
	rec, err := m.store.CA(ctx, builtinCAName)
	if errors.Is(err, ErrNotFound) {
		key, ref, err := m.newCAKey()
		if err != nil {
			return nil, err
		}
		var cert *x509.Certificate
		if key != nil {
			cert, err = createRootWithKey(key, m.opts.CASubject, emailConstraints(m.opts.InternalDomains), m.opts.Now(), m.opts.Rand)
		} else {
			cert, key, err = createRoot(m.opts.CASubject, emailConstraints(m.opts.InternalDomains), m.opts.Now(), m.opts.Rand)
		}
		if err != nil {
			return nil, err
		}
		sealed, err := m.sealCAKey(key, ref, caAAD(builtinCAName, serialHex(cert)))
		if err != nil {
			return nil, err
		}
		rec, err = m.store.PutCA(ctx, &CARecord{Name: builtinCAName, CertDER: cert.Raw, KeySealed: sealed, CreatedAt: m.opts.Now()})
		if err != nil {
			return nil, err
		}
		m.log.Info("certs: created built-in CA", "subject", cert.Subject.String(), "not_after", cert.NotAfter,
			"permitted_email", cert.PermittedEmailAddresses, "sha256", FingerprintSHA256(cert), "key", cmp.Or(ref, "sealed in the store"))
	} else if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(rec.CertDER)
	if err != nil {
		return nil, fmt.Errorf("certs: parse built-in CA certificate: %w", err)
	}
	key, ref, err := m.openCAKey(rec.KeySealed, caAAD(builtinCAName, serialHex(cert)))
	if errors.Is(err, ErrWrongMasterKey) {
		return nil, fmt.Errorf("certs: open built-in CA key (is this the master key the state was created with?): %w", err)
	} else if err != nil {
		return nil, err
	}
	m.caKeyRef = ref
	if now := m.opts.Now(); cert.NotAfter.Sub(now) < m.opts.Validity {
		m.log.Warn("certs: built-in CA expires soon; user certificates are cut short", "not_after", cert.NotAfter)
	}
	ca, err := NewBuiltinCA(cert, key, m.opts.CRLURL, m.opts.Rand)
	if err != nil {
		return nil, err
	}
	ca.ocspURL = m.opts.OCSPURL
	return ca, nil
}

// prepareStateDir creates dir 0700 when missing and tightens it to 0700 when
// group or others may enter it: it holds the master key and the store.
func prepareStateDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("certs: create state dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("certs: state dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("certs: state dir %s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(dir, perm&^0o077); err != nil {
			return fmt.Errorf("certs: state dir %s has mode %04o (group or others may use it) and cannot be tightened: %w; chmod 700 it", dir, perm, err)
		}
		log.Warn("certs: state dir was accessible by group or others; tightened", "dir", dir, "old_mode", fmt.Sprintf("%04o", perm), "mode", fmt.Sprintf("%04o", perm&^0o077))
	}
	return nil
}

// Close closes the store. It is safe to call more than once.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() { m.closeErr = errors.Join(m.store.Close(), m.closeCAKeyStore()) })
	return m.closeErr
}

// CACertificate returns the root of the issuer (the built-in CA), or nil when
// an external issuer does not implement CACertifier.
func (m *Manager) CACertificate() *x509.Certificate { return m.caCert }

// Issuances counts certificates this Manager issued since Open (for
// metrics). Options.OnIssue is called for each as well.
func (m *Manager) Issuances() uint64 { return m.issuances.Load() }

func (m *Manager) now() time.Time { return m.opts.Now() }

// serialHex formats a certificate serial as lower-case hex.
func serialHex(c *x509.Certificate) string { return c.SerialNumber.Text(16) }
