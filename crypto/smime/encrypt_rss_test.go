package smime

import (
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

// rssChildEnv makes the test binary run TestSignEncryptPeakRSS's child
// part: one sign+encrypt in a fresh process, so its peak resident size is
// not blurred by other tests.
const rssChildEnv = "MAILSEAL_SMIME_RSS_CHILD"

// TestSignEncryptPeakRSS signs and encrypts a message with a 25 MB
// attachment in a child process and checks its peak resident set stays
// under 4 times the message. Like the milter, which spools a body of this
// size to a temporary file (milter.spool_memory), the child reads the
// body from a file; the whole process counts, Go runtime included.
func TestSignEncryptPeakRSS(t *testing.T) {
	if file := os.Getenv(rssChildEnv); file != "" {
		rssChild(t, file)
		return
	}
	if testing.Short() {
		t.Skip("25 MB message in a child process")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory inflates the resident set")
	}
	_, body := benchMessage(t, 25<<20*4/3)
	dir := t.TempDir()
	file := filepath.Join(dir, "body")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"aes256-cbc", "aes256-gcm"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSignEncryptPeakRSS$", "-test.v")
		cmd.Env = append(os.Environ(), rssChildEnv+"="+file, "MAILSEAL_SMIME_RSS_CIPHER="+c)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		var peak, base int64
		for _, l := range strings.Split(string(out), "\n") {
			if _, after, ok := strings.Cut(l, "RSS peak="); ok {
				fmt.Sscanf(after, "%d base=%d", &peak, &base)
			}
		}
		if peak == 0 {
			t.Fatalf("child printed no RSS:\n%s", out)
		}
		ratio := float64(peak) / float64(len(body))
		t.Logf("%s: message %d octets, peak RSS %d (%.2fx; %d before signing)", c, len(body), peak, ratio, base)
		if ratio >= 4 {
			t.Errorf("%s: peak RSS %.2f times the message, want under 4", c, ratio)
		}
	}
}

func rssChild(t *testing.T, file string) {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	body := io.NewSectionReader(f, 0, st.Size())
	keys := recipientKeys(t)
	s := getPKI(t).signer(t, "rsa")
	c, err := ChooseCipher(os.Getenv("MAILSEAL_SMIME_RSS_CIPHER"), nil)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	debug.FreeOSMemory()
	base := vmHWM(t, "VmRSS")
	// Reset the peak to the current size (Linux 4.0+), so test setup
	// (key generation, reading the file) does not count.
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("reset peak RSS: %v", err)
	}
	signed, err := s.Sign([]HeaderField{{"Content-Type", `multipart/mixed; boundary="b1"`}}, body)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := EncryptSigned(signed, []Recipient{{Cert: keys["rsa2048"].cert}, {Cert: keys["rsa3072"].cert}}, EncryptOptions{Cipher: c})
	if err != nil {
		t.Fatal(err)
	}
	peak := vmHWM(t, "VmHWM")
	runtime.KeepAlive(enc)
	fmt.Printf("RSS peak=%d base=%d\n", peak, base)
}

// vmHWM reads a size field (in kB) of /proc/self/status, in octets.
func vmHWM(t *testing.T, field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}
