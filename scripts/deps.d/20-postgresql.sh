#!/usr/bin/env bash
# PostgreSQL for the store.driver: postgres tests. The tests run their own
# cluster (initdb into a temporary directory as the postgres user, on a free
# loopback port); Debian's package may create a "main" cluster on 5432,
# which is stopped here so nothing outside the tests keeps running.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	[ "$(id -u)" -eq 0 ] || { echo "deps.d/20-postgresql.sh: need root to install postgresql" >&2; exit 1; }
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=600 -qq update
	apt-get -o DPkg::Lock::Timeout=600 -qq install -y --no-install-recommends postgresql >/dev/null
fi
# The package's own cluster is not used; stop it if the package started it.
if command -v pg_lsclusters >/dev/null && [ "$(id -u)" -eq 0 ]; then
	pg_lsclusters --no-header 2>/dev/null | while read -r ver name port status _; do
		if [ "$status" = online ]; then
			pg_ctlcluster "$ver" "$name" stop || true
		fi
	done
fi
exit 0
