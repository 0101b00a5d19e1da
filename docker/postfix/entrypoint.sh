#!/usr/bin/env bash
# Configure Postfix for mailseal and run it in the foreground (PID 1's child
# is Postfix's master; logs go to standard output).
#
# Variables:
#   RELAYHOST           next hop for all outbound mail, e.g. [smtp.corp.example]:587;
#                       empty: deliver directly to each domain's MX
#   POSTFIX_MYHOSTNAME  the name Postfix greets with (default: the container's
#                       hostname, with .localdomain when it has no dot)
#   GATEWAY_CLIENTS     more clients that may relay, comma-separated CIDRs
#   MILTER_HOST       where the mailseal container answers (default: mailseal)
#   MAILSEAL_*          as for mailseal itself: `mailseal postfix-config` reads
#                       the same config file and variables
#
# Each start writes main.cf and master.cf afresh (addresses may have changed);
# lines of /etc/postfix/main.cf.local (mount one) are applied last, as they are.
#
# Clients on the networks this container is attached to and GATEWAY_CLIENTS
# (mynetworks) may relay; the port you publish is the gateway's submission
# point for internal hosts.
set -euo pipefail

mailseal_host=${MILTER_HOST:-mailseal}
log() { echo "postfix-entrypoint: $*" >&2; }

# The mailseal container's address tells which of our networks is the
# internal one: the reinject listener (no milters) binds there only.
ip=
for _ in $(seq 1 60); do
	ip=$(getent ahostsv4 "$mailseal_host" | awk 'NR == 1 { print $1 }') && [ -n "$ip" ] && break
	sleep 1
done
[ -n "$ip" ] || { log "cannot resolve $mailseal_host"; exit 1; }
dev=$(ip -4 -o route get "$ip" | sed -n 's/.* dev \([^ ]*\).*/\1/p')
internal_ip=$(ip -4 -o route get "$ip" | sed -n 's/.* src \([^ ]*\).*/\1/p')
internal_net=$(ip -4 -o route show dev "$dev" scope link | awk 'NR == 1 { print $1 }')
[ -n "$internal_ip" ] && [ -n "$internal_net" ] || { log "no route to $mailseal_host ($ip)"; exit 1; }
# Loopback, every network this container is on, and GATEWAY_CLIENTS.
clients=${GATEWAY_CLIENTS:-}
mynetworks="127.0.0.0/8 $(ip -4 -o route show scope link | awk '{ print $1 }' | sort -u | tr '\n' ' ')${clients//,/ }"

cp /etc/postfix/master.cf.proto /etc/postfix/master.cf
: >/etc/postfix/main.cf

name=${POSTFIX_MYHOSTNAME:-$(hostname)}
case $name in *.*) ;; *) name=$name.localdomain ;; esac

# A relay, not a mailbox host: no local delivery, no aliases, IPv4 (Docker's
# default networks), logs to standard output, chroot off (Debian's master.cf
# chroots, which needs files copied into the queue directory).
postconf -e \
	"compatibility_level = 3.6" \
	"myhostname = $name" \
	"mydestination =" \
	"local_recipient_maps =" \
	"local_transport = error:5.1.1 this gateway delivers no local mail" \
	"alias_maps =" \
	"alias_database =" \
	"relay_domains =" \
	"relayhost = ${RELAYHOST:-}" \
	"inet_interfaces = all" \
	"inet_protocols = ipv4" \
	"mynetworks = $mynetworks" \
	"smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination" \
	"maillog_file = /dev/stdout" \
	"milter_default_action = tempfail"
postconf -F '*/*/chroot = n'

# mailseal's own lines, with its listen addresses pointed at the mailseal
# container and the reinject listener bound to the internal network.
cfg=$(mailseal postfix-config)
section=main
svc=
while IFS= read -r line; do
	case $line in
	"# --- master.cf"*) section=master; continue ;;
	"#"* | "") continue ;;
	esac
	line=$(sed -E "s/inet:(0\.0\.0\.0|127\.0\.0\.1|localhost|\[::\]|\[::1\]):/inet:$mailseal_host:/g" <<<"$line")
	if [ $section = main ]; then
		postconf -e "$line"
		continue
	fi
	case $line in
	[[:space:]]*-o*)
		opt=$(sed -E 's/^[[:space:]]*-o[[:space:]]+//' <<<"$line")
		case $opt in mynetworks=*) opt="mynetworks=$internal_net" ;; esac
		postconf -P "$svc/$opt"
		;;
	*)
		read -r sname stype rest <<<"$line"
		case $sname in *:*) sname=$internal_ip:${sname##*:} ;; esac
		svc=$sname/$stype
		postconf -M "$svc=$sname $stype $rest"
		;;
	esac
done <<<"$cfg"
postconf -F '*/*/chroot = n'

if [ -r /etc/postfix/main.cf.local ]; then
	while IFS= read -r line; do
		case $line in "#"* | "") continue ;; esac
		postconf -e "$line"
	done </etc/postfix/main.cf.local
fi

log "milter $(postconf -h smtpd_milters); mynetworks $mynetworks; relayhost ${RELAYHOST:-(direct)}"
postfix check
exec postfix start-fg
