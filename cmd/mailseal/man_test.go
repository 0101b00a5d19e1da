package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/mailseal/mailseal/config"
)

// The man pages come from the key table and the command tree, and groff
// formats them without a single warning.
func TestManPages(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Fatal("groff not installed (scripts/install-deps.sh installs groff-base)")
	}
	dir := t.TempDir()
	if _, err := run(t, "", "man", dir); err != nil {
		t.Fatal(err)
	}
	pages := map[string]string{}
	for _, name := range []string{"mailseal.8", "mailseal.yaml.5"} {
		path := filepath.Join(dir, name)
		cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", path)
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("groff on %s: %v\n%s", name, err, out)
		}
		text, err := exec.Command(groff, "-man", "-Tascii", "-P-c", "-P-b", "-P-u", path).Output()
		if err != nil {
			t.Fatal(err)
		}
		pages[name] = string(text)
	}
	// groff's line filling may break a long name: compare without spaces.
	flat := func(s string) string { return strings.Join(strings.Fields(s), "") }
	five := flat(pages["mailseal.yaml.5"])
	for _, k := range config.Keys {
		env := "MAILSEAL_" + strings.ToUpper(strings.ReplaceAll(k.Name, ".", "_"))
		for _, want := range []string{k.Name + "(", env} {
			if !strings.Contains(five, flat(want)) {
				t.Errorf("mailseal.yaml(5) lacks %s", want)
			}
		}
	}
	eight := flat(pages["mailseal.8"])
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if !sub.IsAvailableCommand() {
				continue
			}
			if sub.HasAvailableSubCommands() {
				walk(sub)
				continue
			}
			if path := strings.TrimPrefix(sub.CommandPath(), "mailseal "); !strings.Contains(eight, flat(path)) {
				t.Errorf("mailseal(8) lacks command %q", path)
			}
		}
	}
	walk(newRootCommand())
	for _, want := range []string{"EXITSTATUS", "0Success.", "1Thecommandranandfailed", "2Usageorconfigurationerror", "SIGHUP", "XDG_STATE_HOME", "master.key"} {
		if !strings.Contains(eight, want) {
			t.Errorf("mailseal(8) lacks %q", want)
		}
	}
}
