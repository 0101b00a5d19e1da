package hsm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReference(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{TokenLabel: "mailseal", Slot: -1, KeyLabel: "mailseal-ca"}, "pkcs11:token=mailseal;object=mailseal-ca"},
		{Config{Slot: 3, KeyLabel: "ca", KeyID: "0A1b"}, "pkcs11:slot-id=3;object=ca;id=0a1b"},
		{Config{TokenLabel: "t", Slot: -1, KeyID: "01"}, "pkcs11:token=t;id=01"},
	}
	for _, tc := range cases {
		if got := tc.cfg.Reference(); got != tc.want {
			t.Errorf("%+v: Reference() = %q, want %q", tc.cfg, got, tc.want)
		}
	}
}

func TestReadPIN(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, path, want, err string
	}{
		{"first line trimmed", write("ok", " 1234 \nignored\n", 0o600), "1234", ""},
		{"no newline", write("ok2", "abcd", 0o400), "abcd", ""},
		{"group readable", write("loose", "1234\n", 0o640), "", "must not be accessible by group or others"},
		{"empty", write("empty", "\n", 0o600), "", "is empty"},
		{"missing", filepath.Join(dir, "nope"), "", "no such file"},
		{"not set", "", "", "no PIN file"},
		{"directory", dir, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readPIN(tc.path)
			if tc.name == "directory" {
				if err == nil {
					t.Fatal("a directory was read as PIN file")
				}
				return
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestKeyID(t *testing.T) {
	if id, err := (Config{KeyID: "0a1B"}).keyID(); err != nil || string(id) != "\x0a\x1b" {
		t.Errorf("keyID: %x, %v", id, err)
	}
	if _, err := (Config{KeyID: "xyz"}).keyID(); err == nil {
		t.Error("non-hex key id accepted")
	}
	if id, err := (Config{}).keyID(); err != nil || id != nil {
		t.Errorf("empty key id: %x, %v", id, err)
	}
}
