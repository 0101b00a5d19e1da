package certs

import (
	"context"
	"errors"
)

// Ping reports whether the store answers queries, for health checks.
func (m *Manager) Ping(ctx context.Context) error {
	_, err := m.store.CurrentCert(ctx, "healthcheck@invalid")
	if err == nil || errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}
