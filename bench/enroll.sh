#!/usr/bin/env bash
# bench/enroll.sh — enrolment ahead of the first mail at scale: issue
# certificates for N new users with `mailseal certs enroll --from FILE`
# (built-in CA, fresh SQLite store in a temp dir) and print the issuance
# rate, the CPU per certificate and the store size.
#
# Environment:
#   N=10000            users to enrol (CI runs N=50)
#   KEY_TYPE=rsa-3072  ca.key_type: rsa-3072 | rsa-2048 | ecdsa-p256
#   WORKERS=0          --workers (0: the number of CPUs Go uses)
#   TARGET_N=10000 TARGET_S=600   the target to project against (10,000 users
#                      in 10 minutes on 2 cores)
#   KEEP=1             keep the work dir afterwards
# Needs go on PATH. The machine's load average is printed with the numbers:
# on a shared machine the wall-clock rate understates what idle cores do, so
# the projection uses CPU seconds per certificate.
set -euo pipefail

N=${N:-10000}
KEY_TYPE=${KEY_TYPE:-rsa-3072}
WORKERS=${WORKERS:-0}
TARGET_N=${TARGET_N:-10000}
TARGET_S=${TARGET_S:-600}

cd "$(dirname "$0")/.."
work=$(mktemp -d)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
go build -o "$work/mailseal" ./cmd/mailseal

cat >"$work/mailseal.yaml" <<EOC
state_dir: $work/state
internal_domains: [corp.example]
ca:
  key_type: $KEY_TYPE
log:
  level: info
EOC
# First start creates the CA and the master key; not part of the timing.
"$work/mailseal" certs list --config "$work/mailseal.yaml" >/dev/null
awk -v n="$N" 'BEGIN { print "# bench users"; for (i = 1; i <= n; i++) printf "user%05d@corp.example\n", i }' >"$work/users.txt"

cores=$(nproc)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
TIMEFORMAT='%R %U %S'
{ time "$work/mailseal" certs enroll --from "$work/users.txt" --workers "$WORKERS" \
	--failures "$work/failures.txt" --config "$work/mailseal.yaml" >"$work/enroll.out" 2>"$work/enroll.log"; } 2>"$work/time" || {
	cat "$work/enroll.log" >&2
	echo "bench: enroll failed" >&2
	exit 1
}
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
read -r wall user sys <"$work/time"
summary=$(grep -o 'enrolled [0-9]*, already had [0-9]*, failed [0-9]*' "$work/enroll.log" | tail -1)
enrolled=$(echo "$summary" | awk '{ print $2 }' | tr -d ,)
[ "$enrolled" = "$N" ] || { cat "$work/enroll.log" >&2; echo "bench: enrolled $enrolled of $N" >&2; exit 1; }
store=$(cat "$work"/state/mailseal.db* | wc -c)

awk -v n="$N" -v wall="$wall" -v user="$user" -v sys="$sys" -v store="$store" -v cores="$cores" \
	-v tn="$TARGET_N" -v ts="$TARGET_S" -v kt="$KEY_TYPE" -v w="$WORKERS" -v lb="$load_before" -v la="$load_after" 'BEGIN {
	cpu = user + sys
	printf "bench: enroll %d users, key type %s, workers %s, %d cores\n", n, kt, (w == 0 ? "GOMAXPROCS" : w), cores
	printf "bench:   load average before: %s, after: %s\n", lb, la
	printf "bench:   wall %.1f s, %.1f certs/s\n", wall, n / wall
	printf "bench:   CPU %.1f s, %.1f ms CPU/cert\n", cpu, 1000 * cpu / n
	printf "bench:   store %d bytes, %d bytes/user\n", store, store / n
	proj = tn * (cpu / n) / 2
	printf "bench:   projected %d users on 2 idle cores: %.0f s (target %d s: %s)\n", tn, proj, ts, (proj <= ts ? "met" : "NOT met")
}'
