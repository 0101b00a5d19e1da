package certs

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEnrollIssuesExactlyOnce(t *testing.T) {
	clock := newFakeClock()
	opts := testOptions(t, clock)
	opts.InternalDomains = []string{"corp.example"}
	m := openTest(t, opts)
	ctx := context.Background()

	var issued atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := m.Enroll(ctx, "Alice@Corp.Example")
			if err != nil {
				t.Error(err)
			}
			if ok {
				issued.Add(1)
			}
		}()
	}
	// A mail of the same person at the same moment shares the issuance.
	if _, _, err := m.SigningIdentity(ctx, "alice@corp.example"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if m.Issuances() != 1 || issued.Load() > 1 {
		t.Fatalf("issuances = %d, enrol calls reporting issued = %d; want exactly one certificate", m.Issuances(), issued.Load())
	}
	again, err := m.Enroll(ctx, "alice@corp.example")
	if err != nil || again {
		t.Fatalf("second Enroll = %v, %v; want already enrolled", again, err)
	}

	if _, err := m.Enroll(ctx, "bob@partner.example"); err == nil {
		t.Fatal("Enroll of an address outside internal_domains succeeded")
	}
	if _, err := m.Enroll(ctx, "not an address"); err == nil {
		t.Fatal("Enroll of a malformed address succeeded")
	}
	if m.Issuances() != 1 {
		t.Fatalf("issuances = %d after refused enrolments", m.Issuances())
	}

	// A revoked certificate is replaced by the next enrolment.
	if err := m.Revoke(ctx, "alice@corp.example", ReasonCessationOfOperation); err != nil {
		t.Fatal(err)
	}
	holders, err := m.Holders(ctx)
	if err != nil || len(holders) != 0 {
		t.Fatalf("Holders after revocation = %v, %v; want none", holders, err)
	}
	if ok, err := m.Enroll(ctx, "alice@corp.example"); err != nil || !ok {
		t.Fatalf("Enroll after revocation = %v, %v; want a new certificate", ok, err)
	}
	holders, err = m.Holders(ctx)
	if err != nil || len(holders) != 1 || holders[0] != "alice@corp.example" {
		t.Fatalf("Holders = %v, %v", holders, err)
	}
}

func TestJobLeaseIsExclusive(t *testing.T) {
	clock := newFakeClock()
	m := openTest(t, testOptions(t, clock))
	ctx := context.Background()
	l1, ok, err := m.TryJobLease(ctx, "enroll-ldap", time.Minute)
	if err != nil || !ok {
		t.Fatalf("first TryJobLease = %v, %v", ok, err)
	}
	if _, ok, err := m.TryJobLease(ctx, "enroll-ldap", time.Minute); err != nil || ok {
		t.Fatalf("second TryJobLease while held = %v, %v; want refused", ok, err)
	}
	if _, ok, err := m.TryJobLease(ctx, "other-job", time.Minute); err != nil || !ok {
		t.Fatalf("another job's lease = %v, %v; want taken", ok, err)
	}
	l1.Release()
	l1.Release()
	l2, ok, err := m.TryJobLease(ctx, "enroll-ldap", time.Minute)
	if err != nil || !ok {
		t.Fatalf("TryJobLease after release = %v, %v", ok, err)
	}
	l2.Release()
	if _, _, err := m.TryJobLease(ctx, "a@b", time.Minute); err == nil {
		t.Fatal("a job name that looks like an address was accepted")
	}
}

// A running job keeps its lease past the TTL: it is renewed every third.
func TestJobLeaseIsRenewed(t *testing.T) {
	opts := testOptions(t, newFakeClock())
	opts.Now = time.Now // lease expiry needs a clock that moves
	m := openTest(t, opts)
	ctx := context.Background()
	l, ok, err := m.TryJobLease(ctx, "enroll-ldap", 3*time.Second)
	if err != nil || !ok {
		t.Fatalf("TryJobLease = %v, %v", ok, err)
	}
	defer l.Release()
	time.Sleep(4 * time.Second)
	select {
	case <-l.Lost:
		t.Fatal("lease reported lost although nobody else asked")
	default:
	}
	if _, ok, err := m.TryJobLease(ctx, "enroll-ldap", time.Minute); err != nil || ok {
		t.Fatalf("another holder took the lease of a running job after its TTL: %v, %v", ok, err)
	}
}
