#!/usr/bin/env bash
# scripts/deps.d/25-softhsm.sh — SoftHSM2 (a PKCS#11 token in software) for
# the tests of the pkcs11 build (CA key in an HSM), opensc for pkcs11-tool,
# and a C compiler: the pkcs11 build needs cgo. Idempotent and quiet when
# everything is there.
set -euo pipefail

APT=(apt-get -o DPkg::Lock::Timeout=600 -qq)
need=()
command -v softhsm2-util >/dev/null 2>&1 && [ -e /usr/lib/softhsm/libsofthsm2.so ] || need+=(softhsm2)
command -v pkcs11-tool >/dev/null 2>&1 || need+=(opensc)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "25-softhsm.sh: missing ${need[*]}; run as root to install them" >&2
	exit 1
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
install() { DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y --no-install-recommends "${need[@]}" >"$log" 2>&1; }
# Stale or missing package lists (a fresh container): refresh once.
install || { "${APT[@]}" update >/dev/null 2>&1 || true; install; } ||
	{ cat "$log" >&2; echo "25-softhsm.sh: apt-get install ${need[*]} failed" >&2; exit 1; }
