package certs

import "context"

// Leader is a store shared by several instances that elects one of them to
// run a job which must not run twice at once (the renewer, the LDAP
// enrolment job). PostgresStore is one; SQLite serves one instance only.
type Leader interface {
	// RunAsLeader runs fn once this instance leads for name, with a
	// context cancelled when leadership is lost; it competes again
	// afterwards and returns when ctx is done or fn returned by itself.
	RunAsLeader(ctx context.Context, name string, fn func(ctx context.Context)) error
}

// RunAsLeader runs fn as the leader for name when the store is shared
// (Leader), else at once: a single instance always leads. It returns when
// ctx is done or fn returned by itself.
func (m *Manager) RunAsLeader(ctx context.Context, name string, fn func(ctx context.Context)) error {
	if l, ok := m.store.(Leader); ok {
		return l.RunAsLeader(ctx, name, fn)
	}
	fn(ctx)
	return ctx.Err()
}
