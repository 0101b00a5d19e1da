package config

import (
	"fmt"
	"io"
	"strings"
)

// WriteManPage writes mailseal.yaml(5) in roff (man macros) from the key
// table, laid out like opendkim.conf(5): the file format and shared rules
// once, then every key with its type, default and meaning.
func WriteManPage(w io.Writer, date string) error {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH MAILSEAL.YAML 5 %q mailseal \"File Formats\"\n", date)
	// No hyphenation: key and variable names must stay whole to be copied.
	b.WriteString(".nh\n")
	b.WriteString(`.SH NAME
mailseal.yaml \- configuration file for mailseal(8)
.SH SYNOPSIS
.B /etc/mailseal/mailseal.yaml
.SH DESCRIPTION
.B mailseal
reads one YAML file, named by
.B \-\-config
or
.BR MAILSEAL_CONFIG .
Without one it runs on the embedded defaults below.
.PP
Keys with a dot belong to a section: \fBca.validity\fR is written
.PP
.RS
.nf
ca:
  validity: 4380h
.fi
.RE
.PP
Every key can be overridden by an environment variable: \fBMAILSEAL_\fR and the
key in capitals, dots as underscores (\fBca.validity\fR is
\fBMAILSEAL_CA_VALIDITY\fR). Lists are then given as comma-separated text. A
variable that is set but empty means an empty value (\fBMAILSEAL_ADMIN_LISTEN=\fR
disables the admin listener); an unset one leaves the file's value.
.PP
Values: a \fIduration\fR is a number with unit (\fB720h\fR, \fB30m\fR, \fB10s\fR);
a \fIsize\fR is bytes or a number with unit (\fB4194304\fR, \fB4MiB\fR, \fB64MB\fR);
a \fIlist\fR is a YAML list (\fB[a, b]\fR); \fIa|b|c\fR means one of the words.
.PP
Unknown keys, an empty file and bad values are errors: \fBmailseal config check\fR
and \fBmailseal serve\fR print one line per problem, naming the key (and the
variable it came from), and exit with status 2. On SIGHUP a bad file is refused and
the running configuration stays.
.SH KEYS
`)
	for _, k := range Keys {
		fmt.Fprintf(&b, ".TP\n\\fB%s\\fR (\\fI%s\\fR)\n", roff(k.Name), roff(k.Type))
		fmt.Fprintf(&b, "%s\n.br\nDefault: %s.\n", roff(k.Doc), roff(defaultText(k, "")))
		fmt.Fprintf(&b, "Environment: \\fB%s\\fR.\n", roff(envName(k.Name)))
		if k.Name == "policy.rules" {
			b.WriteString("Each rule has a \\fBname\\fR, \\fBsenders\\fR and/or \\fBrecipients\\fR (patterns such as \\fB*@partner.example\\fR), an optional \\fBdirection\\fR (inbound|outbound) and actions such as \\fBencrypt\\fR, \\fBfallback\\fR, \\fBsign\\fR and \\fBrequire_tls\\fR; the policy documentation lists them all.\n")
		}
	}
	b.WriteString(`.SH EXAMPLE
.nf
internal_domains: [corp.example]
trusted_networks: [127.0.0.0/8, 10.1.0.0/16]
authserv_id: mx.corp.example
state_dir: /var/lib/mailseal
log:
  output: syslog
policy:
  rules:
    \- name: partner\-x
      recipients: ["*@partner.example"]
      encrypt: required
      fallback: reject
      require_tls: true
.fi
.PP
\fBmailseal config example\fR prints a complete file with every key at its default.
.SH FILES
.TP
.B /etc/mailseal/mailseal.yaml
The usual place of this file.
.SH SEE ALSO
.BR mailseal (8),
.BR postconf (5)
`)
	_, err := io.WriteString(w, b.String())
	return err
}

func roff(s string) string { return RoffEscape(s) }

// RoffEscape escapes text for a man page body: backslashes, hyphens (as
// minus signs, so options can be copied), characters outside ASCII (as
// \[uXXXX], which groff reads in any locale), and a line start that roff
// would read as a request.
func RoffEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r > 127:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	s = b.String()
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return strings.ReplaceAll(s, "\n.", "\n\\&.")
}
