package certs

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailseal/mailseal/pgsql/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// testOnPostgres makes testOptions and testDirectory use a fresh
// PostgreSQL database instead of SQLite (set by TestStoreOnPostgres).
var testOnPostgres bool

// testPGStore is a PostgresStore a test closes at its end, so a Manager's
// Close does not end a store the test reopens another Manager on.
type testPGStore struct{ *PostgresStore }

func (testPGStore) Close() error { return nil }

func openTestPostgres(t *testing.T, dsn string, clock *fakeClock) testPGStore {
	t.Helper()
	s, err := OpenPostgres(context.Background(), dsn, clock.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return testPGStore{s}
}

// TestStoreOnPostgres runs the store-backed tests of this package again
// with the PostgreSQL store: the same behaviour on both drivers.
func TestStoreOnPostgres(t *testing.T) {
	pgtest.DSN(t) // skip the lot early when PostgreSQL cannot run here
	testOnPostgres = true
	defer func() { testOnPostgres = false }()
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"TestBuiltinCARoot", TestBuiltinCARoot},
		{"TestIssuedCertificateFields", TestIssuedCertificateFields},
		{"TestCAWarningsForExistingCA", TestCAWarningsForExistingCA},
		{"TestRevokeAppearsInCRL", TestRevokeAppearsInCRL},
		{"TestImportCertificateFormats", TestImportCertificateFormats},
		{"TestSMIMELookup", TestSMIMELookup},
		{"TestImportPGPKeyChecks", TestImportPGPKeyChecks},
		{"TestPGPLookup", TestPGPLookup},
		{"TestParallelSigningIdentityIssuesOnce", TestParallelSigningIdentityIssuesOnce},
		{"TestRenewalInsideRenewBefore", TestRenewalInsideRenewBefore},
		{"TestRenewDue", TestRenewDue},
		{"TestIssueForcesNewCertificate", TestIssueForcesNewCertificate},
		{"TestListShow", TestListShow},
		{"TestReopenKeepsCAAndCertificates", TestReopenKeepsCAAndCertificates},
		{"TestPDFPasswords", TestPDFPasswords},
		{"TestPGPIdentityLifecycle", TestPGPIdentityLifecycle},
		{"TestRenewerReportsFailuresAndSoonestExpiry", TestRenewerReportsFailuresAndSoonestExpiry},
		{"TestRecertifyCA", TestRecertifyCA},
	} {
		t.Run(tc.name, tc.fn)
	}
}

// Store methods on both drivers: counters, leases and the insert ids the
// SQLite store got from LastInsertId.
func TestStoreDrivers(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_900_000_000, 0)
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			var s Store
			if driver == "postgres" {
				s = openTestPostgres(t, pgtest.DSN(t), &fakeClock{t: now})
			} else {
				st, err := OpenSQLite(ctx, t.TempDir()+"/s.db", now)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				s = st
			}
			for want := int64(1); want <= 3; want++ {
				if v, err := s.NextCounter(ctx, "serial"); err != nil || v != want {
					t.Fatalf("NextCounter = %d, %v; want %d", v, err, want)
				}
			}
			ok, err := s.AcquireLease(ctx, "a@corp.example", "h1", now, now.Add(time.Minute))
			if err != nil || !ok {
				t.Fatalf("first lease: %v, %v", ok, err)
			}
			if ok, err := s.AcquireLease(ctx, "a@corp.example", "h2", now.Add(59*time.Second), now.Add(2*time.Minute)); err != nil || ok {
				t.Fatalf("held lease taken: %v, %v", ok, err)
			}
			if ok, err := s.AcquireLease(ctx, "a@corp.example", "h2", now.Add(time.Minute), now.Add(2*time.Minute)); err != nil || !ok {
				t.Fatalf("expired lease not taken: %v, %v", ok, err)
			}
			if err := s.ReleaseLease(ctx, "a@corp.example", "h1"); err != nil {
				t.Fatal(err)
			}
			if ok, _ := s.AcquireLease(ctx, "a@corp.example", "h3", now.Add(time.Minute), now.Add(2*time.Minute)); ok {
				t.Fatal("a stale holder's release dropped the new lease")
			}
			if err := s.ReleaseLease(ctx, "a@corp.example", "h2"); err != nil {
				t.Fatal(err)
			}
			if ok, _ := s.AcquireLease(ctx, "a@corp.example", "h3", now.Add(time.Minute), now.Add(2*time.Minute)); !ok {
				t.Fatal("released lease not taken")
			}
			var ids []int64
			for i, serial := range []string{"0a", "0b"} {
				r := &CertRecord{Email: "a@corp.example", Serial: serial, CertDER: []byte{byte(i)}, ChainDER: []byte{},
					KeySealed: []byte{9}, KeyType: "k", NotBefore: now, NotAfter: now.Add(time.Hour), CreatedAt: now}
				if err := s.InsertCert(ctx, r); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, r.ID)
			}
			if ids[0] == 0 || ids[1] <= ids[0] {
				t.Fatalf("insert ids %v", ids)
			}
			if err := s.InsertCert(ctx, &CertRecord{Email: "b@corp.example", Serial: "0a", CertDER: []byte{1}, ChainDER: []byte{},
				KeySealed: []byte{9}, KeyType: "k", NotBefore: now, NotAfter: now, CreatedAt: now}); err == nil {
				t.Fatal("duplicate serial stored")
			}
			cur, err := s.CurrentCert(ctx, "a@corp.example")
			if err != nil || cur.Serial != "0b" || cur.ID != ids[1] || !cur.NotAfter.Equal(now.Add(time.Hour)) {
				t.Fatalf("CurrentCert = %+v, %v", cur, err)
			}
			if err := s.MarkRevoked(ctx, "0b", now, 4); err != nil {
				t.Fatal(err)
			}
			if err := s.MarkRevoked(ctx, "0b", now, 4); err == nil {
				t.Fatal("revoked twice")
			}
			rev, err := s.RevokedCerts(ctx, now)
			if err != nil || len(rev) != 1 || rev[0].RevocationReason != 4 || !rev[0].Revoked() {
				t.Fatalf("RevokedCerts = %v, %v", rev, err)
			}
			ca := &CARecord{Name: "builtin", CertDER: []byte{1, 2}, KeySealed: []byte{3}, CreatedAt: now}
			if got, err := s.PutCA(ctx, ca); err != nil || !bytes.Equal(got.CertDER, ca.CertDER) {
				t.Fatalf("PutCA = %v, %v", got, err)
			}
			other := &CARecord{Name: "builtin", CertDER: []byte{7}, KeySealed: []byte{8}, CreatedAt: now}
			if got, err := s.PutCA(ctx, other); err != nil || !bytes.Equal(got.CertDER, ca.CertDER) {
				t.Fatalf("second PutCA replaced the first: %v, %v", got, err)
			}
			if err := s.ReplaceCA(ctx, []byte{9}, other); err == nil {
				t.Fatal("ReplaceCA with a stale certificate succeeded")
			}
			if err := s.ReplaceCA(ctx, ca.CertDER, other); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPostgresMigrations(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	clock := newFakeClock()
	// Instances starting together migrate once, without errors.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			s, err := OpenPostgres(ctx, dsn, clock.Now(), nil)
			if err == nil {
				s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s := openTestPostgres(t, dsn, clock)
	var n, maxV int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &maxV); err != nil {
		t.Fatal(err)
	}
	if n != len(sqliteMigrations) || maxV != sqliteMigrations[len(sqliteMigrations)-1].version {
		t.Fatalf("%d migrations recorded up to %d", n, maxV)
	}
	// Every table of the SQLite schema exists, in PostgreSQL's types.
	var typ string
	if err := s.db.QueryRowContext(ctx, `SELECT data_type FROM information_schema.columns
		WHERE table_name = 'certificates' AND column_name = 'cert_der'`).Scan(&typ); err != nil || typ != "bytea" {
		t.Fatalf("certificates.cert_der is %q, %v", typ, err)
	}
	for _, table := range []string{"ca", "certificates", "issuance_leases", "counters", "user_pgp_keys",
		"partner_certs", "partner_cert_emails", "partner_pgp_keys", "partner_pgp_key_emails", "pdf_passwords"} {
		var ok bool
		if err := s.db.QueryRowContext(ctx, `SELECT to_regclass(?) IS NOT NULL`, table).Scan(&ok); err != nil || !ok {
			t.Errorf("table %s missing: %v", table, err)
		}
	}
	// A newer schema than this program knows is refused.
	if _, err := s.db.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPostgres(ctx, dsn, clock.Now(), nil); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("newer schema: %v", err)
	}
}

// Two instances (their own connection pools, one database, the same
// master key) asked for the same new sender at once issue one certificate.
func TestPostgresManagersIssueOnce(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	clock := newFakeClock()
	key := bytes.Repeat([]byte{5}, masterKeyLen)
	var managers []*Manager
	for range 2 {
		opts := testOptions(t, clock)
		opts.MasterKey = key
		opts.Store = openTestPostgres(t, dsn, clock)
		managers = append(managers, openTest(t, opts))
	}
	if !managers[0].CACertificate().Equal(managers[1].CACertificate()) {
		t.Fatal("the instances use different CAs")
	}
	const n = 20
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		serials = map[string]int{}
		issued  atomic.Int32
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			id, iss, err := managers[i%2].SigningIdentity(ctx, "new.sender@corp.example")
			if err != nil {
				t.Error(err)
				return
			}
			if iss {
				issued.Add(1)
			}
			mu.Lock()
			serials[serialHex(id.Cert)]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	list, err := managers[1].store.CertsByEmail(ctx, "new.sender@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || len(serials) != 1 || issued.Load() != 1 {
		t.Fatalf("%d certificates stored, %d serials handed out, %d issuances; want 1 each", len(list), len(serials), issued.Load())
	}
}

// Only one Manager on a shared PostgreSQL runs a leader job; when it stops,
// the other takes over. On SQLite the job runs at once.
func TestManagerRunAsLeader(t *testing.T) {
	old := leaderRetry
	leaderRetry = 100 * time.Millisecond
	defer func() { leaderRetry = old }()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	clock := newFakeClock()
	key := bytes.Repeat([]byte{6}, masterKeyLen)
	running := make(chan int, 4)
	var cancels []context.CancelFunc
	var dones []chan struct{}
	for i := range 2 {
		opts := testOptions(t, clock)
		opts.MasterKey = key
		opts.Store = openTestPostgres(t, dsn, clock)
		m := openTest(t, opts)
		jctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		cancels, dones = append(cancels, cancel), append(dones, done)
		go func() {
			defer close(done)
			m.RunAsLeader(jctx, "renewer", func(ctx context.Context) {
				running <- i
				<-ctx.Done()
			})
		}()
	}
	defer func() {
		for i, c := range cancels {
			c()
			<-dones[i]
		}
	}()
	first := <-running
	time.Sleep(500 * time.Millisecond) // several retries of the other
	select {
	case i := <-running:
		t.Fatalf("instance %d runs the job while %d leads", i, first)
	default:
	}
	cancels[first]()
	select {
	case second := <-running:
		if second == first {
			t.Fatal("the stopped instance runs again")
		}
	case <-time.After(time.Minute):
		t.Fatal("nobody took over")
	}

	// SQLite: one instance, the job runs at once.
	m := openTest(t, Options{StateDir: t.TempDir(), KeyType: KeyECDSAP256, Now: clock.Now})
	ran := false
	sctx, cancel := context.WithCancel(ctx)
	cancel()
	m.RunAsLeader(sctx, "renewer", func(context.Context) { ran = true })
	if !ran {
		t.Fatal("SQLite: the job did not run")
	}
}
