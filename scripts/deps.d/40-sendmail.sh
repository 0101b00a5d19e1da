#!/usr/bin/env bash
# scripts/deps.d/40-sendmail.sh — a private Sendmail for integration/sendmailtest.
#
# Debian's sendmail-bin conflicts with the postfix package the other tests need,
# so it is not installed: its .debs are downloaded and unpacked into
# $MAILSEAL_SENDMAIL_ROOT (default /var/cache/mailseal-test/sendmail), and only
# the libraries the binary links (liblockfile1, libwrap0) and m4 (to build a
# .cf from an .mc) are installed. The tests find the binary at
# ROOT/usr/libexec/sendmail/sendmail and the m4 files at
# ROOT/usr/share/sendmail/cf. Idempotent and quiet when everything is there.
set -euo pipefail

ROOT=${MAILSEAL_SENDMAIL_ROOT:-/var/cache/mailseal-test/sendmail}
APT=(apt-get -o DPkg::Lock::Timeout=600 -qq)

need=()
command -v m4 >/dev/null 2>&1 || need+=(m4)
for lib in liblockfile.so.1 libwrap.so.0; do
	if ! ldconfig -p 2>/dev/null | grep -q "$lib"; then
		case $lib in
		liblockfile*) need+=(liblockfile1) ;;
		libwrap*) need+=(libwrap0) ;;
		esac
	fi
done
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "40-sendmail.sh: missing ${need[*]}; run as root to install them" >&2
		exit 1
	fi
	log=$(mktemp)
	install() { DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y --no-install-recommends "${need[@]}" >"$log" 2>&1; }
	# Stale or missing package lists (a fresh container): refresh once.
	install || { "${APT[@]}" update >/dev/null 2>&1 || true; install; } ||
		{ cat "$log" >&2; echo "40-sendmail.sh: apt-get install ${need[*]} failed" >&2; rm -f "$log"; exit 1; }
	rm -f "$log"
fi

if [ -x "$ROOT/usr/libexec/sendmail/sendmail" ] && [ -f "$ROOT/usr/share/sendmail/cf/m4/cf.m4" ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ] && ! mkdir -p "$ROOT" 2>/dev/null; then
	echo "40-sendmail.sh: cannot create $ROOT (set MAILSEAL_SENDMAIL_ROOT)" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# apt downloads as its _apt user: let it write here (else it warns).
chown _apt "$tmp" 2>/dev/null || chmod 777 "$tmp"
download() { (cd "$tmp" && "${APT[@]}" download sendmail-bin sendmail-base sendmail-cf >/dev/null); }
download || { "${APT[@]}" update >/dev/null 2>&1 || true; download; } ||
	{ echo "40-sendmail.sh: apt-get download sendmail-bin sendmail-base sendmail-cf failed" >&2; exit 1; }
mkdir -p "$tmp/root"
for deb in "$tmp"/*.deb; do
	dpkg-deb -x "$deb" "$tmp/root"
done
if [ ! -x "$tmp/root/usr/libexec/sendmail/sendmail" ]; then
	echo "40-sendmail.sh: no usr/libexec/sendmail/sendmail in the sendmail-bin package" >&2
	exit 1
fi
mkdir -p "$(dirname "$ROOT")"
rm -rf "$ROOT.new"
mv "$tmp/root" "$ROOT.new"
rm -rf "$ROOT"
mv "$ROOT.new" "$ROOT"
