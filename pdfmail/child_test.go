package pdfmail

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	rssChildEnv  = "PDFMAIL_RSS_CHILD"
	rssStreamEnv = "PDFMAIL_RSS_STREAM"
)

// childPeakRSS runs TestRSSChild in a new process of this test binary and returns the
// peak resident set size (bytes) of reading the message at path and building its PDF:
// into memory (Build), or with stream set, written to a file through EncryptTo.
// extraEnv is added to the child's environment (e.g. GOMEMLIMIT).
func childPeakRSS(tb testing.TB, path string, stream bool, extraEnv ...string) int64 {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRSSChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), rssChildEnv+"="+path)
	if stream {
		cmd.Env = append(cmd.Env, rssStreamEnv+"=1")
	}
	cmd.Env = append(cmd.Env, extraEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("child: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "maxrss-kib "); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kib << 10
		}
	}
	tb.Fatalf("child printed no maxrss:\n%s", out)
	return 0
}

// TestRSSChild is the child of childPeakRSS; without the environment variable it
// does nothing.
func TestRSSChild(t *testing.T) {
	path := os.Getenv(rssChildEnv)
	if path == "" {
		t.Skip("only run as the child of BenchmarkBuild25MB")
	}
	msg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := NewPassword(rand.Reader)
	owner, _ := NewOwnerPassword(rand.Reader)
	var n int64
	if os.Getenv(rssStreamEnv) == "" {
		pdf, err := Build(msg, Options{Now: testNow}, pw, owner)
		if err != nil {
			t.Fatal(err)
		}
		n = int64(len(pdf))
	} else {
		doc, err := Render(msg, Options{Now: testNow})
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(t.TempDir(), "out.pdf"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := doc.EncryptTo(f, pw, owner); err != nil {
			t.Fatal(err)
		}
		n, _ = f.Seek(0, io.SeekCurrent)
	}
	// VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the
	// parent across fork and exec, VmHWM belongs to this address space alone.
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			fmt.Printf("maxrss-kib %s\npdf-bytes %d\n", strings.TrimSuffix(strings.TrimSpace(v), " kB"), n)
		}
	}
}

// TestNoConfigDirInHome: pdfcpu would create its config directory under the user's
// config dir; the milter runs as a service user whose home may not be writable.
func TestNoConfigDirInHome(t *testing.T) {
	home := t.TempDir()
	_, path := writeTemp(t, "m.eml", textMail(sampleDE+"\n"))
	peak := childPeakRSS(t, path, false, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
	if peak <= 0 {
		t.Fatal("child did not build")
	}
	ents, err := os.ReadDir(home)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("Build created %s in $HOME", e.Name())
	}
}
