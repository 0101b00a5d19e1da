#!/usr/bin/env bash
# bench/load.sh — the full load run: N mails (default 10,000) with mixed
# treatments (outside→inside plain, internal→partner signed, split Bcc with
# an encrypted copy for a partner with an imported certificate, S/MIME
# encrypted) through a private Postfix + mailseal, then the same mails
# through a Postfix without milter for the baseline.
#
# It runs integration.TestLoadMixedTreatments (which fails on any lost or
# duplicated copy, or a copy not treated as the policy says) and prints its
# figures: throughput, SMTP transaction p50/p99 with and without mailseal
# (the difference is mailseal's added latency), submit→delivered p50/p99
# and mailseal's peak RSS. The load average before and after is printed
# too: on a shared machine the figures mean little without it.
#
#   N=10000     mails           BASELINE=1  also run the no-milter pass (0: skip)
# Needs root (private Postfix instances) and go, postfix, openssl on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
N=${N:-10000}
BASELINE=${BASELINE:-1}

[ "$(id -u)" = 0 ] || { echo "load: must run as root (private Postfix instances)" >&2; exit 1; }
echo "load: N=$N, $(nproc) CPUs, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
MAILSEAL_LOAD_N=$N MAILSEAL_LOAD_BASELINE=$BASELINE \
	go test -count=1 -timeout 4h -run '^TestLoadMixedTreatments$' -v ./integration/ >"$out" 2>&1
rc=$?
set -e
echo "load: load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -E 'load_test\.go:[0-9]+: load' "$out" | sed -E 's/^ *load_test\.go:[0-9]+: //'
if [ $rc -ne 0 ]; then
	tail -n 60 "$out" >&2
	echo "load: FAILED (go test exit $rc)" >&2
	exit $rc
fi
echo "load: OK"
