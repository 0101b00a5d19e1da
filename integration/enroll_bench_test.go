package integration

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
)

// TestEnrollBenchScriptRuns keeps bench/enroll.sh working with a small run
// (50 users; docs/benchmarks.md has the 10,000-user numbers): every user
// must be enrolled and the figures the docs quote printed. It asserts what
// the script prints, never how fast anything was.
func TestEnrollBenchScriptRuns(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	cmd := exec.Command("bash", "bench/enroll.sh")
	cmd.Dir = root
	cmd.Env = append(cmd.Environ(), "N=50", "KEY_TYPE=ecdsa-p256", "WORKERS=2")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bench/enroll.sh failed: %v\n%s", err, out)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^bench: enroll 50 users, key type ecdsa-p256, workers 2, [0-9]+ cores$`),
		regexp.MustCompile(`(?m)^bench:   load average before: [0-9. ]+, after: [0-9. ]+$`),
		regexp.MustCompile(`(?m)^bench:   wall [0-9.]+ s, [0-9.]+ certs/s$`),
		regexp.MustCompile(`(?m)^bench:   CPU [0-9.]+ s, [0-9.]+ ms CPU/cert$`),
		regexp.MustCompile(`(?m)^bench:   store [1-9][0-9]* bytes, [1-9][0-9]* bytes/user$`),
		regexp.MustCompile(`(?m)^bench:   projected 10000 users on 2 idle cores: [0-9]+ s \(target 600 s: (met|NOT met)\)$`),
	} {
		if !want.Match(out) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
}
