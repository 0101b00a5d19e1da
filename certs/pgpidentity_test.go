package certs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// checkPGPUsable signs and encrypts with id's key through go-crypto, so a
// key that is only stored but cannot work fails the test.
func checkPGPUsable(t *testing.T, id *PGPIdentity, now time.Time) {
	t.Helper()
	cfg := &pgpTestConfig{now: now}
	var sig bytes.Buffer
	msg := []byte("Content-Type: text/plain\r\n\r\nhello\r\n")
	if err := openpgp.ArmoredDetachSign(&sig, id.Entity, bytes.NewReader(msg), cfg.packet()); err != nil {
		t.Fatalf("sign with %s: %v", id.Fingerprint, err)
	}
	pub, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(id.PublicArmored))
	if err != nil || len(pub) != 1 {
		t.Fatalf("public key of %s: %d keys, %v", id.Email, len(pub), err)
	}
	if pub[0].PrivateKey != nil {
		t.Fatalf("public key of %s carries secret key material", id.Email)
	}
	if _, err := openpgp.CheckArmoredDetachedSignature(pub, bytes.NewReader(msg), &sig, cfg.packet()); err != nil {
		t.Fatalf("verify with the public key of %s: %v", id.Email, err)
	}
	if _, ok := pub[0].EncryptionKey(now); !ok {
		t.Fatalf("public key of %s has no usable encryption subkey at %s", id.Email, now)
	}
	if pgpFingerprint(pub[0]) != id.Fingerprint {
		t.Fatalf("public key fingerprint %s, identity says %s", pgpFingerprint(pub[0]), id.Fingerprint)
	}
}

func TestPGPIdentityLifecycle(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	opts := testOptions(t, clock)
	m := openTest(t, opts)
	first, issued, err := m.PGPIdentity(ctx, "Alice@Corp.Example")
	if err != nil || !issued {
		t.Fatalf("first PGPIdentity: issued %v, %v", issued, err)
	}
	if first.Email != "alice@corp.example" || len(first.Fingerprint) != 40 || first.KeyType != "ecdsa-p256" {
		t.Fatalf("identity = %+v", first)
	}
	if want := clock.Now().Add(DefaultValidity); !first.Expires.Equal(want) {
		t.Errorf("expires %s, want now + ca.validity = %s", first.Expires, want)
	}
	checkPGPUsable(t, first, clock.Now())

	type step struct {
		name       string
		before     func(t *testing.T)
		email      string
		wantSame   bool // same key as the previous step
		wantIssued bool
	}
	prev := first
	steps := []step{
		{"same key again", nil, "alice@corp.example", true, false},
		{"after currentTTL, from the store", func(*testing.T) { clock.Advance(currentTTL) }, "alice@corp.example", true, false},
		{"another address gets its own key", nil, "bob@corp.example", false, true},
		{"back to alice", nil, "alice@corp.example", false, false},
		{"a fresh Manager on the same store reads the sealed key", func(t *testing.T) {
			m.Close()
			m = openTest(t, opts)
		}, "alice@corp.example", true, false},
		{"revoked: a new key at once", func(t *testing.T) {
			if err := m.RevokePGPKey(ctx, "alice@corp.example"); err != nil {
				t.Fatal(err)
			}
		}, "alice@corp.example", false, true},
		{"inside ca.renew_before: renewed", func(*testing.T) {
			clock.Advance(DefaultValidity - DefaultRenewBefore + time.Hour)
		}, "alice@corp.example", false, true},
		{"expired: renewed", func(*testing.T) { clock.Advance(DefaultValidity + time.Hour) }, "alice@corp.example", false, true},
		{"and kept", nil, "alice@corp.example", true, false},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before(t)
		}
		id, issued, err := m.PGPIdentity(ctx, st.email)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if same := id.Fingerprint == prev.Fingerprint; same != st.wantSame || issued != st.wantIssued {
			t.Errorf("%s: same key %v issued %v, want %v %v", st.name, same, issued, st.wantSame, st.wantIssued)
		}
		if id.Email != st.email {
			t.Errorf("%s: identity for %s", st.name, id.Email)
		}
		checkPGPUsable(t, id, clock.Now())
		prev = id
	}
	recs, err := m.store.PGPKeysByEmail(ctx, "alice@corp.example")
	if err != nil || len(recs) != 4 {
		t.Fatalf("store holds %d keys for alice, %v; want 4 (never deleted)", len(recs), err)
	}
	if !recs[3].Revoked() || recs[0].Revoked() || recs[0].Fingerprint != prev.Fingerprint {
		t.Errorf("newest %s revoked %v, oldest revoked %v", recs[0].Fingerprint, recs[0].Revoked(), recs[3].Revoked())
	}
	// The S/MIME side is untouched: no certificate was issued on the way.
	if certs, err := m.store.CertsByEmail(ctx, "alice@corp.example"); err != nil || len(certs) != 0 {
		t.Errorf("certificates for alice: %d, %v", len(certs), err)
	}
}

func TestPGPIdentityRejectsBadAddresses(t *testing.T) {
	m := openTest(t, testOptions(t, newFakeClock()))
	for _, addr := range []string{"", "alice", "Alice <alice@corp.example>", "a@b@c", "<alice@corp.example>"} {
		if id, _, err := m.PGPIdentity(context.Background(), addr); err == nil || id != nil {
			t.Errorf("PGPIdentity(%q) = %v, %v; want an error", addr, id, err)
		}
	}
}

// leaseWaitStore holds back storing a new OpenPGP key until some other
// caller has found the OpenPGP lease taken (or 5 s passed), so that the
// two Managers below really overlap: without the lease, both would store
// a key of their own.
type leaseWaitStore struct {
	Store
	waiting chan struct{} // shared by the Managers' stores
}

func (s *leaseWaitStore) AcquireLease(ctx context.Context, key, holder string, now, until time.Time) (bool, error) {
	ok, err := s.Store.AcquireLease(ctx, key, holder, now, until)
	if err == nil && !ok && strings.HasPrefix(key, pgpLeasePrefix) {
		select {
		case s.waiting <- struct{}{}:
		default:
		}
	}
	return ok, err
}

func (s *leaseWaitStore) InsertPGPKey(ctx context.Context, r *PGPKeyRecord) error {
	select {
	case <-s.waiting:
	case <-time.After(5 * time.Second):
	}
	return s.Store.InsertPGPKey(ctx, r)
}

// Concurrent first calls, from two Managers sharing the store (two
// processes) and many goroutines each, generate exactly one key.
func TestPGPIdentityConcurrentFirstCallsIssueOnce(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	shared := testOptions(t, clock)
	shared.MasterKey = bytes.Repeat([]byte{7}, masterKeyLen)
	waiting := make(chan struct{}, 1)
	open := func() *Manager {
		base, err := OpenSQLite(ctx, filepath.Join(shared.StateDir, databaseFileName), clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		opts := shared
		opts.Store = &leaseWaitStore{Store: base, waiting: waiting}
		return openTest(t, opts)
	}
	m1, m2 := open(), open()
	const n = 40
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		fprs   = map[string]int{}
		issued int
		errs   []error
	)
	for i := range n {
		m := m1
		if i%4 == 0 {
			m = m2
		}
		wg.Go(func() {
			id, iss, err := m.PGPIdentity(ctx, "carol@corp.example")
			if err == nil {
				// The shared Entity signs from many goroutines at once (-race).
				err = openpgp.ArmoredDetachSign(io.Discard, id.Entity, strings.NewReader("x"), (&pgpTestConfig{now: clock.Now()}).packet())
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			fprs[id.Fingerprint]++
			if iss {
				issued++
			}
		})
	}
	// An S/MIME issuance for the same address at the same time must not
	// wait for (or be taken for) the OpenPGP one.
	wg.Go(func() {
		if _, _, err := m1.SigningIdentity(ctx, "carol@corp.example"); err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	})
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(fprs) != 1 || issued != 1 {
		t.Errorf("fingerprints %v, issued=true %d times; want one key, one issuer", fprs, issued)
	}
	recs, err := m1.store.PGPKeysByEmail(ctx, "carol@corp.example")
	if err != nil || len(recs) != 1 {
		t.Errorf("store holds %d OpenPGP keys, %v; want 1", len(recs), err)
	}
	if certs, err := m1.store.CertsByEmail(ctx, "carol@corp.example"); err != nil || len(certs) != 1 {
		t.Errorf("store holds %d certificates, %v; want 1", len(certs), err)
	}
}

// The secret key never reaches the database files in clear: neither its
// armored text nor its raw secret key material.
func TestPGPIdentitySealedAtRest(t *testing.T) {
	ctx := context.Background()
	opts := testOptions(t, newFakeClock())
	m := openTest(t, opts)
	id, _, err := m.PGPIdentity(ctx, "dave@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	// Keep the WAL: whatever was written must be found in one of the files.
	var db []byte
	files, _ := filepath.Glob(filepath.Join(opts.StateDir, databaseFileName+"*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		db = append(db, b...)
	}
	// The scan sees what was stored: the public key is there in clear.
	if !bytes.Contains(db, id.PublicArmored) {
		t.Fatalf("public key not found in %v: the scan reads the wrong files", files)
	}
	public := string(id.PublicArmored)
	for line := range strings.Lines(string(id.PrivateArmored)) {
		line = strings.TrimSpace(line)
		if len(line) >= 16 && !strings.Contains(public, line) && bytes.Contains(db, []byte(line)) {
			t.Errorf("armored secret key line %q found in the database", line)
		}
	}
	secret := []*bytes.Buffer{new(bytes.Buffer), new(bytes.Buffer)}
	if err := id.Entity.PrivateKey.Serialize(secret[0]); err != nil {
		t.Fatal(err)
	}
	if err := id.Entity.Subkeys[0].PrivateKey.Serialize(secret[1]); err != nil {
		t.Fatal(err)
	}
	for i, b := range secret {
		// The packet ends with the secret scalar and its checksum.
		tail := b.Bytes()[b.Len()-20:]
		if bytes.Contains(db, tail) {
			t.Errorf("secret key material of key %d found in the database", i)
		}
	}
}

// Sealed keys open only with the master key that sealed them, and only in
// their own row.
func TestPGPIdentityUnsealFailures(t *testing.T) {
	ctx := context.Background()
	ca := builtinFor(t)
	tests := []struct {
		name   string
		tamper func(t *testing.T, s *SQLiteStore) // runs between the two Managers
		key2   byte                               // master key of the second Manager
		want   error
	}{
		{"same master key", nil, 1, nil},
		{"wrong master key", nil, 2, ErrWrongMasterKey},
		{"sealed key moved to another address's row", func(t *testing.T, s *SQLiteStore) {
			if _, err := s.db.Exec(`UPDATE user_pgp_keys SET private_sealed =
				(SELECT private_sealed FROM user_pgp_keys WHERE email = 'other@corp.example')
				WHERE email = 'erin@corp.example'`); err != nil {
				t.Fatal(err)
			}
		}, 1, ErrWrongMasterKey},
		{"truncated sealed key", func(t *testing.T, s *SQLiteStore) {
			if _, err := s.db.Exec(`UPDATE user_pgp_keys SET private_sealed = substr(private_sealed, 1, 10)
				WHERE email = 'erin@corp.example'`); err != nil {
				t.Fatal(err)
			}
		}, 1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions(t, newFakeClock())
			opts.Issuer = &fakeIssuer{inner: ca} // no CA row: only the user keys depend on the master key
			opts.MasterKey = bytes.Repeat([]byte{1}, masterKeyLen)
			m := openTest(t, opts)
			first, _, err := m.PGPIdentity(ctx, "erin@corp.example")
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := m.PGPIdentity(ctx, "other@corp.example"); err != nil {
				t.Fatal(err)
			}
			if tc.tamper != nil {
				tc.tamper(t, m.store.(*SQLiteStore))
			}
			m.Close()
			opts.MasterKey = bytes.Repeat([]byte{tc.key2}, masterKeyLen)
			m = openTest(t, opts)
			id, issued, err := m.PGPIdentity(ctx, "erin@corp.example")
			if tc.tamper == nil && tc.want == nil {
				if err != nil || issued || id.Fingerprint != first.Fingerprint {
					t.Fatalf("reopened: issued %v, %v", issued, err)
				}
				return
			}
			if err == nil || id != nil || issued {
				t.Fatalf("PGPIdentity = %v, issued %v, %v; want an error", id, issued, err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), first.Fingerprint) {
				t.Errorf("err = %v, does not name the key", err)
			}
		})
	}
}

// failingPGPStore fails the OpenPGP store methods it is told to.
type failingPGPStore struct {
	Store
	current, insert, lease error
}

func (s *failingPGPStore) CurrentPGPKey(ctx context.Context, email string) (*PGPKeyRecord, error) {
	if s.current != nil {
		return nil, s.current
	}
	return s.Store.CurrentPGPKey(ctx, email)
}

func (s *failingPGPStore) InsertPGPKey(ctx context.Context, r *PGPKeyRecord) error {
	if s.insert != nil {
		return s.insert
	}
	return s.Store.InsertPGPKey(ctx, r)
}

func (s *failingPGPStore) AcquireLease(ctx context.Context, key, holder string, now, until time.Time) (bool, error) {
	if s.lease != nil {
		return false, s.lease
	}
	return s.Store.AcquireLease(ctx, key, holder, now, until)
}

func TestPGPIdentityStoreErrorsAreTemporary(t *testing.T) {
	busy := errors.New("database is locked")
	tests := []struct {
		name  string
		store failingPGPStore
	}{
		{"lookup fails", failingPGPStore{current: busy}},
		{"insert fails", failingPGPStore{insert: busy}},
		{"lease fails", failingPGPStore{lease: busy}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clock := newFakeClock()
			opts := testOptions(t, clock)
			base, err := OpenSQLite(ctx, filepath.Join(opts.StateDir, databaseFileName), clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			st := tc.store
			st.Store = base
			opts.Store = &st
			m := openTest(t, opts)
			id, _, err := m.PGPIdentity(ctx, "frank@corp.example")
			if id != nil || !IsTemporary(err) || !errors.Is(err, busy) {
				t.Fatalf("PGPIdentity = %v, %v; want a temporary error wrapping %v", id, err, busy)
			}
		})
	}
}
