package certs

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// downStore fails InsertCert, InsertPGPKey and ReleaseLease while down: a store that
// goes away in the middle of an issuance.
type downStore struct {
	Store
	down atomic.Bool
}

var errStoreDown = errors.New("store down")

func (s *downStore) InsertCert(ctx context.Context, rec *CertRecord) error {
	if s.down.Load() {
		return errStoreDown
	}
	return s.Store.InsertCert(ctx, rec)
}

func (s *downStore) InsertPGPKey(ctx context.Context, rec *PGPKeyRecord) error {
	if s.down.Load() {
		return errStoreDown
	}
	return s.Store.InsertPGPKey(ctx, rec)
}

func (s *downStore) ReleaseLease(ctx context.Context, lease, holder string) error {
	if s.down.Load() {
		return errStoreDown
	}
	return s.Store.ReleaseLease(ctx, lease, holder)
}

// An issuance lease whose release failed while the store was down does not
// hold its address once the store is back: the next issuance releases it
// rather than wait for it to expire (the clock here never moves, so it
// would not).
func TestLeaseLeftByStoreFailureIsReleased(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	opts := testOptions(t, clock)
	base := opts.Store
	if base == nil {
		var err error
		if base, err = OpenSQLite(ctx, opts.StateDir+"/"+databaseFileName, clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	store := &downStore{Store: base}
	opts.Store = store
	m := openTest(t, opts)

	for _, tc := range []struct{ name, email string }{
		{"S/MIME", "alice@corp.example"},
		{"OpenPGP", "bob@corp.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			issue := func(ctx context.Context) error {
				if tc.name == "OpenPGP" {
					_, _, err := m.PGPIdentity(ctx, tc.email)
					return err
				}
				_, _, err := m.SigningIdentity(ctx, tc.email)
				return err
			}
			store.down.Store(true)
			if err := issue(ctx); err == nil {
				t.Fatal("issuance with the store down succeeded")
			}
			store.down.Store(false)
			ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if err := issue(ctx); err != nil {
				t.Fatalf("issuance after the store came back: %v", err)
			}
		})
	}
}
