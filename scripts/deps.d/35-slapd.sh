#!/usr/bin/env bash
# OpenLDAP for the LDAP enrolment tests (integration/enroll_ldap_test.go):
# slapd and the ldap-utils (ldapadd, ldapmodify). The tests start their own
# slapd on a loopback port with a config they write, so the package is told
# not to configure (and therefore not to start) a system directory on 389.
set -euo pipefail
missing=()
command -v slapd >/dev/null || [ -x /usr/sbin/slapd ] || missing+=(slapd)
command -v ldapadd >/dev/null || missing+=(ldap-utils)
[ ${#missing[@]} -eq 0 ] && exit 0
[ "$(id -u)" -eq 0 ] || { echo "deps.d/35-slapd.sh: need root to install ${missing[*]}" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
apt-get -o DPkg::Lock::Timeout=600 -qq update
apt-get -o DPkg::Lock::Timeout=600 -qq install -y --no-install-recommends "${missing[@]}" >/dev/null
# A system slapd started anyway (an image without the preseed honoured)
# would hold 389 and is not ours to use: stop it.
if [ -r /var/run/slapd/slapd.pid ]; then
	kill "$(cat /var/run/slapd/slapd.pid)" 2>/dev/null || true
fi
