package main

import (
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mailseal/mailseal/config"
)

func newPostfixConfigCommand(cfgPath func() string) *cobra.Command {
	return &cobra.Command{
		Use:   "postfix-config",
		Short: "Print the main.cf and master.cf lines that put mailseal into Postfix",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath())
			if err != nil {
				return err
			}
			writePostfixConfig(cmd.OutOrStdout(), cfg)
			return nil
		},
	}
}

func tlsLines(cfg *config.Config) string {
	rules := outboundTLSRules(cfg)
	switch {
	case len(rules) == 0:
		// Every outbound lookup would answer "not found": a round trip per
		// delivery, and one more thing that must be up, for nothing.
		return "# No require_tls rule for outbound mail: smtp_tls_policy_maps is not needed."
	case cfg.SocketmapListen == "":
		return "# socketmap_listen is empty: the require_tls rules (" + strings.Join(rules, ", ") + ") are NOT enforced for outbound mail."
	}
	s := fmt.Sprintf(`# Outbound TLS per destination, from the require_tls rules. If mailseal is
# down, Postfix defers outbound mail (4.7.5) rather than sending it in clear.
smtp_tls_policy_maps = socketmap:inet:%s:tlspolicy`, cfg.SocketmapListen)
	for _, w := range tlsBypassWarnings(cfg) {
		s += "\n# WARNING: " + w
	}
	return s
}

func reinjectLines(cfg *config.Config) string {
	if cfg.Reinject == "" {
		return "# reinject is empty: messages whose recipients need different treatment are tempfailed.\n"
	}
	host, port, _ := net.SplitHostPort(cfg.Reinject)
	// mailseal connects from the host it runs on; this assumes the same host.
	client := host + "/32"
	if strings.Contains(host, ":") {
		client = "[" + host + "]/128"
	}
	// Address mappings (virtual aliases, canonical maps) stay on: the milter
	// saw the recipients before cleanup rewrote them, so the copies need them.
	return fmt.Sprintf(`
# --- master.cf: where mailseal hands back per-recipient copies (no milters) ---
# Append as a new service. chroot "n" works everywhere; "y" (Debian's choice for
# its own smtpd) works too, mailseal connects over TCP.
%s inet  n       -       n       -       -       smtpd
  -o smtpd_milters=
  -o non_smtpd_milters=
  -o smtpd_client_restrictions=permit_mynetworks,reject
  -o smtpd_recipient_restrictions=permit_mynetworks,reject
  -o mynetworks=%s
`, net.JoinHostPort(host, port), client)
}

// writePostfixConfig prints what an admin pastes; every line says why.
func writePostfixConfig(w io.Writer, cfg *config.Config) {
	// Signing re-encodes 8-bit parts (binary attachments grow by a third in
	// base64), and cleanup applies message_size_limit to the rewritten file.
	limit := int64(cfg.Milter.MaxMessageSize) * 3 / 2
	fmt.Fprintf(w, `# ======================================================================
# main.cf: postconf -e each "name = value" line, then: postfix reload
# ======================================================================
# --- main.cf ---
# mailseal signs/filters mail received over SMTP. If mailseal is down or fails,
# Postfix answers the client 451 and the client keeps the mail and retries:
# never deliver mail unsigned that policy says must be signed. The per-milter
# default_action leaves other milters' (milter_default_action) as they are.
# If smtpd_milters already lists milters, add the { ... } entry in front of them.
smtpd_milters = { %s, default_action=tempfail }
milter_protocol = 6
# mailseal needs the queue id, the SMTP AUTH user and the TLS facts.
milter_mail_macros = i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}
milter_helo_macros = {tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}
milter_connect_macros = j {daemon_name} {daemon_addr} {client_addr} v _
# Locally submitted mail (sendmail/pickup) reaches milters as client 127.0.0.1:
# enable this only where every local user may send as any internal address.
#non_smtpd_milters = $smtpd_milters
# A DKIM milter, if any, must come AFTER mailseal in smtpd_milters: it must sign the final body.
%s

# ======================================================================
# master.cf: edit the file, then: postfix reload
# service type  private unpriv  chroot  wakeup  maxproc command + args
# ======================================================================
# --- master.cf: let cleanup accept the signed (larger) message ---
# Add the -o line under your existing "cleanup" line and keep that line as it
# is, chroot column included (Debian and Ubuntu ship "y", upstream "n" or "-"):
#   cleanup   unix  n       -       y       -       0       cleanup
cleanup   unix  n       -       -       -       0       cleanup
  -o message_size_limit=%d
%s`, cfg.Listen, tlsLines(cfg), limit, reinjectLines(cfg))
}
