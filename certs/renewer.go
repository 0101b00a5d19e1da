package certs

import (
	"context"
	"errors"
	"time"
)

// DefaultRenewInterval is used by RunRenewer when interval is not positive.
const DefaultRenewInterval = time.Hour

// RenewDue makes one renewal pass: every current, unrevoked certificate that
// is inside its renewal window (NotAfter-now < RenewBefore, expired ones
// included) is replaced. Revoked addresses are left alone; they get a new
// certificate on their next SigningIdentity. It shares issuance with
// SigningIdentity, so a renewal never races a signing call into a second
// certificate. Failures for single addresses are joined into err; the pass
// goes on.
func (m *Manager) RenewDue(ctx context.Context) (renewed int, err error) {
	recs, err := m.store.CurrentCerts(ctx)
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, r := range recs {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		if r.Revoked() || m.usable(r, m.now()) {
			continue
		}
		id, issued, err := m.obtain(ctx, r.Email)
		if err != nil {
			m.log.Warn("certs: renewal failed", "email", r.Email, "serial", r.Serial, "err", err)
			errs = append(errs, err)
			continue
		}
		if issued {
			renewed++
			m.log.Info("certs: renewed certificate", "email", r.Email, "old_serial", r.Serial,
				"serial", serialHex(id.Cert), "not_after", id.Cert.NotAfter)
		}
	}
	return renewed, errors.Join(errs...)
}

// RunRenewer calls RenewDue at once and then every interval until ctx is done.
func (m *Manager) RunRenewer(ctx context.Context, interval time.Duration) {
	m.RunRenewerObserved(ctx, interval, nil)
}

// RunRenewerObserved is RunRenewer telling observe, when set, the number of
// addresses whose renewal failed in each pass (for metrics).
func (m *Manager) RunRenewerObserved(ctx context.Context, interval time.Duration, observe func(failures int)) {
	if interval <= 0 {
		interval = DefaultRenewInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := m.RenewDue(ctx)
		if observe != nil && ctx.Err() == nil {
			observe(countErrors(err))
		}
		if err != nil && ctx.Err() == nil {
			m.log.Error("certs: renewal pass had failures", "renewed", n, "err", err)
		} else if n > 0 {
			m.log.Info("certs: renewal pass", "renewed", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// countErrors counts the failures RenewDue joined into err.
func countErrors(err error) int {
	if err == nil {
		return 0
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return len(j.Unwrap())
	}
	return 1
}
