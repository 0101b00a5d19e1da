package pgsql

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultLeaderRetry is how often a candidate that is not the leader tries
// again, and how often the leader checks that its lock connection is alive:
// another instance takes over well within a minute of the leader stopping.
const DefaultLeaderRetry = 10 * time.Second

// Leader elects one runner per job name among every instance on one
// database. The lock is a session-level advisory lock held on a
// connection of its own: when the leader's process stops or its
// connection breaks, PostgreSQL releases the lock and the next candidate
// to retry takes over.
type Leader struct {
	DSN    string
	Retry  time.Duration // 0: DefaultLeaderRetry
	Logger *slog.Logger  // nil: discard
}

// LockKey is the advisory lock key of a job name (namespaced so other
// applications on the same database do not collide by accident).
func LockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("mailseal leader " + name))
	return int64(h.Sum64())
}

// Run calls fn once this instance holds the lock for name, with a context
// that is cancelled when the lock is lost; after fn returns because its
// lock was lost, Run competes again. Run returns when ctx is done, or
// when fn returns on its own while ctx is still live (nil).
func (l *Leader) Run(ctx context.Context, name string, fn func(ctx context.Context)) error {
	retry := l.Retry
	if retry <= 0 {
		retry = DefaultLeaderRetry
	}
	log := l.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	key := LockKey(name)
	for {
		done, err := l.term(ctx, name, key, retry, log, fn)
		if done {
			return nil
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("leader election: will retry", "job", name, "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retry):
		}
	}
}

// term is one connection's life: it tries for the lock until it gets it
// (or the connection fails), then runs fn. done reports that fn returned
// on its own, with the lock still held.
func (l *Leader) term(ctx context.Context, name string, key int64, retry time.Duration, log *slog.Logger, fn func(context.Context)) (done bool, err error) {
	cfg, err := pgx.ParseConfig(l.DSN)
	if err != nil {
		return false, errors.New("pgsql: the DSN cannot be parsed")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("pgsql: connect for leader lock: %w", err)
	}
	// Closing the connection releases the lock, also when unlock fails.
	defer conn.Close(context.WithoutCancel(ctx))
	for {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
			return false, fmt.Errorf("pgsql: leader lock %s: %w", name, err)
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(retry):
		}
	}
	log.Info("leader election: this instance runs the job", "job", name)
	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		fn(jobCtx)
	}()
	tick := time.NewTicker(retry)
	defer tick.Stop()
	for {
		select {
		case <-finished:
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			_, _ = conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, key)
			return true, nil
		case <-tick.C:
			// The lock lives as long as this session: a failed round trip
			// means it may already be someone else's, so stop the job.
			pctx, pcancel := context.WithTimeout(ctx, retry)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil && ctx.Err() == nil {
				log.Warn("leader election: lost the lock connection, stopping the job", "job", name, "err", err)
				cancel()
				<-finished
				return false, err
			}
		}
	}
}
