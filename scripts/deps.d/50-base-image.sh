#!/usr/bin/env bash
# scripts/deps.d/50-base-image.sh — make sure the base image the Dockerfiles
# name (debian:bookworm-slim) exists in the local Docker Engine.
#
# Where a registry is reachable, `docker pull debian:bookworm-slim` does the
# same job; this script is for machines without one: it builds a minimal
# Debian bookworm with debootstrap from this machine's own apt sources and
# imports it under that tag. Idempotent and quiet: it does nothing when the
# image is there, or when there is no Docker Engine to put it in.
#
#   BASE_IMAGE=debian:bookworm-slim   the tag to create
#   DEBIAN_MIRROR=URL                 override the mirror found in apt's sources
set -euo pipefail

PATH=$PATH:/usr/sbin:/sbin
tag=${BASE_IMAGE:-debian:bookworm-slim}
suite=bookworm

command -v docker >/dev/null 2>&1 || exit 0
docker info >/dev/null 2>&1 || exit 0
docker image inspect "$tag" >/dev/null 2>&1 && exit 0

die() {
	echo "50-base-image: $*" >&2
	exit 1
}
[ "$(id -u)" = 0 ] || die "image $tag is missing; building it needs root (debootstrap): run as root, or docker pull $tag"

# The mirror this machine's apt uses for a Debian suite ($1): the first "deb"
# source that carries it, from sources.list (one-line format) or from
# sources.list.d/*.sources (deb822 format).
find_mirror() {
	local f suite=$1
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk -v s="$suite" '
			$1 == "deb" {
				i = 2
				if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
				if ($(i+1) == s) { print $i; exit }
			}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		# deb822: stanzas separated by blank lines; keep the URI of a
		# stanza whose Types has deb and whose Suites has the suite.
		awk -v s="$suite" '
			function flush() {
				if (deb && hassuite && uri != "") { print uri; found = 1; exit }
				deb = 0; hassuite = 0; uri = ""
			}
			/^[ \t]*$/ { flush(); next }
			/^#/ { next }
			tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
			tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == s) hassuite = 1 }
			tolower($1) == "uris:" { uri = $2 }
			END { if (!found) flush() }' "$f"
	done
}
mirror=${DEBIAN_MIRROR:-$(find_mirror "$suite" | head -n1)}
[ -n "$mirror" ] || die "no apt source for Debian $suite in /etc/apt/sources.list or /etc/apt/sources.list.d/; set DEBIAN_MIRROR or docker pull $tag"

if ! command -v debootstrap >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 debootstrap >/dev/null 2>&1 ||
		die "could not install debootstrap"
fi

root=$(mktemp -d /var/tmp/mailseal-base.XXXXXX)
log=$root.log
trap 'rm -rf "$root" "$log"' EXIT
if ! debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$log" 2>&1; then
	tail -n 20 "$log" >&2
	die "debootstrap $suite from $mirror failed"
fi

# Like the public slim image: apt sources for the release and, where this
# machine has them, its updates and security fixes; no caches, and no
# documentation installed by later apt-get calls.
echo "deb $mirror $suite main" >"$root/etc/apt/sources.list"
for extra in updates security; do
	uri=$(find_mirror "$suite-$extra" | head -n1)
	if [ -n "$uri" ]; then
		echo "deb $uri $suite-$extra main" >>"$root/etc/apt/sources.list"
	fi
done
cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
DPKG
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb

tar -C "$root" --numeric-owner -c . |
	docker import --change 'CMD ["bash"]' - "$tag" >/dev/null ||
	die "docker import of $tag failed"
