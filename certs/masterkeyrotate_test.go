package certs

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rotationFixture is a store with one of every sealed thing: the CA key, a
// user certificate's key, a user's OpenPGP key and a fixed PDF password.
type rotationFixture struct {
	opts     Options
	db, key  string
	oldKey   []byte
	certKey  []byte // alice's certificate's public key
	pgpFpr   string
	caSerial string
}

func newRotationFixture(t *testing.T) *rotationFixture {
	t.Helper()
	ctx := context.Background()
	opts := testOptions(t, newFakeClock())
	m, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := m.SigningIdentity(ctx, "alice@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	pgp, _, err := m.PGPIdentity(ctx, "alice@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetPDFPassword(ctx, "kim@partner.example", "a fixed passphrase"); err != nil {
		t.Fatal(err)
	}
	f := &rotationFixture{
		opts: opts, db: filepath.Join(opts.StateDir, databaseFileName), key: filepath.Join(opts.StateDir, masterKeyFileName),
		certKey: id.Cert.RawSubjectPublicKeyInfo, pgpFpr: pgp.Fingerprint, caSerial: serialHex(m.CACertificate()),
	}
	m.Close()
	if f.oldKey, err = os.ReadFile(f.key); err != nil {
		t.Fatal(err)
	}
	return f
}

// check opens the store with the key in the key file and uses every sealed thing.
func (f *rotationFixture) check(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	m, err := Open(ctx, f.opts)
	if err != nil {
		t.Fatalf("Open after rotation: %v", err)
	}
	defer m.Close()
	if serialHex(m.CACertificate()) != f.caSerial {
		t.Error("another CA after rotation")
	}
	id, issued, err := m.SigningIdentity(ctx, "alice@corp.example")
	if err != nil || issued || !bytes.Equal(id.Cert.RawSubjectPublicKeyInfo, f.certKey) {
		t.Fatalf("alice's certificate after rotation: issued=%v err=%v", issued, err)
	}
	if _, err := id.Key.Sign(rand.Reader, make([]byte, 32), crypto.SHA256); err != nil {
		t.Errorf("alice's key does not sign after rotation: %v", err)
	}
	pgp, issued, err := m.PGPIdentity(ctx, "alice@corp.example")
	if err != nil || issued || pgp.Fingerprint != f.pgpFpr || pgp.Entity.PrivateKey == nil {
		t.Errorf("alice's OpenPGP key after rotation: issued=%v err=%v", issued, err)
	}
	if pw, ok, err := m.PDFPassword(ctx, "kim@partner.example"); err != nil || !ok || pw != "a fixed passphrase" {
		t.Errorf("PDF password after rotation: %q %v %v", pw, ok, err)
	}
}

func TestRotateMasterKey(t *testing.T) {
	ctx := context.Background()
	f := newRotationFixture(t)
	res, err := RotateMasterKey(ctx, f.db, f.key, rand.Reader, f.opts.Now())
	if err != nil {
		t.Fatal(err)
	}
	if res.Resealed != 4 || res.Resumed {
		t.Errorf("rotation %+v, want 4 blobs (CA, certificate, OpenPGP key, PDF password) re-sealed", res)
	}
	newKey, _ := os.ReadFile(f.key)
	if len(newKey) != masterKeyLen || bytes.Equal(newKey, f.oldKey) {
		t.Fatal("master.key was not replaced by a new 32-byte key")
	}
	if fi, _ := os.Stat(f.key); fi.Mode().Perm() != 0o600 {
		t.Errorf("new key file mode %04o", fi.Mode().Perm())
	}
	if old, err := os.ReadFile(res.Backup); err != nil || !bytes.Equal(old, f.oldKey) {
		t.Errorf("old key not kept in %s: %v", res.Backup, err)
	}
	if _, err := os.Stat(f.key + ".new"); !errors.Is(err, os.ErrNotExist) {
		t.Error("master.key.new left behind")
	}
	f.check(t)

	// The old key opens nothing any more.
	opts := f.opts
	opts.MasterKey = f.oldKey
	if m, err := Open(ctx, opts); !errors.Is(err, ErrWrongMasterKey) {
		if m != nil {
			m.Close()
		}
		t.Errorf("the old key still opens the store: %v", err)
	}

	// A second rotation in the same second works on the result of the
	// first and keeps both old keys.
	second, err := RotateMasterKey(ctx, f.db, f.key, rand.Reader, f.opts.Now())
	if err != nil {
		t.Fatal(err)
	}
	if second.Backup == res.Backup {
		t.Fatalf("second rotation reused the backup name %s", res.Backup)
	}
	if kept, _ := os.ReadFile(second.Backup); !bytes.Equal(kept, newKey) {
		t.Error("the second rotation did not keep the first rotation's key")
	}
	if kept, _ := os.ReadFile(res.Backup); !bytes.Equal(kept, f.oldKey) {
		t.Error("the second rotation touched the first backup")
	}
	f.check(t)
}

// A crash after the store was committed under the new key but before the
// key file was replaced: the rerun only installs the new key.
func TestRotateMasterKeyResumesAfterCommit(t *testing.T) {
	ctx := context.Background()
	f := newRotationFixture(t)
	res, err := RotateMasterKey(ctx, f.db, f.key, rand.Reader, f.opts.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Put the files back as they were just before the rename.
	if err := os.Rename(f.key, f.key+".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(res.Backup, f.key); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, f.opts); !errors.Is(err, ErrWrongMasterKey) {
		t.Fatalf("the interrupted state should not open with the old key: %v", err)
	}
	res, err = RotateMasterKey(ctx, f.db, f.key, rand.Reader, f.opts.Now())
	if err != nil || !res.Resumed {
		t.Fatalf("rerun: %+v %v, want a resumed rotation", res, err)
	}
	f.check(t)
}

// A crash before the commit: the store is still under the old key and
// master.key.new holds a key that opens nothing. The rerun starts afresh.
func TestRotateMasterKeyRestartsBeforeCommit(t *testing.T) {
	ctx := context.Background()
	f := newRotationFixture(t)
	if _, err := createMasterKey(f.key+".new", rand.Reader); err != nil {
		t.Fatal(err)
	}
	res, err := RotateMasterKey(ctx, f.db, f.key, rand.Reader, f.opts.Now())
	if err != nil || res.Resumed || res.Resealed != 4 {
		t.Fatalf("rerun: %+v %v", res, err)
	}
	f.check(t)
}

func TestRotateMasterKeyRefuses(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		setup func(t *testing.T, f *rotationFixture)
		want  string
	}{
		{"wrong key in the file", func(t *testing.T, f *rotationFixture) {
			os.Remove(f.key)
			if _, err := createMasterKey(f.key, rand.Reader); err != nil {
				t.Fatal(err)
			}
		}, "does not open the CA key"},
		{"key file readable by others", func(t *testing.T, f *rotationFixture) {
			os.Chmod(f.key, 0o644)
		}, "must not be accessible"},
		{"no store", func(t *testing.T, f *rotationFixture) {
			os.Remove(f.db)
		}, "store"},
		{"a store without a CA", func(t *testing.T, f *rotationFixture) {
			st, err := OpenSQLite(ctx, f.db, f.opts.Now())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.db.Exec(`DELETE FROM ca`); err != nil {
				t.Fatal(err)
			}
		}, "holds no CA yet"},
		{"a sealed column it does not know", func(t *testing.T, f *rotationFixture) {
			st, err := OpenSQLite(ctx, f.db, f.opts.Now())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.db.Exec(`CREATE TABLE hsm_tokens (id INTEGER PRIMARY KEY, pin_sealed BLOB)`); err != nil {
				t.Fatal(err)
			}
		}, "hsm_tokens.pin_sealed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newRotationFixture(t)
			c.setup(t, f)
			before, _ := os.ReadFile(f.key)
			_, err := RotateMasterKey(ctx, f.db, f.key, rand.Reader, f.opts.Now())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one containing %q", err, c.want)
			}
			if after, _ := os.ReadFile(f.key); !bytes.Equal(before, after) {
				t.Error("the key file changed although the rotation was refused")
			}
			matches, _ := filepath.Glob(f.key + ".*")
			if len(matches) != 0 {
				t.Errorf("a refused rotation left %v", matches)
			}
		})
	}
}
