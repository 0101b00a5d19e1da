package enroll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mailseal/mailseal/certs"
)

// Manager is what the directory job needs of certs.Manager.
type Manager interface {
	Enroller
	Holders(ctx context.Context) ([]string, error)
	Revoke(ctx context.Context, email string, reason int) error
	TryJobLease(ctx context.Context, name string, ttl time.Duration) (*certs.JobLease, bool, error)
}

// SyncResult is one directory pass: the enrolment and who was revoked.
type SyncResult struct {
	Result
	Members       int
	Revoked       []string
	RevokeFailed  []Failure
	RevokeSkipped string // why departed people were not revoked, "" when they were (or none left)
}

// Sync enrols every member the directory returns and, when revokeDeparted,
// revokes (cessationOfOperation) the current certificates of addresses the
// directory no longer returns. It never revokes after a failed search or
// when the search returned nobody (a wrong filter or an emptied group must
// not take everyone's certificate), nor while a member's enrolment failed
// because the store or issuer is down (then the picture may be wrong).
func Sync(ctx context.Context, m Manager, d *Directory, revokeDeparted bool, o Options) (*SyncResult, error) {
	members, err := d.Members(ctx)
	if err != nil {
		return nil, err
	}
	r := &SyncResult{Members: len(members)}
	r.Result = Run(ctx, m, members, o)
	if !revokeDeparted {
		return r, nil
	}
	switch {
	case len(members) == 0:
		r.RevokeSkipped = "the directory returned no members"
		return r, nil
	case ctx.Err() != nil:
		r.RevokeSkipped = "the run was stopped"
		return r, nil
	}
	for _, f := range r.Failed {
		if certs.IsTemporary(f.Err) || errors.Is(f.Err, context.Canceled) || errors.Is(f.Err, context.DeadlineExceeded) {
			r.RevokeSkipped = "enrolment had temporary failures"
			return r, nil
		}
	}
	present := make(map[string]bool, len(members))
	for _, a := range members {
		present[lowerASCII(a)] = true
	}
	holders, err := m.Holders(ctx)
	if err != nil {
		return r, fmt.Errorf("enroll: list certificate holders: %w", err)
	}
	for _, h := range holders {
		if present[h] {
			continue
		}
		if err := m.Revoke(ctx, h, certs.ReasonCessationOfOperation); err != nil && !errors.Is(err, certs.ErrNotFound) {
			r.RevokeFailed = append(r.RevokeFailed, Failure{Address: h, Reason: err.Error()})
			continue
		}
		r.Revoked = append(r.Revoked, h)
	}
	return r, nil
}

// JobName is the store-wide lease name of the scheduled directory job.
const JobName = "enroll-ldap"

// Schedule runs Sync at once and then every interval until ctx ends, in
// only one process of those sharing the store: the others skip a pass
// while the lease is held elsewhere. Each pass logs one summary line.
func Schedule(ctx context.Context, m Manager, d *Directory, revokeDeparted bool, interval time.Duration, o Options, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		SyncOnce(ctx, m, d, revokeDeparted, o, log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// leaseTTL is how long a crashed job blocks the others; a running job
// renews its lease every third of it.
const leaseTTL = 3 * time.Minute

// SyncOnce is one scheduled pass under the job lease; it logs the outcome.
// It returns false when another process held the lease or the pass failed.
func SyncOnce(ctx context.Context, m Manager, d *Directory, revokeDeparted bool, o Options, log *slog.Logger) bool {
	lease, ok, err := m.TryJobLease(ctx, JobName, leaseTTL)
	if err != nil {
		log.Error("enroll: LDAP job: cannot take the job lease", "err", err)
		return false
	}
	if !ok {
		log.Info("enroll: LDAP job runs in another instance; skipping this pass")
		return false
	}
	defer lease.Release()
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-lease.Lost:
			cancel()
		case <-jctx.Done():
		}
	}()
	r, err := Sync(jctx, m, d, revokeDeparted, o)
	if err != nil {
		log.Error("enroll: LDAP job failed; nothing revoked", "err", err)
		return false
	}
	LogSync(log, r)
	return len(r.Failed) == 0 && len(r.RevokeFailed) == 0
}

// LogSync writes the summary line of a directory pass and one line per
// failure (a failure list is only written by the command).
func LogSync(log *slog.Logger, r *SyncResult) {
	attrs := []any{"members", r.Members, "enrolled", r.Enrolled, "already", r.Already, "failed", len(r.Failed), "revoked", len(r.Revoked), "took", r.Took.Round(time.Millisecond)}
	if r.RevokeSkipped != "" {
		attrs = append(attrs, "revoke_skipped", r.RevokeSkipped)
	}
	msg := "enroll: LDAP " + r.Summary()
	if len(r.Failed) > 0 || len(r.RevokeFailed) > 0 {
		log.Warn(msg, attrs...)
	} else {
		log.Info(msg, attrs...)
	}
	for _, f := range r.Failed {
		log.Warn("enroll: could not enrol", "email", f.Address, "err", f.Reason)
	}
	for _, a := range r.Revoked {
		log.Info("enroll: revoked certificate of departed member", "email", a, "reason", "cessationOfOperation")
	}
	for _, f := range r.RevokeFailed {
		log.Warn("enroll: could not revoke departed member", "email", f.Address, "err", f.Reason)
	}
}
