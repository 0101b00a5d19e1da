#!/usr/bin/env bash
# scripts/install-deps.sh — make sure the system tools the tests need are there.
#
# Needed: postfix (postfix, postqueue, smtp-source, smtp-sink), swaks, openssl,
# gpgsm, gpg, qpdf, pdftotext and pdfdetach (poppler-utils), mutool (mupdf-tools),
# node (nodejs) with pdf.js (libjs-pdf) for the PDF readers, script
# (util-linux/bsdutils), ps (procps), and for SMTP AUTH
# tests (postfixtest Options.SASLUsers) saslpasswd2/sasldblistusers2 (sasl2-bin)
# with the Cyrus PLAIN/LOGIN (libsasl2-modules) and sasldb
# (libsasl2-modules-db) plugins; groff (groff-base) to check the man pages and make
# for `make install`.
# Quiet and idempotent when everything is present. As root on Debian/Ubuntu it
# installs what is missing with apt-get (Postfix with "No configuration", so
# /etc/postfix stays unconfigured and no system Postfix is started; tests run
# private instances with `postfix -c DIR`). Not root: lists what is missing and
# exits 1. A Postfix already running on port 25 is left alone.
set -euo pipefail

PATH=$PATH:/usr/sbin:/sbin

# command → Debian package
declare -A PKG=(
	[postfix]=postfix
	[postqueue]=postfix
	[smtp-source]=postfix
	[smtp-sink]=postfix
	[swaks]=swaks
	[openssl]=openssl
	[gpgsm]=gpgsm
	[gpg]=gnupg
	[gpg-agent]=gpg-agent
	[qpdf]=qpdf
	[pdftotext]=poppler-utils
	[pdfdetach]=poppler-utils
	[mutool]=mupdf-tools
	[node]=nodejs
	[script]=bsdutils
	[ps]=procps
	[saslpasswd2]=sasl2-bin
	[sasldblistusers2]=sasl2-bin
	[groff]=groff-base
	[make]=make
)

missing_cmds=()
missing_pkgs=()
for cmd in postfix postqueue smtp-source smtp-sink swaks openssl gpgsm gpg gpg-agent qpdf pdftotext pdfdetach mutool node script ps saslpasswd2 sasldblistusers2 groff make; do
	if ! command -v "$cmd" >/dev/null 2>&1; then
		missing_cmds+=("$cmd")
		pkg=${PKG[$cmd]}
		case " ${missing_pkgs[*]:-} " in
		*" $pkg "*) ;;
		*) missing_pkgs+=("$pkg") ;;
		esac
	fi
done
# Cyrus SASL plugins (files, not commands): plugin glob → Debian package.
missing_plugins=()
declare -A SASLPLUGIN=(
	[libplain.so]=libsasl2-modules
	[liblogin.so]=libsasl2-modules
	[libsasldb.so]=libsasl2-modules-db
)
have_sasl_plugin() {
	local f
	for f in /usr/lib/*/sasl2/"$1"* /usr/lib/sasl2/"$1"* /usr/lib64/sasl2/"$1"*; do
		[ -e "$f" ] && return 0
	done
	return 1
}
for plugin in libplain.so liblogin.so libsasldb.so; do
	if ! have_sasl_plugin "$plugin"; then
		missing_plugins+=("$plugin")
		pkg=${SASLPLUGIN[$plugin]}
		case " ${missing_pkgs[*]:-} " in
		*" $pkg "*) ;;
		*) missing_pkgs+=("$pkg") ;;
		esac
	fi
done
# pdf.js (the engine of Firefox's PDF viewer), read by the pdfmail tests under node.
if [ ! -s /usr/share/javascript/pdf/build/pdf.js ]; then
	missing_pkgs+=(libjs-pdf)
fi
# CA certificates for anything that talks TLS to the outside (go mod download).
if [ ! -s /etc/ssl/certs/ca-certificates.crt ]; then
	missing_pkgs+=(ca-certificates)
fi

# Extra dependencies of single features (a base image, a Go-built server, …)
# live in scripts/deps.d/*.sh, each idempotent and quiet when done; they run
# after the packages above are in place.
run_deps_d() {
	local f
	for f in scripts/deps.d/*.sh; do
		[ -e "$f" ] || continue
		bash "$f" || {
			echo "install-deps: $f failed" >&2
			exit 1
		}
	done
}
cd "$(dirname "$0")/.."

if [ ${#missing_pkgs[@]} -eq 0 ]; then
	run_deps_d
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing commands: ${missing_cmds[*]:-none}; SASL plugins: ${missing_plugins[*]:-none}" >&2
	echo "install-deps: install as root: apt-get install -y --no-install-recommends ${missing_pkgs[*]}" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: missing ${missing_pkgs[*]} and no apt-get here; install them by hand" >&2
	exit 1
fi

echo "install-deps: installing ${missing_pkgs[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if command -v debconf-set-selections >/dev/null 2>&1; then
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
fi
# Wait for a dpkg lock another installer holds rather than failing.
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	"${missing_pkgs[@]}" >/dev/null

still=()
for cmd in "${missing_cmds[@]}"; do
	command -v "$cmd" >/dev/null 2>&1 || still+=("$cmd")
done
for plugin in "${missing_plugins[@]}"; do
	have_sasl_plugin "$plugin" || still+=("SASL plugin $plugin")
done
if [ ${#still[@]} -gt 0 ]; then
	echo "install-deps: still missing after apt-get: ${still[*]}" >&2
	exit 1
fi
run_deps_d
echo "install-deps: done" >&2
