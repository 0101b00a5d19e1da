package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mailseal/mailseal/config"
)

// newManCommand writes mailseal(8) and mailseal.yaml(5) for `make install`
// and packages; hidden, since admins read the pages, not generate them.
func newManCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write the man pages mailseal.8 and mailseal.yaml.5 into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return writeManPages(root, args[0])
		},
	}
}

func writeManPages(root *cobra.Command, dir string) error {
	// SOURCE_DATE_EPOCH keeps package builds reproducible.
	date := time.Now().UTC().Format("2006-01-02")
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var sec int64
		if _, err := fmt.Sscan(s, &sec); err == nil {
			date = time.Unix(sec, 0).UTC().Format("2006-01-02")
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("man: %w", err)
	}
	pages := []struct {
		name  string
		write func(io.Writer) error
	}{
		{"mailseal.8", func(w io.Writer) error { return writeCommandManPage(w, root, date) }},
		{"mailseal.yaml.5", func(w io.Writer) error { return config.WriteManPage(w, date) }},
	}
	for _, p := range pages {
		f, err := os.OpenFile(filepath.Join(dir, p.name), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("man: %w", err)
		}
		if err := p.write(f); err != nil {
			f.Close()
			return fmt.Errorf("man: %s: %w", p.name, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("man: %s: %w", p.name, err)
		}
		// Pages are for everyone to read, whatever mailseal's umask (077).
		if err := os.Chmod(filepath.Join(dir, p.name), 0o644); err != nil {
			return fmt.Errorf("man: %w", err)
		}
	}
	return nil
}

// writeCommandManPage writes mailseal(8) from the command tree.
func writeCommandManPage(w io.Writer, root *cobra.Command, date string) error {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH MAILSEAL 8 %q mailseal \"System Manager's Manual\"\n", date)
	b.WriteString(".nh\n")
	b.WriteString(`.SH NAME
mailseal \- S/MIME signing milter and TLS policy socketmap for Postfix
.SH SYNOPSIS
.B mailseal
.RB [ \-\-config
.IR FILE ]
.I command
.RI [ arguments ]
.SH DESCRIPTION
.B mailseal serve
runs a before\-queue milter for Postfix. It gives each internal sender a personal
S/MIME certificate from its built\-in CA, signs their outbound mail, applies
per\-partner policy rules, hands per\-recipient copies back to Postfix, and answers
Postfix's smtp_tls_policy_maps lookups so that require_tls rules hold. The other
commands check the configuration, print the Postfix settings and manage
certificates. The configuration is described in
.BR mailseal.yaml (5).
.SH OPTIONS
.TP
.BR \-c ", " \-\-config " " \fIFILE\fR
YAML configuration file. Default: \fBMAILSEAL_CONFIG\fR, else the embedded defaults.
.SH COMMANDS
`)
	writeCommands(&b, root)
	b.WriteString(`.SH EXIT STATUS
Every command exits with:
.TP
.B 0
Success.
.TP
.B 1
The command ran and failed: the store, the network or a socket (for example
\fBlisten: cannot listen on ...\fR), or what was asked for does not exist.
.TP
.B 2
Usage or configuration error: an unknown command (with "did you mean"), a bad
flag or argument, an empty config file, or a bad key or \fBMAILSEAL_*\fR variable
(one line per problem, naming it).
.SH SIGNALS
.TP
.B SIGHUP
Reload the configuration file. A bad or empty file is refused and the running
configuration stays; a reload that empties internal_domains or drops every
require_tls rule is logged as a warning naming the key.
.TP
.BR SIGTERM ", " SIGINT
Finish the messages in flight (up to milter.shutdown_timeout) and exit 0.
.SH ENVIRONMENT
.TP
.B MAILSEAL_CONFIG
The configuration file when \fB\-\-config\fR is not given.
.TP
.B MAILSEAL_*
Override one key each (see
.BR mailseal.yaml (5)).
An empty value means an empty key; an unknown variable is an error.
.TP
.B XDG_STATE_HOME
Base of the default state_dir when not running as root
(\fB$XDG_STATE_HOME/mailseal\fR, else \fB~/.local/state/mailseal\fR).
.TP
.B MAIL_CONFIG
Postfix configuration directory that \fBpostconf\fR(1) reads when mailseal checks
whether relayhost or transport_maps bypass require_tls rules.
.SH FILES
.TP
.B /etc/mailseal/mailseal.yaml
Configuration.
.TP
.B /var/lib/mailseal/mailseal.db
The store: built\-in CA, user certificates and their sealed private keys (state_dir).
.TP
.B /var/lib/mailseal/master.key
The key that seals every private key. Back it up apart from the store. If it
exists but the store does not, mailseal refuses to start rather than create a
new CA.
.TP
.B /var/lib/mailseal/copies.db
Copies already handed to Postfix, so a retried message does not send them twice.
.SH LOGS
Lines go to standard error, or to syslog with facility mail (log.output: syslog).
Refused and tempfailed messages are logged at WARN.
.SH SEE ALSO
.BR mailseal.yaml (5),
.BR postconf (5),
.BR master (5),
.BR postconf (1)
`)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeCommands(b *strings.Builder, c *cobra.Command) {
	for _, sub := range c.Commands() {
		if !sub.IsAvailableCommand() || sub.Name() == "help" || sub.Name() == "completion" {
			continue
		}
		if sub.HasAvailableSubCommands() {
			writeCommands(b, sub)
			continue
		}
		path := strings.TrimPrefix(sub.CommandPath(), "mailseal ")
		_, args, _ := strings.Cut(sub.Use, " ")
		fmt.Fprintf(b, ".TP\n.B %s", manEscape(path))
		if args != "" {
			fmt.Fprintf(b, " \\fI%s\\fR", manEscape(args))
		}
		fmt.Fprintf(b, "\n%s\n", manEscape(sub.Short))
		sub.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Hidden || f.Name == "help" {
				return
			}
			fmt.Fprintf(b, ".RS\n.TP\n.B \\-\\-%s\n%s\n.RE\n", manEscape(f.Name), manEscape(f.Usage))
		})
	}
}

func manEscape(s string) string { return config.RoffEscape(s) }
