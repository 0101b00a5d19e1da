#!/usr/bin/env bash
# scripts/test.sh — run all checks and tests (what CI runs via .ci/run).
#
#   bash scripts/test.sh            everything, integration tests against a real
#                                   private Postfix included (needs root)
#   TEST_ARGS="-run Foo" bash scripts/test.sh   extra go test arguments
#
# Steps: install system deps, gofmt, go vet, go build (also static, and
# vet with -tags pkcs11), go test -race, then the PKCS#11 tests with
# -tags pkcs11 (cgo); the closing line adds both test runs' counts.
# Closing line: "test.sh: N passed, N failed, N skipped" (exit 0 only if all ok).
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin

step() { printf '\n== %s\n' "$*"; }
fail() {
	echo "test.sh: FAILED: $*" >&2
	echo "test.sh: 0 passed, 1 failed"
	exit 1
}

command -v go >/dev/null || fail "go not found on PATH"

step "install-deps"
bash scripts/install-deps.sh || fail "scripts/install-deps.sh"

step "gofmt"
unformatted=$(gofmt -l $(git ls-files --cached --others --exclude-standard -- '*.go' 2>/dev/null || find . -name '*.go' -not -path './vendor/*'))
if [ -n "$unformatted" ]; then
	echo "$unformatted"
	fail "gofmt: the files above need gofmt -w"
fi

step "go vet"
go vet ./... || fail "go vet"

step "go build"
go build ./... || fail "go build"
# The release build is static (no cgo); PKCS#11 support (-tags pkcs11, see
# certs/hsm) needs cgo: build and vet both.
# Packages with PKCS#11 code or tests (files with //go:build pkcs11).
pkcs11_pkgs=$(grep -rl --include='*.go' --exclude-dir=.git '^//go:build pkcs11' . | xargs -rn1 dirname | sort -u)
[ -n "$pkcs11_pkgs" ] || fail "no files with //go:build pkcs11 found"
CGO_ENABLED=0 go build ./... || fail "go build (CGO_ENABLED=0)"
# shellcheck disable=SC2086
CGO_ENABLED=1 go vet -tags pkcs11 ./cmd/... $pkcs11_pkgs || fail "go vet -tags pkcs11"

step "go test -race"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A small summarizer for go test -json: prints what plain `go test` would
# (package ok/FAIL lines, output of failed tests, build errors) plus counts.
cat >"$work/summarize.go" <<'EOF'
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

type event struct {
	Action, Package, Test, Output, ImportPath string
}

func main() {
	buf := map[string][]string{}
	var pass, failed, skip int
	var failedNames []string
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	for in.Scan() {
		var e event
		if err := json.Unmarshal(in.Bytes(), &e); err != nil {
			fmt.Println(in.Text()) // not JSON: pass through
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "build-output":
			fmt.Print(e.Output)
		case "output":
			if e.Test == "" {
				fmt.Print(e.Output)
			} else {
				buf[key] = append(buf[key], e.Output)
			}
		case "pass":
			if e.Test != "" {
				pass++
				delete(buf, key)
			}
		case "skip":
			if e.Test != "" {
				skip++
				delete(buf, key)
			}
		case "fail":
			if e.Test != "" {
				failed++
				failedNames = append(failedNames, e.Package+"."+e.Test)
				fmt.Print(strings.Join(buf[key], ""))
				delete(buf, key)
			}
		}
	}
	// Tests that never finished (panic, timeout): show what they printed.
	for k, out := range buf {
		fmt.Printf("--- unfinished: %s\n%s", k, strings.Join(out, ""))
	}
	if len(failedNames) > 0 {
		fmt.Println("\nfailed tests:")
		for _, n := range failedNames {
			fmt.Println("  " + n)
		}
	}
	fmt.Printf("test.sh: %d passed, %d failed, %d skipped\n", pass, failed, skip)
}
EOF
# As root this script installed every tool and image the tests need (above):
# a test that would skip for a missing one fails instead (integration tests
# read REQUIRE_ALL_TEST_TOOLS), so a broken install step cannot hide.
if [ "$(id -u)" = 0 ]; then
	export REQUIRE_ALL_TEST_TOOLS=1
fi
set +e
# shellcheck disable=SC2086
go test -race -count=1 -timeout 40m -json ${TEST_ARGS:-} ./... 2>&1 | go run "$work/summarize.go" | tee "$work/summary.txt" | grep -v '^test.sh: [0-9]* passed'
rc=${PIPESTATUS[0]}
set -e
summary=$(grep '^test.sh: [0-9]* passed' "$work/summary.txt" | tail -1)

# The PKCS#11 tests (named *PKCS11* or *HSM*; the rest of those packages
# ran above) once more, with cgo and the pkcs11 tag, against SoftHSM2 tokens
# the tests create themselves.
step "go test -race -tags pkcs11"
set +e
# shellcheck disable=SC2086
CGO_ENABLED=1 go test -race -count=1 -timeout 10m -json -tags pkcs11 -run 'PKCS11|HSM' ${TEST_ARGS:-} $pkcs11_pkgs 2>&1 | go run "$work/summarize.go" | tee "$work/summary2.txt" | grep -v '^test.sh: [0-9]* passed'
rc2=${PIPESTATUS[0]}
set -e
summary2=$(grep '^test.sh: [0-9]* passed' "$work/summary2.txt" | tail -1)
# Add the two runs' counts into one closing line.
count() { # count LINE WORD
	local n
	n=$(sed -n "s/.* \([0-9]*\) $2.*/\1/p" <<<"$1")
	echo "${n:-0}"
}
if [ -n "$summary" ] || [ -n "$summary2" ]; then
	summary="test.sh: $(($(count "$summary" passed) + $(count "$summary2" passed))) passed, $(($(count "$summary" failed) + $(count "$summary2" failed))) failed, $(($(count "$summary" skipped) + $(count "$summary2" skipped))) skipped"
fi
if [ "$rc" -eq 0 ] && [ "$rc2" -ne 0 ]; then
	rc=$rc2
fi
echo
if [ "$rc" -ne 0 ]; then
	echo "test.sh: go test FAILED (exit $rc)"
	# Make sure the closing line reports a failure even if go test died
	# before any test was counted as failed (build error, timeout, panic).
	case $summary in
	*" 0 failed"*) summary=${summary/ 0 failed/ 1 failed} ;;
	esac
	echo "${summary:-test.sh: 0 passed, 1 failed}"
	exit 1
fi

# Every parser of outside mail data is fuzzed briefly on each run (beyond the
# committed corpus, which go test above already replays). A crash fails the
# run and leaves the failing input under the package's testdata/fuzz.
step "fuzz (${FUZZTIME:=5s} each)"
fuzzfail=0
for target in \
	./trust:FuzzVerifyMessage \
	./crypto/smime:FuzzParseSignedData \
	./crypto/smime:FuzzDecrypt \
	./crypto/pgpmime:FuzzVerify \
	./crypto/pgpmime:FuzzDecrypt \
	./treat:FuzzDecrypt \
	./treat:FuzzNeutralise \
	./revocation:FuzzVerifyOCSP \
	./revocation:FuzzVerifyCRL \
	./milter:FuzzHandle; do
	pkg=${target%%:*} name=${target##*:}
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 3s "$pkg" >"$work/fuzz.log" 2>&1; then
		cat "$work/fuzz.log"
		echo "fuzz: $pkg $name FAILED"
		fuzzfail=$((fuzzfail + 1))
	else
		echo "fuzz: $pkg $name ok"
	fi
done
if [ "$fuzzfail" -ne 0 ]; then
	echo "test.sh: $fuzzfail fuzz target(s) FAILED"
	echo "${summary/ 0 failed/ $fuzzfail failed}"
	exit 1
fi

echo "test.sh: gofmt, vet, build, tests and fuzzing OK"
echo "$summary"
