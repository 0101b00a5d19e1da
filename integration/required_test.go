package integration

import (
	"os"
	"testing"
)

// requireEnv names the variable scripts/test.sh sets when it ran as root:
// it then installed every tool and image these tests need, so a missing
// one is a broken install step, not a reason to skip. (Not MAILSEAL_*: the
// daemon refuses unknown variables with that prefix.)
const requireEnv = "REQUIRE_ALL_TEST_TOOLS"

// skipUnlessRequired skips a test whose tool is missing on a developer's
// partial run, and fails it where the test command installed everything.
func skipUnlessRequired(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(requireEnv) != "" {
		t.Fatalf("missing although the test command installs it ("+requireEnv+" is set): "+format, args...)
	}
	t.Skipf(format, args...)
}
