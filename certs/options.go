package certs

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"
)

// Defaults for Options fields left zero.
const (
	DefaultValidity     = 8760 * time.Hour
	DefaultRenewBefore  = 720 * time.Hour
	DefaultCAName       = "mailseal built-in CA"
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultCRLRefresh   = time.Hour
	DefaultOCSPValidity = time.Hour
	DefaultIssueTimeout = 2 * time.Minute
	masterKeyFileName   = "master.key"
	databaseFileName    = "mailseal.db"
	backdate            = 5 * time.Minute
)

// Options configure Open. Zero values take the documented defaults.
type Options struct {
	// StateDir holds mailseal.db (SQLite), master.key and the built-in CA.
	// It is created with mode 0700 when missing. Required unless Store and
	// MasterKey are both given.
	StateDir string
	// MasterKeyFile defaults to StateDir/master.key. On first start (no CA in
	// the store yet) a missing file is created 0600 with 32 random bytes. The
	// file holds 32 raw bytes or their standard base64 encoding; Open refuses
	// a file that is group/world accessible or of the wrong length.
	MasterKeyFile string
	// MasterKey (32 bytes, e.g. from MAILSEAL_MASTER_KEY) wins over the file.
	MasterKey []byte
	// KeyType of user key pairs; default rsa-3072.
	KeyType KeyType
	// Validity of user certificates; default 8760h.
	Validity time.Duration
	// RenewBefore: a certificate is replaced when NotAfter-now < RenewBefore;
	// default 720h. Must be shorter than Validity.
	RenewBefore time.Duration
	// CRLURL goes into user certificates as CRL distribution point.
	CRLURL string
	// OCSPURL goes into user certificates (AIA) as their OCSP responder:
	// where partners reach Manager.OCSPResponse (the admin listener's /ocsp).
	OCSPURL string
	// OCSPValidity: an OCSP answer is valid (nextUpdate) this long after
	// it is made; default 1h. Partners may cache it that long, so a
	// revocation reaches them within this time.
	OCSPValidity time.Duration
	// CAName is the subject CN of the built-in root; default
	// "mailseal built-in CA".
	CAName string
	// CASubject, when its CommonName is set, is the whole subject of a new
	// built-in root (CAName is then ignored).
	CASubject pkix.Name
	// InternalDomains, when not nil, are the only domains (and their
	// subdomains) Issue issues for, and a new built-in root is
	// name-constrained to them (rfc822Name), so partners who trust it trust
	// it for these domains only. nil: no check and no constraints.
	InternalDomains []string
	// CRLRefresh: a cached CRL older than this is signed anew; default 1h.
	// NextUpdate of each CRL is ThisUpdate + 24h (or 2×CRLRefresh if longer).
	CRLRefresh time.Duration
	// IssueTimeout bounds one issuance (key generation, issuer call, store
	// write) independent of the callers' contexts; default 2m.
	IssueTimeout time.Duration
	// Issuer overrides the built-in CA (nil = built-in). The built-in CA is
	// only created when Issuer is nil.
	Issuer Issuer
	// CAKeyStore, when set, holds the built-in CA's key in a PKCS#11 token:
	// a new CA's key is generated there, and an existing CA must have been
	// created with it (see CAKeyStore). Manager.Close closes it when it is
	// an io.Closer; when Open fails, the caller does.
	CAKeyStore CAKeyStore
	// Store overrides the SQLite store in StateDir (e.g. PostgreSQL). Open
	// takes ownership: Manager.Close closes it.
	Store Store
	// OnIssue, when set, is called after each certificate this Manager issued
	// and stored (also counted by Manager.Issuances). It runs on the issuing
	// goroutine: keep it fast and do not call back into the Manager.
	OnIssue func(email string, cert *x509.Certificate)
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Rand is the randomness for serials, nonces, the master key and key
	// generation; default crypto/rand.Reader. (Go's crypto packages may ignore
	// it for key generation.)
	Rand io.Reader
	// Logger; default discards.
	Logger *slog.Logger
}

// withDefaults validates o and fills in defaults.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.StateDir == "" && (o.Store == nil || (len(o.MasterKey) == 0 && o.MasterKeyFile == "")) {
		errs = append(errs, errors.New("certs: StateDir is required"))
	}
	if o.MasterKeyFile == "" && o.StateDir != "" {
		o.MasterKeyFile = filepath.Join(o.StateDir, masterKeyFileName)
	}
	if len(o.MasterKey) != 0 && len(o.MasterKey) != masterKeyLen {
		errs = append(errs, fmt.Errorf("certs: master key must be %d bytes, got %d", masterKeyLen, len(o.MasterKey)))
	}
	kt, err := ParseKeyType(string(o.KeyType))
	if err != nil {
		errs = append(errs, err)
	}
	o.KeyType = kt
	if o.Validity == 0 {
		o.Validity = DefaultValidity
	}
	if o.RenewBefore == 0 {
		o.RenewBefore = DefaultRenewBefore
	}
	if o.Validity < 0 || o.RenewBefore < 0 {
		errs = append(errs, errors.New("certs: Validity and RenewBefore must not be negative"))
	} else if o.RenewBefore >= o.Validity {
		errs = append(errs, fmt.Errorf("certs: RenewBefore (%s) must be shorter than Validity (%s)", o.RenewBefore, o.Validity))
	}
	if o.CAName == "" {
		o.CAName = DefaultCAName
	}
	if o.CASubject.CommonName == "" {
		o.CASubject = pkix.Name{CommonName: o.CAName}
	}
	if o.CRLRefresh <= 0 {
		o.CRLRefresh = DefaultCRLRefresh
	}
	if o.OCSPValidity <= 0 {
		o.OCSPValidity = DefaultOCSPValidity
	}
	if o.IssueTimeout <= 0 {
		o.IssueTimeout = DefaultIssueTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, errors.Join(errs...)
}
