package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParallelSigningIdentityIssuesOnce(t *testing.T) {
	ctx := context.Background()
	opts := testOptions(t, newFakeClock())
	m1 := openTest(t, opts)
	m2 := openTest(t, opts) // a second process sharing the store
	const n = 50
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		serials = map[string]int{}
		issued  int
		errs    []error
	)
	for i := range n {
		m := m1
		if i%5 == 0 {
			m = m2
		}
		wg.Go(func() {
			id, iss, err := m.SigningIdentity(ctx, "bob@corp.example")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			serials[serialHex(id.Cert)]++
			if iss {
				issued++
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(serials) != 1 || issued != 1 {
		t.Errorf("serials %v, issued=true %d times; want one serial, one issuer", serials, issued)
	}
	if got := m1.Issuances() + m2.Issuances(); got != 1 {
		t.Errorf("Issuances = %d, want 1", got)
	}
	recs, err := m1.store.CertsByEmail(ctx, "bob@corp.example")
	if err != nil || len(recs) != 1 {
		t.Errorf("store holds %d certificates, %v", len(recs), err)
	}
}

func TestRenewalInsideRenewBefore(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	opts := testOptions(t, clock)
	opts.Validity = 100 * 24 * time.Hour
	opts.RenewBefore = 10 * 24 * time.Hour
	var onIssue []string
	opts.OnIssue = func(email string, _ *x509.Certificate) { onIssue = append(onIssue, email) }
	m := openTest(t, opts)

	first, issued, err := m.SigningIdentity(ctx, "carol@corp.example")
	if err != nil || !issued {
		t.Fatalf("first: issued %v, %v", issued, err)
	}
	steps := []struct {
		advance    time.Duration
		wantIssued bool
	}{
		{24 * time.Hour, false},            // 99 days left
		{88 * 24 * time.Hour, false},       // 11 days left
		{24*time.Hour + time.Second, true}, // just inside RenewBefore
		{time.Hour, false},                 // new one is fresh
	}
	prev := first
	for i, st := range steps {
		clock.Advance(st.advance)
		id, issued, err := m.SigningIdentity(ctx, "carol@corp.example")
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if issued != st.wantIssued {
			t.Errorf("step %d: issued %v, want %v", i, issued, st.wantIssued)
		}
		if changed := !id.Cert.Equal(prev.Cert); changed != st.wantIssued {
			t.Errorf("step %d: certificate changed %v", i, changed)
		}
		if st.wantIssued && !id.Cert.NotAfter.Equal(clock.Now().Add(opts.Validity)) {
			t.Errorf("step %d: renewed NotAfter %s", i, id.Cert.NotAfter)
		}
		prev = id
	}
	if id, _, _ := m.SigningIdentity(ctx, "carol@corp.example"); id.Cert.Equal(first.Cert) {
		t.Error("old certificate returned after renewal")
	}
	if info, _ := m.Show(ctx, "carol@corp.example"); info.Serial != serialHex(prev.Cert) {
		t.Errorf("Show serial %s, want %s", info.Serial, serialHex(prev.Cert))
	}
	if m.Issuances() != 2 || len(onIssue) != 2 {
		t.Errorf("Issuances %d, OnIssue %v", m.Issuances(), onIssue)
	}
}

func TestRenewDue(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	opts := testOptions(t, clock)
	opts.Validity = 30 * 24 * time.Hour
	opts.RenewBefore = 5 * 24 * time.Hour
	m := openTest(t, opts)
	for _, e := range []string{"a@corp.example", "b@corp.example", "c@corp.example"} {
		if _, _, err := m.SigningIdentity(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(10 * 24 * time.Hour)
	if _, err := m.Issue(ctx, "c@corp.example"); err != nil { // c gets a fresh one on the way
		t.Fatal(err)
	}
	if err := m.Revoke(ctx, "b@corp.example", 5); err != nil {
		t.Fatal(err)
	}
	if n, err := m.RenewDue(ctx); n != 0 || err != nil {
		t.Errorf("nothing due yet: RenewDue = %d, %v", n, err)
	}
	clock.Advance(16 * 24 * time.Hour) // a: 4 days left; c: 14 days left; b revoked
	before, _ := m.Show(ctx, "a@corp.example")
	n, err := m.RenewDue(ctx)
	if n != 1 || err != nil {
		t.Fatalf("RenewDue = %d, %v; want 1", n, err)
	}
	after, _ := m.Show(ctx, "a@corp.example")
	if after.Serial == before.Serial || !after.NotAfter.Equal(clock.Now().Add(opts.Validity)) {
		t.Errorf("a not renewed: %s → %s", before.Serial, after.Serial)
	}
	if b, _ := m.Show(ctx, "b@corp.example"); !b.Revoked {
		t.Error("revoked address was renewed by the renewer")
	}
	if n, err := m.RenewDue(ctx); n != 0 || err != nil {
		t.Errorf("second pass: %d, %v", n, err)
	}

	// RunRenewer runs a pass at once and stops with its context.
	clock.Advance(20 * 24 * time.Hour)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { m.RunRenewer(rctx, time.Hour); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for m.Issuances() < 6 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if got := m.Issuances(); got != 6 { // 3 + c forced + a renewed + c (expired) renewed now
		t.Errorf("Issuances after RunRenewer = %d, want 6", got)
	}
}

func TestIssueForcesNewCertificate(t *testing.T) {
	ctx := context.Background()
	m := openTest(t, testOptions(t, newFakeClock()))
	id1, err := m.Issue(ctx, "dave@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	id2, err := m.Issue(ctx, "dave@corp.example")
	if err != nil || id1.Cert.Equal(id2.Cert) {
		t.Fatalf("second Issue: %v", err)
	}
	id, issued, err := m.SigningIdentity(ctx, "dave@corp.example")
	if err != nil || issued || !id.Cert.Equal(id2.Cert) {
		t.Errorf("SigningIdentity after Issue: issued %v, newest %v, %v", issued, id.Cert.Equal(id2.Cert), err)
	}
	recs, _ := m.store.CertsByEmail(ctx, "dave@corp.example")
	if len(recs) != 2 || recs[1].Revoked() {
		t.Errorf("old certificate gone or revoked: %d records", len(recs))
	}
}

func TestListShow(t *testing.T) {
	ctx := context.Background()
	m := openTest(t, testOptions(t, newFakeClock()))
	if l, err := m.List(ctx); err != nil || len(l) != 0 {
		t.Fatalf("empty List = %v, %v", l, err)
	}
	for _, e := range []string{"zed@corp.example", "amy@corp.example", "zed@corp.example"} {
		if _, err := m.Issue(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	l, err := m.List(ctx)
	if err != nil || len(l) != 2 || l[0].Email != "amy@corp.example" || l[1].Email != "zed@corp.example" {
		t.Fatalf("List = %+v, %v", l, err)
	}
	zed, _ := m.Show(ctx, "zed@corp.example")
	if zed.Serial != l[1].Serial || len(zed.SHA256Fingerprint) != 64 || !strings.Contains(zed.Issuer, DefaultCAName) ||
		zed.Subject != "CN=zed@corp.example" || zed.Cert == nil {
		t.Errorf("Show = %+v", zed)
	}
	if _, err := m.Show(ctx, "nobody@corp.example"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Show unknown = %v", err)
	}
	for _, bad := range []string{"", "no-at-sign", "Name <x@corp.example>", "a@b@c"} {
		if _, _, err := m.SigningIdentity(ctx, bad); err == nil || IsTemporary(err) {
			t.Errorf("SigningIdentity(%q) = %v, want permanent error", bad, err)
		}
	}
}

func TestReopenKeepsCAAndCertificates(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	opts := testOptions(t, clock)
	m := openTest(t, opts)
	ca := m.CACertificate()
	id, _, err := m.SigningIdentity(ctx, "erin@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	m2 := openTest(t, opts)
	if !bytes.Equal(m2.CACertificate().Raw, ca.Raw) {
		t.Error("CA changed on reopen")
	}
	id2, issued, err := m2.SigningIdentity(ctx, "erin@corp.example")
	if err != nil || issued || !id2.Cert.Equal(id.Cert) {
		t.Fatalf("after reopen: issued %v, same %v, %v", issued, id2.Cert.Equal(id.Cert), err)
	}
	if !publicKeysEqual(id2.Key.Public(), id.Cert.PublicKey) || len(id2.Chain) != 1 || !id2.Chain[0].Equal(ca) {
		t.Error("identity key or chain differs after reopen")
	}
	if m2.Issuances() != 0 {
		t.Errorf("Issuances = %d", m2.Issuances())
	}
}

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Options)
		want   string
	}{
		{"no state dir", func(o *Options) { o.StateDir = "" }, "StateDir"},
		{"renew before >= validity", func(o *Options) { o.Validity = time.Hour; o.RenewBefore = time.Hour }, "RenewBefore"},
		{"negative", func(o *Options) { o.Validity = -time.Hour }, "negative"},
		{"master key length", func(o *Options) { o.MasterKey = []byte("short") }, "32 bytes"},
		{"key type", func(o *Options) { o.KeyType = "rsa-512" }, "key type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t, newFakeClock())
			tt.mutate(&opts)
			m, err := Open(context.Background(), opts)
			if err == nil {
				m.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.HasPrefix(err.Error(), "certs: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want %q", err, tt.want)
			}
		})
	}
}
