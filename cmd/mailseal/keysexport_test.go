package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// runKeysExport runs `keys export` built on its own (the `keys` parent
// command is wired elsewhere) against stateDir.
func runKeysExport(t *testing.T, stateDir, config string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	t.Setenv("MAILSEAL_STATE_DIR", stateDir)
	p := filepath.Join(t.TempDir(), "mailseal.yaml")
	if err := os.WriteFile(p, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := newKeysExportCmd(func() string { return p })
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestKeysExport(t *testing.T) {
	const cfg = "internal_domains: [corp.example]\nca:\n  key_type: ecdsa-p256\n"
	state := filepath.Join(t.TempDir(), "state")

	// First export generates the key; the second prints the same one.
	var fingerprints []string
	for i, wantGenerated := range []bool{true, false} {
		out, errOut, err := runKeysExport(t, state, cfg, "Alice@corp.example")
		if err != nil {
			t.Fatalf("export %d: %v", i, err)
		}
		if got := strings.Contains(errOut, "generated an OpenPGP key for alice@corp.example"); got != wantGenerated {
			t.Errorf("export %d: stderr %q, want generated=%v", i, errOut, wantGenerated)
		}
		if !strings.HasPrefix(out, "-----BEGIN PGP PUBLIC KEY BLOCK-----") || strings.Contains(out, "PRIVATE") {
			t.Fatalf("export %d printed:\n%s", i, out)
		}
		keys, err := openpgp.ReadArmoredKeyRing(strings.NewReader(out))
		if err != nil || len(keys) != 1 {
			t.Fatalf("export %d: %d keys, %v", i, len(keys), err)
		}
		k := keys[0]
		if k.PrivateKey != nil {
			t.Fatalf("export %d carries secret key material", i)
		}
		if _, ok := k.Identities["<alice@corp.example>"]; !ok {
			t.Errorf("export %d: user IDs %v", i, k.Identities)
		}
		fingerprints = append(fingerprints, fmt.Sprintf("%X", k.PrimaryKey.Fingerprint))
	}
	if fingerprints[0] != fingerprints[1] {
		t.Errorf("second export printed another key: %v", fingerprints)
	}

	refused := []struct {
		name, config, addr string
	}{
		{"external address", cfg, "bob@partner.example"},
		{"no internal domains", "ca:\n  key_type: ecdsa-p256\n", "alice@corp.example"},
		{"not an address", cfg, "alice"},
		{"bad config", "internal_domains: [corp.example]\nca:\n  key_type: dsa\n", "alice@corp.example"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runKeysExport(t, filepath.Join(t.TempDir(), "state"), tc.config, tc.addr)
			if code := exitCode(err); code != 2 || out != "" {
				t.Errorf("exit %d (%v), stdout %q; want exit 2 and no key", code, err, out)
			}
		})
	}
}
