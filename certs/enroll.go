package certs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// ReasonCessationOfOperation is the RFC 5280 reason for a person who left.
const ReasonCessationOfOperation = 5

// Enroll makes sure email (lower-cased) has a usable certificate ahead of
// its first mail. It takes the same path as SigningIdentity, so an address
// is issued for exactly once even when a mail, the renewer or another
// instance asks at the same moment; unlike SigningIdentity it refuses
// addresses outside internal_domains with a message saying so, and it does
// not unseal the key of a certificate that is already there. issued is
// false when the address already had a usable certificate.
func (m *Manager) Enroll(ctx context.Context, email string) (issued bool, err error) {
	email, err = normalizeEmail(email)
	if err != nil {
		return false, err
	}
	if d := m.opts.InternalDomains; d != nil && !inDomains(email, d) {
		if len(d) == 0 {
			return false, fmt.Errorf("certs: %s is not in internal_domains, which is empty: certificates are issued for internal users only", email)
		}
		return false, fmt.Errorf("certs: %s is not in internal_domains (%s): certificates are issued for internal users only", email, strings.Join(d, ", "))
	}
	rec, err := m.store.CurrentCert(ctx, email)
	switch {
	case err == nil && m.usable(rec, m.now()):
		return false, nil
	case err != nil && !errors.Is(err, ErrNotFound):
		return false, temporary(err)
	}
	_, issued, err = m.obtain(ctx, email)
	return issued, err
}

// Holders returns the addresses whose current certificate is neither
// revoked nor expired, in address order.
func (m *Manager) Holders(ctx context.Context) ([]string, error) {
	recs, err := m.store.CurrentCerts(ctx)
	if err != nil {
		return nil, err
	}
	now := m.now()
	var out []string
	for _, r := range recs {
		if !r.Revoked() && r.NotAfter.After(now) {
			out = append(out, r.Email)
		}
	}
	return out, nil
}

// JobLease is a store-wide lease that lets one process (of all sharing the
// store) run a named background job. Lost is closed when the lease could
// not be kept; the job should stop then.
type JobLease struct {
	Lost    <-chan struct{}
	release func()
}

// Release gives the lease up; safe to call more than once.
func (l *JobLease) Release() { l.release() }

// jobLeasePrefix keeps job names apart from addresses in the lease table
// (an address always holds an '@', a job name never).
const jobLeasePrefix = "job:"

// TryJobLease takes the lease for the job name for ttl and keeps renewing
// it until Release. ok is false when another process holds it.
func (m *Manager) TryJobLease(ctx context.Context, name string, ttl time.Duration) (lease *JobLease, ok bool, err error) {
	if name == "" || strings.Contains(name, "@") {
		return nil, false, fmt.Errorf("certs: invalid job name %q", name)
	}
	key := jobLeasePrefix + name
	holder := fmt.Sprintf("%s-job-%d", m.holder, m.leaseSeq.Add(1))
	now := m.now()
	if ok, err := m.store.AcquireLease(ctx, key, holder, now, now.Add(ttl)); err != nil || !ok {
		return nil, false, err
	}
	lost := make(chan struct{})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			// The store only hands out expired leases, so extending is a
			// release and re-take; should another process win the moment
			// between, the job learns through Lost.
			rctx, cancel := context.WithTimeout(context.Background(), ttl/3)
			now := m.now()
			err := m.store.ReleaseLease(rctx, key, holder)
			ok := false
			if err == nil {
				ok, err = m.store.AcquireLease(rctx, key, holder, now, now.Add(ttl))
			}
			cancel()
			if err != nil || !ok {
				m.log.Warn("certs: job lease lost", "job", name, "err", err)
				close(lost)
				<-stop
				return
			}
		}
	}()
	var once sync.Once
	release := func() {
		once.Do(func() {
			close(stop)
			<-done
			rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := m.store.ReleaseLease(rctx, key, holder); err != nil {
				m.log.Warn("certs: release job lease", "job", name, "err", err)
			}
		})
	}
	return &JobLease{Lost: lost, release: release}, true, nil
}
