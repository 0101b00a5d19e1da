#!/usr/bin/env bash
# Tools TestDebianPackage (integration/deb_test.go) uses besides dpkg:
# adduser/deluser (the package's maintainer scripts) and systemd-analyze
# (verifies the unit; the systemd package, which is not started here).
set -euo pipefail
missing=()
command -v adduser >/dev/null || missing+=(adduser)
command -v systemd-analyze >/dev/null || missing+=(systemd)
[ ${#missing[@]} -eq 0 ] && exit 0
[ "$(id -u)" -eq 0 ] || { echo "deps.d/60-deb.sh: need root to install ${missing[*]}" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 -qq update
apt-get -o DPkg::Lock::Timeout=600 -qq install -y --no-install-recommends "${missing[@]}" >/dev/null
