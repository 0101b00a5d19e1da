package revocation

import (
	"log/slog"
	"net/http"
	"time"
)

// Defaults for Options fields left zero.
const (
	DefaultTimeout       = 10 * time.Second
	DefaultCacheMax      = 10000
	DefaultMaxTTL        = 24 * time.Hour
	DefaultFailureTTL    = time.Minute
	DefaultMaxAge        = 7 * 24 * time.Hour
	DefaultSkew          = 5 * time.Minute
	DefaultIssuerTTL     = 24 * time.Hour
	DefaultMaxOCSPSize   = 64 << 10
	DefaultMaxCRLSize    = 20 << 20
	DefaultMaxIssuerSize = 256 << 10
	maxRedirects         = 3
	maxIssuerCerts       = 16
)

// Options configure a Checker. Zero values take the defaults above.
type Options struct {
	// Client makes the HTTP requests. nil: a client with Timeout that
	// follows at most 3 redirects, to http and https URLs only. A given
	// client is used as is (its redirect policy too); Timeout still bounds
	// each request through its context.
	Client *http.Client
	// Timeout bounds one HTTP exchange (OCSP request, CRL or issuer
	// download), default 10s (trust.revocation_timeout).
	Timeout time.Duration
	// CacheMax is the most answers kept per cache (OCSP answers, CRLs,
	// issuer downloads), default 10000 (trust.revocation_cache_max).
	CacheMax int
	// MaxTTL caps how long an answer is cached even when its nextUpdate is
	// later, default 24h; it is also how long an answer without nextUpdate
	// is cached.
	MaxTTL time.Duration
	// FailureTTL is how long a failed fetch is remembered, so a dead
	// responder costs one timeout per FailureTTL rather than one per
	// message; default 1m.
	FailureTTL time.Duration
	// MaxAge: an answer without nextUpdate whose thisUpdate is older than
	// this is stale; default 7 days.
	MaxAge time.Duration
	// Skew is the clock difference allowed when judging thisUpdate and
	// nextUpdate, default 5m.
	Skew time.Duration
	// IssuerTTL is how long downloaded issuer certificates are cached,
	// default 24h.
	IssuerTTL time.Duration
	// Size limits of downloaded bodies.
	MaxOCSPSize, MaxCRLSize, MaxIssuerSize int64
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger gets one debug line per fetch; default discards.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.CacheMax <= 0 {
		o.CacheMax = DefaultCacheMax
	}
	if o.MaxTTL <= 0 {
		o.MaxTTL = DefaultMaxTTL
	}
	if o.FailureTTL <= 0 {
		o.FailureTTL = DefaultFailureTTL
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Skew <= 0 {
		o.Skew = DefaultSkew
	}
	if o.IssuerTTL <= 0 {
		o.IssuerTTL = DefaultIssuerTTL
	}
	if o.MaxOCSPSize <= 0 {
		o.MaxOCSPSize = DefaultMaxOCSPSize
	}
	if o.MaxCRLSize <= 0 {
		o.MaxCRLSize = DefaultMaxCRLSize
	}
	if o.MaxIssuerSize <= 0 {
		o.MaxIssuerSize = DefaultMaxIssuerSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Client == nil {
		o.Client = &http.Client{
			Timeout: o.Timeout,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= maxRedirects {
					return errTooManyRedirects
				}
				if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
					return errBadRedirect
				}
				return nil
			},
		}
	}
	return o
}
