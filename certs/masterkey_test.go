package certs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMasterKeyFileCreatedAndReused(t *testing.T) {
	clock := newFakeClock()
	opts := testOptions(t, clock)
	opts.StateDir = filepath.Join(opts.StateDir, "state") // Open creates it
	m := openTest(t, opts)
	ca1 := m.CACertificate()
	m.Close()

	fi, err := os.Stat(filepath.Join(opts.StateDir, masterKeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != masterKeyLen {
		t.Errorf("master.key mode %04o size %d, want 0600 and %d", fi.Mode().Perm(), fi.Size(), masterKeyLen)
	}
	di, err := os.Stat(opts.StateDir)
	if err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v, %v; want 0700", di.Mode().Perm(), err)
	}
	key1, _ := os.ReadFile(filepath.Join(opts.StateDir, masterKeyFileName))

	m2 := openTest(t, opts)
	key2, _ := os.ReadFile(filepath.Join(opts.StateDir, masterKeyFileName))
	if !bytes.Equal(key1, key2) {
		t.Error("master key rewritten on reopen")
	}
	if !bytes.Equal(ca1.Raw, m2.CACertificate().Raw) {
		t.Error("CA changed on reopen")
	}
}

func TestMasterKeyFileRefused(t *testing.T) {
	good := bytes.Repeat([]byte{7}, masterKeyLen)
	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
		wantErr string
	}{
		{"world readable", good, 0o604, "chmod 600"},
		{"group readable", good, 0o640, "chmod 600"},
		{"0644", good, 0o644, "chmod 600"},
		{"too short", good[:16], 0o600, "want 32"},
		{"too long", append(good, 1), 0o600, "want 32"},
		{"bad base64", []byte(strings.Repeat("!", 44)), 0o600, "want 32"},
		{"ok raw", good, 0o600, ""},
		{"ok owner-only 0400", good, 0o400, ""},
		{"ok base64", []byte(base64.StdEncoding.EncodeToString(good) + "\n"), 0o600, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t, newFakeClock())
			// The CA is created under the same key first: a master key
			// file without a store is refused (TestDeletedStoreIsRefused).
			first := opts
			first.MasterKey = good
			openTest(t, first).Close()
			path := filepath.Join(opts.StateDir, masterKeyFileName)
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			m, err := Open(context.Background(), opts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				m.Close()
				return
			}
			if err == nil {
				m.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.HasPrefix(err.Error(), "certs: ") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// A master key file with a store that holds no CA means the store was
// deleted or replaced: a new CA would orphan every trust anchor handed out.
func TestDeletedStoreIsRefused(t *testing.T) {
	opts := testOptions(t, newFakeClock())
	openTest(t, opts).Close()
	for _, f := range []string{databaseFileName, databaseFileName + "-wal", databaseFileName + "-shm"} {
		if err := os.Remove(filepath.Join(opts.StateDir, f)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	m, err := Open(context.Background(), opts)
	if err == nil {
		m.Close()
		t.Fatal("Open created a new CA although master.key exists")
	}
	for _, want := range []string{"not a first start", "Restore it from backup", "move " + filepath.Join(opts.StateDir, masterKeyFileName) + " away"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(opts.StateDir, databaseFileName)); err == nil {
		t.Error("an empty store was created in place of the deleted one")
	}
	// A store that is there but empty (replaced) is refused as well.
	s, err := OpenSQLite(context.Background(), filepath.Join(opts.StateDir, databaseFileName), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if m, err := Open(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "not a first start") {
		if m != nil {
			m.Close()
		}
		t.Fatalf("Open on an empty store with master.key = %v", err)
	}
}

func TestMasterKeyMissingAfterFirstStart(t *testing.T) {
	opts := testOptions(t, newFakeClock())
	openTest(t, opts).Close()
	if err := os.Remove(filepath.Join(opts.StateDir, masterKeyFileName)); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("Open without master key = %v, want 'missing' error", err)
	}
}

func TestWrongMasterKey(t *testing.T) {
	ctx := context.Background()
	opts := testOptions(t, newFakeClock())
	opts.MasterKey = bytes.Repeat([]byte{1}, masterKeyLen)
	m := openTest(t, opts)
	if _, _, err := m.SigningIdentity(ctx, "alice@corp.example"); err != nil {
		t.Fatal(err)
	}
	m.Close()

	opts.MasterKey = bytes.Repeat([]byte{2}, masterKeyLen)
	_, err := Open(ctx, opts)
	if !errors.Is(err, ErrWrongMasterKey) || !strings.Contains(err.Error(), "master key") {
		t.Fatalf("Open with wrong key = %v, want ErrWrongMasterKey", err)
	}

	// The environment key wins over the file: the file's key is a third one.
	opts.MasterKey = bytes.Repeat([]byte{1}, masterKeyLen)
	if err := os.WriteFile(filepath.Join(opts.StateDir, masterKeyFileName), bytes.Repeat([]byte{3}, masterKeyLen), 0o600); err != nil {
		t.Fatal(err)
	}
	m = openTest(t, opts)
	if _, issued, err := m.SigningIdentity(ctx, "alice@corp.example"); err != nil || issued {
		t.Fatalf("SigningIdentity after reopen = issued %v, %v", issued, err)
	}
}

func TestSealer(t *testing.T) {
	key1 := bytes.Repeat([]byte{1}, masterKeyLen)
	key2 := bytes.Repeat([]byte{2}, masterKeyLen)
	s1, err := newSealer(key1, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := newSealer(key2, rand.Reader)
	priv, err := KeyECDSAP256.generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := s1.sealKey(priv, "aad")
	if err != nil {
		t.Fatal(err)
	}
	blob2, _ := s1.sealKey(priv, "aad")
	if bytes.Equal(blob, blob2) {
		t.Error("two seals of one key are equal: nonce not random")
	}
	tampered := bytes.Clone(blob)
	tampered[len(tampered)-1] ^= 1
	tests := []struct {
		name    string
		s       *sealer
		blob    []byte
		aad     string
		wantErr error
	}{
		{"ok", s1, blob, "aad", nil},
		{"wrong master key", s2, blob, "aad", ErrWrongMasterKey},
		{"other row", s1, blob, "other", ErrWrongMasterKey},
		{"tampered", s1, tampered, "aad", ErrWrongMasterKey},
	}
	for _, tt := range tests {
		got, err := tt.s.openKey(tt.blob, tt.aad)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.wantErr)
		}
		if err == nil && !publicKeysEqual(got.Public(), priv.Public()) {
			t.Errorf("%s: key differs", tt.name)
		}
	}
	for _, bad := range [][]byte{nil, {9}, append([]byte{2}, blob[1:]...)} {
		if _, err := s1.openKey(bad, "aad"); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("openKey(malformed %x...) = %v", bad[:min(len(bad), 2)], err)
		}
	}
	if _, err := newSealer(key1[:31], rand.Reader); err == nil {
		t.Error("31-byte master key accepted")
	}
}

func TestDecodeMasterKey(t *testing.T) {
	good := bytes.Repeat([]byte{5}, masterKeyLen)
	if k, err := DecodeMasterKey(" " + base64.StdEncoding.EncodeToString(good) + "\n"); err != nil || !bytes.Equal(k, good) {
		t.Errorf("DecodeMasterKey = %x, %v", k, err)
	}
	for _, bad := range []string{"", "abc", base64.StdEncoding.EncodeToString(good[:31]), string(good)} {
		if _, err := DecodeMasterKey(bad); err == nil {
			t.Errorf("DecodeMasterKey(%q) accepted", bad)
		}
	}
}
