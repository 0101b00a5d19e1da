package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// runIn executes the CLI in-process against the given state dir, so that
// several commands see the same store.
func runIn(t *testing.T, state string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	t.Setenv("MAILSEAL_STATE_DIR", state)
	t.Setenv("MAILSEAL_ADMIN_LISTEN", "127.0.0.1:1")
	root := newRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// cliCert writes a self-signed certificate for emails (a CA when ca) as PEM.
func cliCert(t *testing.T, dir, name string, key crypto.Signer, ca bool, emails ...string) (path, fingerprint string) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(30 * 24 * time.Hour),
		EmailAddresses:        emails,
		BasicConstraintsValid: true,
		IsCA:                  ca,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return path, hex.EncodeToString(sum[:])
}

func TestCLIPartnerCertificates(t *testing.T) {
	state, dir := filepath.Join(t.TempDir(), "state"), t.TempDir()
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	weakKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	good, goodFP := cliCert(t, dir, "good.pem", p256, false, "Partner@XN--bcher-kva.example")
	weak, _ := cliCert(t, dir, "weak.pem", weakKey, false, "weak@partner.example")
	ca, _ := cliCert(t, dir, "ca.pem", p256, true)

	out, errOut, err := runIn(t, state, "certs", "import", good, weak, ca, filepath.Join(dir, "missing.pem"))
	if exitCode(err) != 1 {
		t.Fatalf("import exit %d (%v), want 1\n%s%s", exitCode(err), err, out, errOut)
	}
	if want := "imported partner@xn--bcher-kva.example " + goodFP + " expires "; !strings.Contains(out, want) {
		t.Errorf("stdout lacks %q:\n%s", want, out)
	}
	for _, want := range []string{
		weak + `: certificate "CN=weak.pem": RSA key of 1024 bits`,
		ca + `: skipped CA certificate "CN=ca.pem"`,
		ca + ": no recipient certificate",
		filepath.Join(dir, "missing.pem") + ": cannot read",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if !strings.Contains(err.Error(), "3 of 4 files") {
		t.Errorf("error %q", err)
	}
	for _, args := range [][]string{{"certs", "import"}, {"certs", "import", "--trust", "bogus", good}, {"certs", "remove"}} {
		if _, _, err := runIn(t, state, args...); exitCode(err) != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, exitCode(err), err)
		}
	}
	out, _, err = runIn(t, state, "certs", "list", "--external")
	if err != nil || !strings.Contains(out, "partner@xn--bcher-kva.example") || !strings.Contains(out, goodFP) || !strings.Contains(out, "unverified  imported  valid") {
		t.Errorf("list --external: %v\n%s", err, out)
	}
	if out, _, err = runIn(t, state, "certs", "list"); err != nil || strings.Contains(out, goodFP) || strings.Contains(out, "partner@") {
		t.Errorf("certs list shows partner certificates: %v\n%s", err, out)
	}
	if out, _, err = runIn(t, state, "certs", "remove", "partner@bücher.example"); err != nil || !strings.Contains(out, "removed "+goodFP) {
		t.Errorf("remove: %v\n%s", err, out)
	}
	if out, _, err = runIn(t, state, "certs", "list", "--external"); err != nil || strings.Contains(out, goodFP) {
		t.Errorf("removed certificate still listed: %v\n%s", err, out)
	}
	if _, _, err = runIn(t, state, "certs", "remove", goodFP); exitCode(err) != 1 || !strings.Contains(err.Error(), "nothing in the partner key directory") {
		t.Errorf("second remove: %v", err)
	}
	// Import again, verified: it is back.
	if out, _, err = runIn(t, state, "certs", "import", "--trust", "verified", good); err != nil || !strings.Contains(out, "(verified)") {
		t.Errorf("re-import: %v\n%s", err, out)
	}
}

func TestCLIPartnerPGPKeys(t *testing.T) {
	state, dir := filepath.Join(t.TempDir(), "state"), t.TempDir()
	e, err := openpgp.NewEntity("Carol", "", "carol@partner.example", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	fp := strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
	var buf bytes.Buffer
	w, _ := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	pub := filepath.Join(dir, "carol.asc")
	if err := os.WriteFile(pub, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	w, _ = armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	if err := e.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	secret := filepath.Join(dir, "carol-secret.asc")
	if err := os.WriteFile(secret, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	out, errOut, err := runIn(t, state, "keys", "import", "--trust", "verified", pub, secret)
	if exitCode(err) != 1 || !strings.Contains(out, "imported carol@partner.example "+fp+" never expires (verified)") ||
		!strings.Contains(errOut, secret+": this is a secret key") {
		t.Errorf("import: exit %d (%v)\n%s%s", exitCode(err), err, out, errOut)
	}
	if out, _, err = runIn(t, state, "keys", "list"); err != nil || !strings.Contains(out, "carol@partner.example  "+fp+"  never    verified  imported  valid") {
		t.Errorf("keys list: %v\n%s", err, out)
	}
	if out, _, err = runIn(t, state, "keys", "remove", strings.ToLower(fp)); err != nil || !strings.Contains(out, "removed "+fp) {
		t.Errorf("keys remove: %v\n%s", err, out)
	}
	if out, _, err = runIn(t, state, "keys", "list"); err != nil || strings.Contains(out, fp) {
		t.Errorf("removed key still listed: %v\n%s", err, out)
	}
	if _, _, err = runIn(t, state, "keys", "import"); exitCode(err) != 2 {
		t.Errorf("keys import without files: exit %d", exitCode(err))
	}
}
