package integration

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestBenchScriptRuns keeps bench/milter-throughput.sh working: a tiny run
// of every case through real Postfix instances must deliver, see the
// warm-up mail signed and encrypted to the imported partner certificate,
// and print the figures docs/benchmarks.md quotes (rates, CPU, peak RSS,
// the target verdict). It asserts what the script prints, never how fast
// anything was.
func TestBenchScriptRuns(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	cmd := exec.Command("bash", "bench/milter-throughput.sh")
	cmd.Dir = root
	cmd.Env = append(cmd.Environ(), "N=10", "WARMUP=2", "SESSIONS=2", "ROUNDS=2", "KEY_TYPE=ecdsa-p256", "ENCRYPT=smime", "MAILSEAL=yes", "TIMEOUT=120")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench script failed: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^bench: mailseal: warm-up messages arrived signed$`),
		regexp.MustCompile(`(?m)^bench: mailseal: warm-up messages arrived encrypted \(smime\)$`),
		regexp.MustCompile(`(?m)^bench:   mailseal peak RSS \(VmHWM\) per round: [0-9]+ [0-9]+ kB$`),
		regexp.MustCompile(`(?m)^bench:   target ratio >= 0\.85: (met|NOT met)$`),
		regexp.MustCompile(`(?m)^bench:   none +[0-9.]+ msg/s +[0-9.]+ ms CPU/msg +\(runs: [0-9.]+ [0-9.]+\)$`),
		regexp.MustCompile(`(?m)^bench:   noop +[0-9.]+ msg/s`),
		regexp.MustCompile(`(?m)^bench:   mailseal +[0-9.]+ msg/s`),
		regexp.MustCompile(`(?m)^bench:   ratio mailseal/noop = [0-9.]+ +\(per round: [0-9.]+ [0-9.]+\)$`),
		regexp.MustCompile(`(?m)^bench:   CPU/msg noop/mailseal = [0-9.]+`),
	} {
		if !want.MatchString(text) {
			t.Errorf("output lacks %s:\n%s", want, text)
		}
	}
	if strings.Contains(text, "WARNING") {
		t.Errorf("bench warned:\n%s", text)
	}
}
