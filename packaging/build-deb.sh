#!/bin/sh
# build-deb.sh OUTDIR — build the mailseal Debian package into OUTDIR.
#
# Builds the static binary (CGO_ENABLED=0), the man pages and the packaged
# /etc/mailseal/mailseal.yaml (`mailseal config example` with state_dir set
# to the unit's StateDirectory), stages them in OUTDIR/stage and runs nfpm
# (pinned below, fetched through the Go module proxy; set NFPM to use
# another binary). Run from anywhere; `make deb` calls it with OUTDIR=build.
#
# VERSION overrides the version (default: git describe). The package version
# is VERSION without a leading "v" (other characters Debian does not allow
# become "+"), or 0.0.0+git.VERSION when VERSION is not N.N… (a bare commit hash).
set -eu

NFPM_MODULE=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
umask 022
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
stage=$out/stage
rm -rf "$stage"
mkdir -p "$stage/doc"

GO=${GO:-go}
VERSION=${VERSION:-$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo dev)}
v=${VERSION#v}
case $v in
[0-9]*.[0-9]*) deb_version=$(printf '%s' "$v" | tr -c 'A-Za-z0-9.+~\n' '+') ;;
*) deb_version=0.0.0+git.$(printf '%s' "$v" | tr -c 'A-Za-z0-9.+~\n' '.') ;;
esac

cd "$root"
CGO_ENABLED=0 $GO build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$stage/mailseal" ./cmd/mailseal
"$stage/mailseal" man "$stage/man"
gzip -9n <"$stage/man/mailseal.8" >"$stage/mailseal.8.gz"
gzip -9n <"$stage/man/mailseal.yaml.5" >"$stage/mailseal.yaml.5.gz"

# The packaged config: every key at its default, commented; state_dir set to
# where the unit's StateDirectory= and the postinst put it (the default
# would depend on the user running the command).
{
	echo "# /etc/mailseal/mailseal.yaml, installed by the mailseal package."
	echo "# Set at least internal_domains and ca.subject before the first start;"
	echo "# see mailseal.yaml(5) and /usr/share/doc/mailseal/operations.md."
	echo "#"
	env -u MAILSEAL_CONFIG "$stage/mailseal" config example |
		sed 's|^#state_dir: .*|state_dir: "/var/lib/mailseal"  # the unit'"'"'s StateDirectory=|'
} >"$stage/mailseal.yaml"
grep -q '^state_dir: "/var/lib/mailseal" ' "$stage/mailseal.yaml" ||
	{ echo "$0: config example has no state_dir line to set" >&2; exit 1; }

cp README.md "$stage/doc/"
cp docs/*.md "$stage/doc/"
if [ -d docs/grafana ]; then
	cp -r docs/grafana "$stage/doc/"
fi

if [ -z "${NFPM:-}" ]; then
	GOBIN=$out/tools CGO_ENABLED=0 $GO install "$NFPM_MODULE"
	NFPM=$out/tools/nfpm
fi
MAILSEAL_DEB_STAGE=$stage MAILSEAL_DEB_VERSION=$deb_version \
	"$NFPM" package --config packaging/nfpm.yaml --packager deb --target "$out/"
ls "$out"/mailseal_*.deb
