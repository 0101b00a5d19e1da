package certs

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Each address whose renewal fails is reported to the observer (the
// renewal-failure metric), and SoonestExpiry names the first expiry.
func TestRenewerReportsFailuresAndSoonestExpiry(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	issuer := &fakeIssuer{inner: builtinFor(t)}
	opts := testOptions(t, clock)
	opts.Issuer = issuer
	opts.Validity = 30 * 24 * time.Hour
	opts.RenewBefore = 5 * 24 * time.Hour
	m := openTest(t, opts)
	if s, err := m.SoonestExpiry(ctx); err != nil || !s.IsZero() {
		t.Fatalf("SoonestExpiry without certificates = %v, %v", s, err)
	}
	var first time.Time
	for i, e := range []string{"a@corp.example", "b@corp.example"} {
		id, _, err := m.SigningIdentity(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = id.Cert.NotAfter
		}
		clock.Advance(time.Hour)
	}
	if s, err := m.SoonestExpiry(ctx); err != nil || !s.Equal(first) {
		t.Fatalf("SoonestExpiry = %v, %v; want %v", s, err, first)
	}

	issuer.err = errors.New("step-ca: connection refused")
	clock.Advance(27 * 24 * time.Hour)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	passes := make(chan int, 1)
	go m.RunRenewerObserved(rctx, time.Hour, func(n int) {
		select {
		case passes <- n:
		default:
		}
	})
	select {
	case n := <-passes:
		if n != 2 {
			t.Fatalf("renewal failures reported = %d, want 2", n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no renewal pass reported")
	}
}
