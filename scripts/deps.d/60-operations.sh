#!/usr/bin/env bash
# Tools of the operations tests: adduser/deluser (the package's maintainer
# scripts) and systemd-analyze (verifies the unit; the systemd package, which
# is not started here) for TestDebianPackage, the sqlite3 shell for
# TestBackupAndRestore (the documented online backup).
set -euo pipefail
missing=()
command -v adduser >/dev/null || missing+=(adduser)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
[ ${#missing[@]} -eq 0 ] && exit 0
[ "$(id -u)" -eq 0 ] || { echo "deps.d/60-operations.sh: need root to install ${missing[*]}" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 -qq update
apt-get -o DPkg::Lock::Timeout=600 -qq install -y --no-install-recommends "${missing[@]}" >/dev/null
