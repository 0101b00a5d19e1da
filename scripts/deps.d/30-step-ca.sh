#!/usr/bin/env bash
# step-ca (smallstep), the external CA the ca.backend=step tests start on
# loopback. Built from source through the Go module proxy (no prebuilt
# binary is fetched): a few minutes of compiling the first time, nothing
# after. Tests find it at $MAILSEAL_STEP_CA, else in this cache, else on PATH.
set -euo pipefail

version=v0.30.2
bindir=${MAILSEAL_TEST_BIN:-/var/cache/mailseal-test/bin}
bin=$bindir/step-ca
stamp=$bindir/.step-ca-$version

if [ -x "$bin" ] && [ -e "$stamp" ]; then
	exit 0
fi
command -v go >/dev/null || { echo "30-step-ca: go not found on PATH" >&2; exit 1; }
mkdir -p "$bindir"
echo "30-step-ca: building step-ca $version (a few minutes)"
# A scratch module dir: `go install pkg@version` ignores the caller's go.mod,
# but not a GOFLAGS=-mod=vendor or a go.work around it.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! (cd "$work" && CGO_ENABLED=0 GOBIN="$bindir" GOFLAGS=-buildvcs=false GOWORK=off \
	go install "github.com/smallstep/certificates/cmd/step-ca@$version"); then
	echo "30-step-ca: go install github.com/smallstep/certificates/cmd/step-ca@$version failed" >&2
	exit 1
fi
"$bin" version >/dev/null 2>&1 || { echo "30-step-ca: $bin does not run" >&2; exit 1; }
touch "$stamp"
