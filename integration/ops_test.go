package integration

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// An empty config file on SIGHUP must not switch signing off: the reload
// fails and the running config stays. A valid file that empties
// internal_domains is taken over, but with a WARN naming the key.
func TestReloadWithEmptyConfigKeepsSigning(t *testing.T) {
	d, pf := setup(t)
	caFile := d.CAFile()
	send := func(rcpt string) []byte {
		t.Helper()
		from := "alice@corp.example"
		if err := pf.Send(t, postfixtest.Mail{From: from, To: []string{rcpt}, Data: plainMail(from, rcpt, "reload"), SourceIP: trustedIP}); err != nil {
			t.Fatal(err)
		}
		return pf.WaitDelivered(t, rcpt, 1, deliveryTimeout)[0]
	}
	good := d.BaseConfig() + "policy:\n  rules:\n    - name: partner\n      recipients: [\"*@partner.example\"]\n      require_tls: true\n"
	d.WriteConfig(good)
	d.Signal(syscall.SIGHUP)
	d.WaitLog("configuration reloaded", 10*time.Second)

	d.WriteConfig("  \n\n")
	d.Signal(syscall.SIGHUP)
	d.WaitLog("reload failed, keeping the running configuration", 10*time.Second)
	mustContain(t, d.Log(), "is empty")
	opensslVerify(t, caFile, send("r1@partner.example"))
	if got := socketmapQuery(t, d.Socketmap, "tlspolicy", "partner.example"); got != "OK encrypt" {
		t.Fatalf("socketmap after an empty reload answered %q, want the require_tls policy", got)
	}

	// Valid but without internal domains and rules: taken over, loudly.
	d.WriteConfig(strings.Replace(d.BaseConfig(), "internal_domains: [corp.example]", "internal_domains: []", 1))
	d.Signal(syscall.SIGHUP)
	d.WaitLog("internal_domains=[]", 10*time.Second)
	log := d.Log()
	for _, want := range []string{"level=WARN msg=\"reload: internal_domains is now empty", "level=WARN msg=\"reload: no require_tls rule is left"} {
		mustContain(t, log, want)
	}
	raw := send("r2@partner.example")
	if strings.Contains(string(raw), "application/pkcs7-signature") {
		t.Fatal("signed although internal_domains is empty")
	}

	// serve refuses an empty file outright (exit 2).
	empty := writeTemp(t, []byte("\n"))
	cmd := exec.Command(binary, "serve", "--config", empty)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("serve with an empty config: %v, want exit 2\n%s", err, out)
	}
	mustContain(t, string(out), "is empty")
}
