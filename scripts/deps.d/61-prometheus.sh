#!/usr/bin/env bash
# A real Prometheus for TestDashboardQueriesExistOnMetrics (integration/
# dashboard_test.go): it scrapes a test daemon and evaluates every query of
# docs/grafana/mailseal-dashboard.json. Debian's prometheus package is only
# downloaded and unpacked into /opt/mailseal-test/prometheus, not installed:
# installing it would start a system Prometheus on port 9090.
set -euo pipefail
dest=/opt/mailseal-test/prometheus
[ -x "$dest/usr/bin/prometheus" ] && exit 0
[ "$(id -u)" -eq 0 ] || { echo "deps.d/61-prometheus.sh: need root to unpack prometheus into $dest" >&2; exit 1; }
work=$(mktemp -d)
chmod 0755 "$work" # apt-get download runs as _apt
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get -o DPkg::Lock::Timeout=600 download prometheus >/dev/null 2>&1; then
	apt-get -o DPkg::Lock::Timeout=600 -qq update
	apt-get -o DPkg::Lock::Timeout=600 download prometheus >/dev/null
fi
mkdir -p "$dest.tmp"
dpkg-deb -x prometheus_*.deb "$dest.tmp"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
"$dest/usr/bin/prometheus" --version >/dev/null
