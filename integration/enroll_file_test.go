package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEnrollFromFile: `certs enroll --from` takes a CSV with a mail column,
// enrols the internal addresses, skips those already enrolled, lists the
// rest with reasons in the failure file (exit 1), and `--retry` takes the
// corrected list back and removes it when everything succeeded. On a
// terminal it draws a progress bar; in a pipe only the summary line.
func TestEnrollFromFile(t *testing.T) {
	d := newDaemon(t)
	if out, err := d.CLI("certs", "issue", "erin@corp.example"); err != nil {
		t.Fatalf("certs issue: %v\n%s", err, out)
	}
	csv := filepath.Join(d.Dir, "staff.csv")
	body := "Name,Mail,Department\n" +
		"\"Doe, Jane\",jane@corp.example,IT\n" +
		"Erin,ERIN@corp.example,HR\n" +
		"Outside,ext@partner.example,Sales\n" +
		"Typo,frank(at)corp.example,HR\n" +
		"Gina,gina@corp.example,\n"
	if err := os.WriteFile(csv, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := d.CLI("certs", "enroll", "--from", csv, "--workers", "2")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("enroll with failures: %v, want exit 1\n%s", err, out)
	}
	if !strings.Contains(out, "enrolled 2, already had 1, failed 2") {
		t.Errorf("summary line missing or wrong:\n%s", out)
	}
	failures := csv + ".failed"
	list, err := os.ReadFile(failures)
	if err != nil {
		t.Fatalf("no failure list: %v\n%s", err, out)
	}
	if !strings.Contains(string(list), "ext@partner.example") || !strings.Contains(string(list), "frank(at)corp.example") || strings.Contains(string(list), "jane@") {
		t.Fatalf("failure list:\n%s", list)
	}
	st := certStatus(t, d)
	if st["jane@corp.example"] != "valid" || st["gina@corp.example"] != "valid" || st["erin@corp.example"] != "valid" || len(st) != 3 {
		t.Fatalf("certificates after enroll: %v", st)
	}

	// --retry with the list unchanged fails the same two again and keeps it.
	out, err = d.CLI("certs", "enroll", "--retry", failures)
	if err == nil || !strings.Contains(out, "enrolled 0, already had 0, failed 2") {
		t.Fatalf("retry of the unchanged list: %v\n%s", err, out)
	}
	// The admin corrects the typo and drops the outsider.
	fixed := strings.Replace(string(list), "\nfrank(at)corp.example\n", "\nfrank@corp.example\n", 1)
	fixed = strings.Replace(fixed, "\next@partner.example\n", "\n", 1)
	if err := os.WriteFile(failures, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = d.CLI("certs", "enroll", "--retry", failures)
	if err != nil || !strings.Contains(out, "enrolled 1, already had 0, failed 0") {
		t.Fatalf("retry of the corrected list: %v\n%s", err, out)
	}
	if _, err := os.Stat(failures); !os.IsNotExist(err) {
		t.Errorf("failure list still there after a clean retry: %v", err)
	}
	if st := certStatus(t, d); st["frank@corp.example"] != "valid" {
		t.Fatalf("frank not enrolled: %v", st)
	}
	if strings.Contains(out, "enrolling") {
		t.Errorf("progress bar drawn into a pipe:\n%s", out)
	}

	// On a terminal (script(1) gives the command a pty) a bar is drawn.
	if _, err := exec.LookPath("script"); err != nil {
		t.Skipf("script(1) (util-linux) not installed: cannot give the command a terminal: %v", err)
	}
	plain := filepath.Join(d.Dir, "more.txt")
	if err := os.WriteFile(plain, []byte("# more staff\nhank@corp.example\nivy@corp.example\n\njane@corp.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmdline := strings.Join([]string{binary, "certs", "enroll", "--from", plain, "--config", d.ConfigFile}, " ")
	cmd := exec.Command("script", "-qec", cmdline, "/dev/null")
	cmd.Env = cleanEnv()
	tty, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("enroll on a terminal: %v\n%s", err, tty)
	}
	if !strings.Contains(string(tty), "enrolling") || !strings.Contains(string(tty), "enrolled 2, already had 1, failed 0") {
		t.Fatalf("no progress bar or summary on a terminal:\n%q", tty)
	}
}
