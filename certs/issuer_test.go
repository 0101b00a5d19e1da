package certs

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeIssuer fails, delays or delegates to a built-in CA.
type fakeIssuer struct {
	err     error
	delay   chan struct{} // when set, Issue waits for it to close
	inner   Issuer
	mangle  func(*IssueResponse)
	calls   atomic.Int32
	revoked atomic.Int32
}

func (f *fakeIssuer) Issue(ctx context.Context, req *IssueRequest) (*IssueResponse, error) {
	f.calls.Add(1)
	if f.delay != nil {
		select {
		case <-f.delay:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	resp, err := f.inner.Issue(ctx, req)
	if err == nil && f.mangle != nil {
		f.mangle(resp)
	}
	return resp, err
}

func (f *fakeIssuer) Revoke(ctx context.Context, req *RevokeRequest) error {
	f.revoked.Add(1)
	return f.err
}

// builtinFor returns the built-in CA of a throwaway Manager.
func builtinFor(t *testing.T) *BuiltinCA {
	t.Helper()
	return openTest(t, testOptions(t, newFakeClock())).issuer.(*BuiltinCA)
}

func TestIssuerErrorsAreTemporary(t *testing.T) {
	ctx := context.Background()
	unreachable := errors.New("step-ca: connection refused")
	other, _ := KeyECDSAP256.generate(rand.Reader)
	tests := []struct {
		name    string
		issuer  *fakeIssuer
		wantIs  error
		wantMsg string
	}{
		{"issuer down", &fakeIssuer{err: unreachable}, unreachable, "connection refused"},
		{"wrong key certified", &fakeIssuer{mangle: func(r *IssueResponse) {
			r.Certificate = &x509.Certificate{PublicKey: other.Public(), EmailAddresses: []string{"x@corp.example"}}
		}}, nil, "different key"},
		{"no chain", &fakeIssuer{mangle: func(r *IssueResponse) { r.Chain = nil }}, nil, "no chain"},
		{"nil response", &fakeIssuer{mangle: func(r *IssueResponse) { r.Certificate = nil }}, nil, "no certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.issuer.inner = builtinFor(t)
			opts := testOptions(t, newFakeClock())
			opts.Issuer = tt.issuer
			m := openTest(t, opts)
			if m.CACertificate() != nil {
				t.Error("CACertificate from an issuer without CACertifier")
			}
			if _, err := m.CRL(ctx); !errors.Is(err, ErrNoCRL) {
				t.Errorf("CRL = %v, want ErrNoCRL", err)
			}
			_, _, err := m.SigningIdentity(ctx, "x@corp.example")
			if !IsTemporary(err) {
				t.Errorf("SigningIdentity error %v is not temporary", err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tt.wantIs)
			}
			if err == nil || !strings.HasPrefix(err.Error(), "certs: ") || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q, want %q", err, tt.wantMsg)
			}
			if _, err := m.Issue(ctx, "x@corp.example"); !IsTemporary(err) {
				t.Errorf("Issue error %v is not temporary", err)
			}
			if m.Issuances() != 0 {
				t.Errorf("Issuances = %d", m.Issuances())
			}
			if _, err := m.Show(ctx, "x@corp.example"); !errors.Is(err, ErrNotFound) {
				t.Errorf("failed issuance stored something: %v", err)
			}
		})
	}
}

func TestIsTemporary(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{base, false},
		{ErrNotFound, false},
		{temporary(base), true},
		{fmt.Errorf("outer: %w", temporary(base)), true},
		{temporaryf("certs: x: %w", context.DeadlineExceeded), true},
	}
	for _, tt := range tests {
		if got := IsTemporary(tt.err); got != tt.want {
			t.Errorf("IsTemporary(%v) = %v", tt.err, got)
		}
	}
	if temporary(nil) != nil {
		t.Error("temporary(nil) != nil")
	}
}

func TestExternalIssuer(t *testing.T) {
	ctx := context.Background()
	ca := builtinFor(t)
	f := &fakeIssuer{inner: ca}
	opts := testOptions(t, newFakeClock())
	opts.Issuer = f
	m := openTest(t, opts)
	id, issued, err := m.SigningIdentity(ctx, "ext@corp.example")
	if err != nil || !issued || id.Cert.CheckSignatureFrom(ca.CACertificate()) != nil {
		t.Fatalf("SigningIdentity via external issuer: %v", err)
	}
	if err := m.Revoke(ctx, "ext@corp.example", 4); err != nil || f.revoked.Load() != 1 {
		t.Errorf("Revoke = %v, issuer saw %d", err, f.revoked.Load())
	}
	f.err = errors.New("down")
	if _, err := m.Issue(ctx, "ext@corp.example"); !IsTemporary(err) {
		t.Errorf("Issue with issuer down = %v", err)
	}
}

func TestCallerCancelDoesNotAbortSharedIssuance(t *testing.T) {
	ctx := context.Background()
	f := &fakeIssuer{delay: make(chan struct{})}
	f.inner = builtinFor(t)
	opts := testOptions(t, newFakeClock())
	opts.Issuer = f
	m := openTest(t, opts)

	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, _, err := m.SigningIdentity(cctx, "slow@corp.example")
	if !IsTemporary(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled caller got %v", err)
	}
	close(f.delay) // the detached flight finishes and stores the certificate
	deadline := time.Now().Add(5 * time.Second)
	for m.Issuances() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	id, issued, err := m.SigningIdentity(ctx, "slow@corp.example")
	if err != nil || issued || id == nil {
		t.Fatalf("after flight: issued %v, %v", issued, err)
	}
	if f.calls.Load() != 1 {
		t.Errorf("issuer called %d times", f.calls.Load())
	}
}
