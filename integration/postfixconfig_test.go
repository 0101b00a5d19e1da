package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// TestPostfixConfigLinesWork pastes what `mailseal postfix-config` prints
// into a real Postfix, the way the README tells an admin to, and sends a
// message that needs every part: the milter, and the reinject listener for a
// Bcc recipient's own (unsigned) copy.
func TestPostfixConfigLinesWork(t *testing.T) {
	d := newDaemon(t)
	d.WriteConfig(d.BaseConfig() + "policy:\n  rules:\n    - name: no-sign\n      recipients: [\"*@plain.example\"]\n      sign: never\n")
	d.Start()
	out, err := d.CLI("postfix-config")
	if err != nil {
		t.Fatalf("postfix-config: %v\n%s", err, out)
	}
	mainPart, masterPart, ok := strings.Cut(out, "# --- master.cf")
	if !ok {
		t.Fatalf("no master.cf part in:\n%s", out)
	}

	// main.cf: every "key = value" line, as `postconf -e` would take them.
	mainSettings := map[string]string{}
	for _, line := range strings.Split(mainPart, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, " = ")
		if !ok {
			t.Fatalf("main.cf line %q is not key = value", line)
		}
		mainSettings[k] = v
	}
	if !strings.Contains(mainSettings["smtpd_milters"], "default_action=tempfail") {
		t.Fatalf("postfix-config printed no per-milter tempfail:\n%s", out)
	}
	pf := postfixtest.Start(t, postfixtest.Options{ExtraMain: mainSettings})

	// master.cf: the cleanup override as a -o under the existing service, the
	// reinject listener pasted as printed.
	size := regexp.MustCompile(`-o message_size_limit=(\d+)`).FindStringSubmatch(masterPart)
	if size == nil {
		t.Fatalf("no cleanup message_size_limit in:\n%s", masterPart)
	}
	postconf(t, pf, "-P", "cleanup/unix/message_size_limit="+size[1])
	_, listener, ok := strings.Cut(masterPart, "where mailseal hands back per-recipient copies (no milters) ---\n")
	if !ok {
		t.Fatalf("no reinject listener in:\n%s", masterPart)
	}
	masterFile := filepath.Join(pf.ConfigDir, "master.cf")
	f, err := os.OpenFile(masterFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("\n" + listener); err != nil {
		t.Fatal(err)
	}
	f.Close()
	old := time.Now().Add(-10 * time.Second)
	_ = os.Chtimes(masterFile, old, old)
	if out, err := exec.Command("postfix", "-c", pf.ConfigDir, "reload").CombinedOutput(); err != nil {
		t.Fatalf("postfix reload: %v\n%s\n%s", err, out, pf.Log())
	}

	// bob is in To: (signed), eve only in the envelope (Bcc) and unsigned
	// by rule: eve's copy goes through the pasted listener.
	msg := mailTo("alice@corp.example", []string{"bob@partner.example"}, "Pasted config")
	if err := pf.Send(t, postfixtest.Mail{From: "alice@corp.example", To: []string{"bob@partner.example", "eve@plain.example"}, Data: msg, SourceIP: trustedIP}); err != nil {
		t.Fatal(err)
	}
	opensslVerify(t, d.CAFile(), pf.WaitDelivered(t, "bob@partner.example", 1, deliveryTimeout)[0])
	eve := parseMail(t, pf.WaitDelivered(t, "eve@plain.example", 1, deliveryTimeout)[0])
	if ct := eve.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("eve's copy has Content-Type %q, want the original text/plain", ct)
	}
	expectDeliveries(t, pf, map[string]int{"bob@partner.example": 1, "eve@plain.example": 1})
	if !strings.Contains(d.Log(), "copies=1") {
		t.Errorf("mailseal did not report a re-injected copy:\n%s", d.Log())
	}
}

func postconf(t *testing.T, pf *postfixtest.Instance, args ...string) {
	t.Helper()
	if out, err := exec.Command("postconf", append([]string{"-c", pf.ConfigDir}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("postconf %v: %v\n%s", args, err, out)
	}
}
