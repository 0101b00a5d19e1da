// Package softhsmtest initialises a private SoftHSM2 token for one test:
// its own config file and token directory in t.TempDir(), set through
// SOFTHSM2_CONF, so tests never touch the system's tokens.
package softhsmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Module is Debian's SoftHSM2 PKCS#11 library (package softhsm2).
const Module = "/usr/lib/softhsm/libsofthsm2.so"

// Token is an initialised SoftHSM2 token.
type Token struct {
	Module  string
	Label   string
	PIN     string
	SOPIN   string
	PINFile string // 0600 file holding PIN
	Conf    string // the SOFTHSM2_CONF file
}

// New initialises a token labelled label. It sets SOFTHSM2_CONF for the
// rest of the test (so the test must not be parallel). Fails, not skips,
// without SoftHSM2: scripts/deps.d/25-softhsm.sh installs it.
func New(t testing.TB, label string) *Token {
	t.Helper()
	if _, err := os.Stat(Module); err != nil {
		t.Fatalf("SoftHSM2 is required (apt-get install softhsm2, see scripts/deps.d/25-softhsm.sh): %v", err)
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		t.Fatalf("softhsm2-util is required: %v", err)
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	tok := &Token{Module: Module, Label: label, PIN: "5678-user", SOPIN: "1234-so",
		PINFile: filepath.Join(dir, "pin"), Conf: filepath.Join(dir, "softhsm2.conf")}
	conf := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(tok.Conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tok.PINFile, []byte(tok.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", tok.Conf)
	cmd := exec.Command(util, "--init-token", "--free", "--label", label, "--so-pin", tok.SOPIN, "--pin", tok.PIN)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return tok
}
