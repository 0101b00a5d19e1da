package pdfmail

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

const (
	rssChildEnv  = "PDFMAIL_RSS_CHILD"
	rssStreamEnv = "PDFMAIL_RSS_STREAM"
)

// childPeakRSS runs TestRSSChild in a new process of this test binary and returns the
// peak resident set size (bytes) of building the PDF of the message at path: read
// into memory and built into memory (Build), or with stream set, read from the
// file as the PDF needs it (RenderFrom) and written to a file through EncryptTo, as
// the milter does with its spool. extraEnv is added to the child's environment.
func childPeakRSS(tb testing.TB, path string, stream bool, extraEnv ...string) int64 {
	peak, _ := childRSS(tb, path, stream, extraEnv...)
	return peak
}

// childRSS is childPeakRSS that also returns the child's resident size just
// before it started on the message (test binary, Go runtime, fonts).
func childRSS(tb testing.TB, path string, stream bool, extraEnv ...string) (peak, base int64) {
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
			peak = kib << 10
		}
		if v, ok := strings.CutPrefix(l, "base-kib "); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			base = kib << 10
		}
	}
	if peak == 0 {
		tb.Fatalf("child printed no maxrss:\n%s", out)
	}
	return peak, base
}

// TestRSSChild is the child of childPeakRSS; without the environment variable it
// does nothing.
func TestRSSChild(t *testing.T) {
	path := os.Getenv(rssChildEnv)
	if path == "" {
		t.Skip("only run as the child of BenchmarkBuild25MB")
	}
	pw, _ := NewPassword(rand.Reader)
	owner, _ := NewOwnerPassword(rand.Reader)
	runtime.GC()
	debug.FreeOSMemory()
	fmt.Printf("base-kib %d\n", statusKiB(t, "VmRSS"))
	var n int64
	if os.Getenv(rssStreamEnv) == "" {
		msg, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		pdf, err := Build(msg, Options{Now: testNow}, pw, owner)
		if err != nil {
			t.Fatal(err)
		}
		n = int64(len(pdf))
	} else {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		open := func() (io.Reader, error) {
			f, err := os.Open(path)
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { f.Close() })
			return f, nil
		}
		doc, err := RenderFrom(open, st.Size(), Options{Now: testNow})
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
	fmt.Printf("maxrss-kib %d\npdf-bytes %d\n", statusKiB(t, "VmHWM"), n)
}

// statusKiB reads a size field (kB) of /proc/self/status.
func statusKiB(t *testing.T, field string) int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kib
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// TestEncryptToPeakRSS: building the PDF of a message with a 25 MB attachment
// from a file into a file never holds the message, an attachment or the PDF in
// memory: the process grows by less than half the message while it works
// (fonts, layout and buffers, a few MB; any copy of the attachment or the message
// would be 0.7 times or more. It was 4.3 times before the files were streamed).
func TestEncryptToPeakRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("25 MB message in a child process")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory inflates the resident set")
	}
	msg := bigMail(t, 25<<20)
	_, path := writeTemp(t, "big.eml", msg)
	peak, base := childRSS(t, path, true)
	grown := float64(peak-base) / float64(len(msg))
	t.Logf("message %d bytes, peak RSS %d (%.2f x), %d before the message (grown by %.2f x)",
		len(msg), peak, float64(peak)/float64(len(msg)), base, grown)
	if grown >= 0.5 {
		t.Errorf("peak RSS grew by %.2f times the message, want under 0.5: something holds a copy", grown)
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
