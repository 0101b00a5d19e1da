#!/usr/bin/env bash
# PostgreSQL for the store.driver: postgres tests. The tests run their own
# cluster (initdb into a temporary directory as the postgres user, on a free
# loopback port), so they never use or conflict with a system cluster.
# Debian's package creates a "main" cluster on 5432 and may start it: when
# this script installed the package, that cluster is stopped again so nothing
# is left running; a cluster that was there before is left alone.
set -euo pipefail
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && exit 0
[ "$(id -u)" -eq 0 ] || { echo "deps.d/20-postgresql.sh: need root to install postgresql" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 -qq update
apt-get -o DPkg::Lock::Timeout=600 -qq install -y --no-install-recommends postgresql >/dev/null
if command -v pg_lsclusters >/dev/null; then
	pg_lsclusters --no-header 2>/dev/null | while read -r ver name _port status _; do
		if [ "$status" = online ]; then
			pg_ctlcluster "$ver" "$name" stop || true
		fi
	done
fi
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "deps.d/20-postgresql.sh: postgresql installed but no initdb found" >&2; exit 1; }
