package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// TestBackupAndRestore follows docs/operations.md "Backup" and "Restore": an
// online `sqlite3 .backup` of mailseal.db while the daemon signs, a copy of
// master.key, then the state directory is lost and restored from the two.
// The restored daemon has the same CA and signs with the same certificate;
// a certificate issued after the backup is gone.
func TestBackupAndRestore(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		skipUnlessRequired(t, "sqlite3 shell not installed (scripts/deps.d/60-operations.sh installs it)")
	}
	d, pf := setup(t)
	from := "alice@corp.example"
	send := func(pf *postfixtest.Instance, rcpt string) string {
		t.Helper()
		if err := pf.Send(t, postfixtest.Mail{From: from, To: []string{rcpt}, Data: plainMail(from, rcpt, "backup"), SourceIP: trustedIP}); err != nil {
			t.Fatal(err)
		}
		raw := pf.WaitDelivered(t, rcpt, 1, deliveryTimeout)[0]
		_, signer := opensslVerify(t, d.CAFile(), raw)
		return signer.SerialNumber.Text(16)
	}
	serial := send(pf, "bob@partner.example")
	fingerprint := cli(t, d, "ca", "cert", "--fingerprint")

	// Backup while the daemon runs.
	backup := t.TempDir()
	db := filepath.Join(d.StateDir, "mailseal.db")
	if out, err := exec.Command("sqlite3", db, ".backup "+filepath.Join(backup, "mailseal.db")).CombinedOutput(); err != nil {
		t.Fatalf("sqlite3 .backup: %v\n%s", err, out)
	}
	if out, err := exec.Command("sqlite3", filepath.Join(backup, "mailseal.db"), "PRAGMA integrity_check").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("integrity_check of the backup: %v %s", err, out)
	}
	key, err := os.ReadFile(filepath.Join(d.StateDir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	// Written after the backup: must be gone after the restore.
	cli(t, d, "certs", "issue", "carol@corp.example")

	// The state is lost.
	d.Stop()
	if err := os.RemoveAll(d.StateDir); err != nil {
		t.Fatal(err)
	}

	// Restore as documented.
	if err := os.Mkdir(d.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(backup, "mailseal.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.StateDir, "master.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := cli(t, d, "ca", "cert", "--fingerprint"); got != fingerprint {
		t.Fatalf("restored CA fingerprint %q, want %q", got, fingerprint)
	}
	d.Start()
	list := cli(t, d, "certs", "list")
	if !strings.Contains(list, "alice@corp.example") || strings.Contains(list, "carol@corp.example") {
		t.Errorf("certs list after the restore should have alice (backed up) and not carol (issued later):\n%s", list)
	}
	if got := send(pf, "dave@partner.example"); got != serial {
		t.Errorf("after the restore alice's mail is signed with certificate %s, want the backed-up %s", got, serial)
	}
	if strings.Count(d.Log(), "master key created") > 1 {
		t.Error("the restored daemon created a new master key")
	}
}

func cli(t *testing.T, d *daemon, args ...string) string {
	t.Helper()
	out, err := d.CLI(args...)
	if err != nil {
		t.Fatalf("mailseal %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// TestMasterKeyRotation follows docs/operations.md "Rotating the master
// key": refused while serve runs; after a stop, `mailseal masterkey rotate`
// replaces master.key, keeps the old one, and the restarted daemon signs
// with the same certificate under the same CA.
func TestMasterKeyRotation(t *testing.T) {
	d, pf := setup(t)
	from := "alice@corp.example"
	send := func(rcpt string) string {
		t.Helper()
		if err := pf.Send(t, postfixtest.Mail{From: from, To: []string{rcpt}, Data: plainMail(from, rcpt, "rotation"), SourceIP: trustedIP}); err != nil {
			t.Fatal(err)
		}
		raw := pf.WaitDelivered(t, rcpt, 1, deliveryTimeout)[0]
		_, signer := opensslVerify(t, d.CAFile(), raw)
		return signer.SerialNumber.Text(16)
	}
	serial := send("bob@partner.example")
	keyFile := filepath.Join(d.StateDir, "master.key")
	oldKey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}

	if out, err := d.CLI("masterkey", "rotate"); err == nil || !strings.Contains(out, "stop it first") {
		t.Fatalf("rotate while serve runs: %v\n%s", err, out)
	}
	if now, _ := os.ReadFile(keyFile); !bytes.Equal(now, oldKey) {
		t.Fatal("a refused rotation changed master.key")
	}

	d.Stop()
	out := cli(t, d, "masterkey", "rotate")
	mustContain(t, out, "sealed keys re-sealed")
	newKey, _ := os.ReadFile(keyFile)
	if bytes.Equal(newKey, oldKey) {
		t.Fatal("master.key unchanged after rotate")
	}
	backups, _ := filepath.Glob(keyFile + ".old-*")
	if len(backups) != 1 {
		t.Fatalf("old key backups %v", backups)
	}
	if kept, _ := os.ReadFile(backups[0]); !bytes.Equal(kept, oldKey) {
		t.Error("the kept old key differs from the old master.key")
	}

	d.Start()
	if got := send("carol@partner.example"); got != serial {
		t.Errorf("after rotation alice's mail is signed with certificate %s, want %s", got, serial)
	}
	mustContain(t, cli(t, d, "certs", "list"), "alice@corp.example")
}
