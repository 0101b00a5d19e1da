package certs

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// countingStore counts CurrentCert lookups.
type countingStore struct {
	Store
	lookups atomic.Int64
}

func (s *countingStore) CurrentCert(ctx context.Context, email string) (*CertRecord, error) {
	s.lookups.Add(1)
	return s.Store.CurrentCert(ctx, email)
}

// SigningIdentity reuses the store's answer for currentTTL, but never past
// a revocation or issuance by this Manager, and sees another process's
// revocation once the answer is older than currentTTL.
func TestSigningIdentityReusesCurrentCertificate(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	opts := testOptions(t, clock)
	base, err := OpenSQLite(ctx, opts.StateDir+"/"+databaseFileName, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	store := &countingStore{Store: base}
	opts.Store = store
	m := openTest(t, opts)
	first, issued, err := m.SigningIdentity(ctx, "alice@corp.example")
	if err != nil || !issued {
		t.Fatalf("first: issued %v, %v", issued, err)
	}

	type step struct {
		name        string
		before      func(t *testing.T)
		wantLookups int64 // store lookups this call may make
		wantSame    bool  // same certificate as the previous call
		wantIssued  bool
	}
	prev := first
	steps := []step{
		{"first lookup after issuing asks the store", nil, 1, true, false},
		{"within currentTTL: no lookup", func(*testing.T) { clock.Advance(currentTTL / 2) }, 0, true, false},
		{"after currentTTL: asks again", func(*testing.T) { clock.Advance(currentTTL) }, 1, true, false},
		{"revoked by another process: still reused within currentTTL", func(t *testing.T) {
			if err := base.MarkRevoked(ctx, serialHex(prev.Cert), clock.Now(), 1); err != nil {
				t.Fatal(err)
			}
		}, 0, true, false},
		{"... and replaced once currentTTL has passed", func(*testing.T) { clock.Advance(currentTTL) }, 2, false, true},
		{"revoked by this Manager: replaced at once", func(t *testing.T) {
			if err := m.Revoke(ctx, "alice@corp.example", 1); err != nil {
				t.Fatal(err)
			}
		}, 2, false, true},
		{"clock stepped back (within the backdating): asks the store", func(*testing.T) { clock.Advance(-time.Minute) }, 1, true, false},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before(t)
		}
		before := store.lookups.Load()
		id, issued, err := m.SigningIdentity(ctx, "Alice@corp.example")
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := store.lookups.Load() - before; got != st.wantLookups {
			t.Errorf("%s: %d store lookups, want %d", st.name, got, st.wantLookups)
		}
		if same := id.Cert.Equal(prev.Cert); same != st.wantSame || issued != st.wantIssued {
			t.Errorf("%s: same certificate %v issued %v, want %v %v", st.name, same, issued, st.wantSame, st.wantIssued)
		}
		prev = id
	}
}
