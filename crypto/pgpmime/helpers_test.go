package pgpmime

import (
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// testKey is a generated key, parsed both ways.
type testKey struct {
	gen  *GeneratedKey
	priv *PrivateKey
	pub  *PublicKey
}

var (
	keyMu    sync.Mutex
	keyCache = map[string]*testKey{}
)

// getKey generates (once per test binary) a key for email.
func getKey(t testing.TB, email string, alg Algorithm) *testKey {
	t.Helper()
	keyMu.Lock()
	defer keyMu.Unlock()
	id := email + "/" + alg.String()
	if k, ok := keyCache[id]; ok {
		return k
	}
	gen, err := GenerateKey("Test "+email, email, KeyOptions{Algorithm: alg})
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ParsePrivateKey(gen.Private, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey(gen.Public, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	k := &testKey{gen: gen, priv: priv, pub: pub}
	keyCache[id] = k
	return k
}

// armorEntity serialises e (public, or private without re-signing) as an
// armored block, for tests that alter keys.
func armorEntity(t testing.TB, e *openpgp.Entity, private bool) []byte {
	t.Helper()
	var b bytes.Buffer
	typ := "PGP PUBLIC KEY BLOCK"
	if private {
		typ = "PGP PRIVATE KEY BLOCK"
	}
	w, err := armor.Encode(&b, typ, nil)
	if err != nil {
		t.Fatal(err)
	}
	if private {
		err = e.SerializePrivateWithoutSigning(w, nil)
	} else {
		err = e.Serialize(w)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// gnupg is a private GnuPG home for one test.
type gnupg struct {
	t    testing.TB
	home string
}

func newGnuPG(t testing.TB) *gnupg {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Fatalf("gpg is required (scripts/install-deps.sh installs it): %v", err)
	}
	// Short path: gpg-agent's socket path must fit in sun_path.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	g := &gnupg{t: t, home: home}
	t.Cleanup(func() {
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		_ = os.RemoveAll(home)
	})
	return g
}

// run runs gpg with input on stdin and returns stdout and the status lines.
func (g *gnupg) run(input []byte, args ...string) (stdout []byte, status string, err error) {
	g.t.Helper()
	statusFile := filepath.Join(g.home, "status")
	full := append([]string{"--homedir", g.home, "--batch", "--yes", "--pinentry-mode", "loopback",
		"--passphrase", "", "--no-tty", "--status-file", statusFile}, args...)
	cmd := exec.Command("gpg", full...)
	cmd.Stdin = bytes.NewReader(input)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err = cmd.Run()
	st, _ := os.ReadFile(statusFile)
	if err != nil {
		g.t.Logf("gpg %s: %v\n%s\n%s", strings.Join(args, " "), err, stderr.String(), st)
	}
	return out.Bytes(), string(st), err
}

// must runs gpg and fails the test on error.
func (g *gnupg) must(input []byte, args ...string) []byte {
	g.t.Helper()
	out, _, err := g.run(input, args...)
	if err != nil {
		g.t.Fatalf("gpg %s failed", strings.Join(args, " "))
	}
	return out
}

// statusField returns the fields of the first status line with keyword.
func statusField(status, keyword string) []string {
	for _, l := range strings.Split(status, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "[GNUPG:]" && f[1] == keyword {
			return f[2:]
		}
	}
	return nil
}

// unarmor decodes an armored OpenPGP message.
func unarmor(t testing.TB, armored []byte) []byte {
	t.Helper()
	block, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(block.Body); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// armorMessage armors binary OpenPGP data as a PGP MESSAGE.
func armorMessage(t testing.TB, bin []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := armor.Encode(&b, "PGP MESSAGE", nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(bin)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// b64Lines is data in base64, lines of 76 with CRLF.
func b64Lines(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s + "\r\n")
	return b.String()
}
