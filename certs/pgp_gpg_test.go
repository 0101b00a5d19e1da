package certs

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

const gpgPath = "/usr/bin/gpg"

// gpgHome is a private GnuPG home; its path is kept short because gpg-agent
// puts its sockets there.
func gpgHome(t *testing.T) func(args ...string) *exec.Cmd {
	t.Helper()
	if _, err := os.Stat(gpgPath); err != nil {
		t.Fatalf("gpg is required for this test: %v", err)
	}
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		kill := exec.Command("gpgconf", "--kill", "all")
		kill.Env = append(os.Environ(), "GNUPGHOME="+home)
		_ = kill.Run()
		os.RemoveAll(home)
	})
	return func(args ...string) *exec.Cmd {
		cmd := exec.Command(gpgPath, append([]string{"--batch", "--no-tty", "--homedir", home}, args...)...)
		cmd.Env = append(os.Environ(), "GNUPGHOME="+home, "LC_ALL=C")
		return cmd
	}
}

// TestGPGReadsPGPIdentity hands the exported public key to the real gpg:
// it must list the fingerprint, the address and an encryption subkey,
// accept a signature made with the secret key through go-crypto, and
// encrypt to a key that go-crypto then decrypts. Fails (not skips) without gpg.
func TestGPGReadsPGPIdentity(t *testing.T) {
	tests := []struct {
		keyType          KeyType
		pubAlgo, subAlgo string // gpg's algorithm numbers
		bits             string
	}{
		{KeyRSA3072, "1", "1", "3072"},
		{KeyRSA2048, "1", "1", "2048"},
		{KeyECDSAP256, "19", "18", "256"},
	}
	for _, tc := range tests {
		t.Run(string(tc.keyType), func(t *testing.T) {
			ctx := context.Background()
			opts := testOptions(t, newFakeClock())
			opts.Now = nil // gpg checks against the real time
			opts.KeyType = tc.keyType
			m := openTest(t, opts)
			id, _, err := m.PGPIdentity(ctx, "grace@corp.example")
			if err != nil {
				t.Fatal(err)
			}
			gpg := gpgHome(t)
			dir := t.TempDir()
			write := func(name string, b []byte) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			if out, err := gpg("--import", write("pub.asc", id.PublicArmored)).CombinedOutput(); err != nil {
				t.Fatalf("gpg --import: %v\n%s", err, out)
			}
			out, err := gpg("--with-colons", "--fixed-list-mode", "--list-keys").Output()
			if err != nil {
				t.Fatalf("gpg --list-keys: %v", err)
			}
			checkGPGListing(t, string(out), id, tc.pubAlgo, tc.subAlgo, tc.bits)

			msg := []byte("Content-Type: text/plain; charset=us-ascii\r\n\r\nSigned by mailseal.\r\n")
			var sig bytes.Buffer
			if err := openpgp.ArmoredDetachSign(&sig, id.Entity, bytes.NewReader(msg), nil); err != nil {
				t.Fatal(err)
			}
			status, err := gpg("--status-fd", "1", "--verify", write("msg.sig", sig.Bytes()), write("msg.txt", msg)).Output()
			if err != nil {
				t.Fatalf("gpg --verify: %v\n%s", err, status)
			}
			keyID := id.Fingerprint[24:]
			for _, want := range []string{"[GNUPG:] GOODSIG " + keyID + " <grace@corp.example>", "[GNUPG:] VALIDSIG " + id.Fingerprint + " "} {
				if !strings.Contains(string(status), want) {
					t.Errorf("gpg --verify status lacks %q:\n%s", want, status)
				}
			}
			// A signature over other bytes must not verify (the check can fail).
			if bad, err := gpg("--status-fd", "1", "--verify", filepath.Join(dir, "msg.sig"), write("other.txt", []byte("other"))).Output(); err == nil || strings.Contains(string(bad), "GOODSIG") {
				t.Errorf("gpg accepted the signature over other data:\n%s", bad)
			}

			enc, err := gpg("--trust-model", "always", "--armor", "--recipient", id.Fingerprint, "--encrypt", filepath.Join(dir, "msg.txt")).Output()
			if err == nil {
				enc, err = os.ReadFile(filepath.Join(dir, "msg.txt.asc"))
			}
			if err != nil {
				t.Fatalf("gpg --encrypt: %v", err)
			}
			block, err := armor.Decode(bytes.NewReader(enc))
			if err != nil {
				t.Fatal(err)
			}
			md, err := openpgp.ReadMessage(block.Body, openpgp.EntityList{id.Entity}, nil, nil)
			if err != nil {
				t.Fatalf("decrypt gpg's message: %v", err)
			}
			var plain bytes.Buffer
			if _, err := plain.ReadFrom(md.UnverifiedBody); err != nil {
				t.Fatalf("decrypt gpg's message: %v", err)
			}
			if !bytes.Equal(plain.Bytes(), msg) || md.DecryptedWith.Entity != id.Entity {
				t.Errorf("decrypted %q, want %q", plain.Bytes(), msg)
			}
		})
	}
}

// checkGPGListing checks gpg's colon listing of the imported key.
func checkGPGListing(t *testing.T, listing string, id *PGPIdentity, pubAlgo, subAlgo, bits string) {
	t.Helper()
	var pub, sub, uid []string
	var fprs []string
	for line := range strings.Lines(listing) {
		f := strings.Split(strings.TrimRight(line, "\n"), ":")
		switch f[0] {
		case "pub":
			pub = f
		case "sub":
			sub = f
		case "uid":
			uid = f
		case "fpr":
			fprs = append(fprs, f[9])
		}
	}
	if pub == nil || sub == nil || uid == nil || len(fprs) != 2 {
		t.Fatalf("gpg listing lacks pub, sub, uid or fingerprints:\n%s", listing)
	}
	if fprs[0] != id.Fingerprint {
		t.Errorf("gpg fingerprint %s, want %s", fprs[0], id.Fingerprint)
	}
	if uid[9] != "<grace@corp.example>" {
		t.Errorf("gpg user ID %q", uid[9])
	}
	if pub[3] != pubAlgo || pub[2] != bits || !strings.Contains(pub[11], "s") {
		t.Errorf("gpg primary key: algo %s bits %s capabilities %q; want %s %s with s", pub[3], pub[2], pub[11], pubAlgo, bits)
	}
	if pub[6] != strconv.FormatInt(id.Expires.Unix(), 10) {
		t.Errorf("gpg expiry %s, want %d", pub[6], id.Expires.Unix())
	}
	if sub[3] != subAlgo || !strings.Contains(sub[11], "e") || sub[1] == "e" || sub[1] == "r" {
		t.Errorf("gpg subkey: algo %s capabilities %q validity %q; want %s, encryption-capable, not expired or revoked", sub[3], sub[11], sub[1], subAlgo)
	}
}
