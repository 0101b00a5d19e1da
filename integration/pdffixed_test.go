package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// setPDFPassword runs `mailseal pdf set-password ADDR` with the password on
// standard input, as an admin would from a script.
func setPDFPassword(t *testing.T, d *daemon, addr, password string) {
	t.Helper()
	cmd := exec.Command(binary, "pdf", "set-password", addr, "--config", d.ConfigFile)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pdf set-password %s: %v\n%s", addr, err, out)
	}
}

// With pdf.password_delivery: fixed, each recipient's PDF opens with the
// password an admin stored for them (and not with another's); nobody gets
// a password mail; a recipient without one is refused.
func TestPDFFixedPasswordFromSetPassword(t *testing.T) {
	d, pf := setupPolicy(t, "pdf:\n  password_delivery: fixed\n", nil)
	passwords := map[string]string{"kim@nokey.example": "kim's agreed passphrase", "lee@nokey.example": "lee-has-another-one-42"}
	for addr, pw := range passwords {
		setPDFPassword(t, d, addr, pw)
	}
	out, err := d.CLI("pdf", "list-passwords")
	if err != nil || out != "kim@nokey.example\nlee@nokey.example\n" {
		t.Fatalf("pdf list-passwords: %v\n%s", err, out)
	}
	cmd := exec.Command(binary, "pdf", "set-password", "max@nokey.example", "--config", d.ConfigFile)
	cmd.Env, cmd.Stdin = cleanEnv(), strings.NewReader("short\n")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "at least 12 characters") {
		t.Fatalf("a short password: %v\n%s", err, out)
	}

	msg := internalMail("alice@corp.example", "kim@nokey.example", "[secure] Salaries", nil)
	if err := pf.Send(t, postfixtest.Mail{From: "alice@corp.example", To: []string{"kim@nokey.example", "lee@nokey.example"}, Data: msg, SourceIP: trustedIP}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for addr, pw := range passwords {
		raw := pf.WaitDelivered(t, addr, 1, deliveryTimeout)[0]
		if !strings.Contains(string(decodedText(t, raw)), "agreed with you beforehand") {
			t.Errorf("%s: the notice does not say the password was agreed beforehand", addr)
		}
		content, _ := opensslVerify(t, d.CAFile(), raw)
		var pdf []byte
		for _, l := range leaves(t, content) {
			if l.ContentType == "application/pdf" {
				pdf = l.Data
			}
		}
		if pdf == nil {
			t.Fatalf("%s: no application/pdf part:\n%s", addr, head(content))
		}
		in := filepath.Join(dir, addr+".pdf")
		if err := os.WriteFile(in, pdf, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := run(t, nil, "qpdf", "--password="+pw, "--show-encryption", in); err != nil || !strings.Contains(out, "R = 6") {
			t.Fatalf("%s: qpdf with the stored password: %v\n%s", addr, err, out)
		}
		for other, opw := range passwords {
			if other == addr {
				continue
			}
			if out, err := run(t, nil, "qpdf", "--password="+opw, "--decrypt", in, filepath.Join(dir, "x.pdf")); err == nil {
				t.Fatalf("%s's PDF opened with %s's password:\n%s", addr, other, out)
			}
		}
	}

	err = pf.Send(t, postfixtest.Mail{From: "alice@corp.example", To: []string{"max@nokey.example"}, Data: internalMail("alice@corp.example", "max@nokey.example", "[secure] Q4", nil), SourceIP: trustedIP})
	var se *postfixtest.SMTPError
	if !errors.As(err, &se) || se.Code != 550 || !strings.Contains(se.Msg, "5.7.1 No PDF password is agreed with max@nokey.example") {
		t.Fatalf("no stored password: %v, want 550 5.7.1", err)
	}
	expectDeliveries(t, pf, map[string]int{"kim@nokey.example": 1, "lee@nokey.example": 1, "max@nokey.example": 0, "alice@corp.example": 0})

	if out, err := d.CLI("pdf", "remove-password", "kim@nokey.example"); err != nil {
		t.Fatalf("pdf remove-password: %v\n%s", err, out)
	}
	if out, err := d.CLI("pdf", "list-passwords"); err != nil || out != "lee@nokey.example\n" {
		t.Fatalf("after remove: %v\n%s", err, out)
	}
}
