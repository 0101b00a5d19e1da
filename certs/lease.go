package certs

import (
	"context"
	"time"
)

// Issuance leases whose release failed (the store was down when issuing
// ended) would hold their address until they expire, minutes after the
// store is back. The call that held such a lease has ended, and its holder
// name is unique to that call, so releasing it later can never take a
// lease from anyone who still relies on it: the next acquire for the same
// lease releases it first.

// releaseLease releases lease and, when that fails, remembers it for
// releaseStale.
func (m *Manager) releaseLease(ctx context.Context, lease, holder string) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := m.store.ReleaseLease(rctx, lease, holder)
	if err != nil {
		m.staleMu.Lock()
		if m.staleLeases == nil {
			m.staleLeases = map[string]string{}
		}
		m.staleLeases[lease] = holder
		m.staleMu.Unlock()
	}
	return err
}

// releaseStale releases this Manager's lease on lease whose release failed
// before, if any; a failure leaves it for the next try (and the expiry).
func (m *Manager) releaseStale(ctx context.Context, lease string) {
	m.staleMu.Lock()
	holder, ok := m.staleLeases[lease]
	m.staleMu.Unlock()
	if !ok {
		return
	}
	if err := m.store.ReleaseLease(ctx, lease, holder); err != nil {
		return
	}
	m.staleMu.Lock()
	if m.staleLeases[lease] == holder {
		delete(m.staleLeases, lease)
	}
	m.staleMu.Unlock()
	m.log.Info("certs: released an issuance lease left over from a store failure", "lease", lease)
}
