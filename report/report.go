// Package report renders the signature verification report
// ("Signaturprüfbericht") that mailseal attaches to signed inbound mail: a
// short plain text, in German or English, that tells the recipient who
// signed, who vouches for the signer, until when the certificate is valid,
// how revocation was checked, and in plain words what a failure means. It
// only writes text; the milter decides when to attach it.
package report

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/mailseal/mailseal/revocation"
	"github.com/mailseal/mailseal/trust"
)

// Languages of the report.
const (
	German  = "de"
	English = "en"
)

// PGP is the outcome of an OpenPGP (PGP/MIME) signature check, in the
// terms the report needs.
type PGP struct {
	// Result is "pass", "fail", "neutral" (no key known for the sender) or
	// "permerror" (unreadable).
	Result string
	// Code is a machine reason when Result is not pass: "pgp-bad-signature",
	// "pgp-unknown-key", "pgp-malformed".
	Code        string
	Reason      string // one English sentence (logs, headers)
	Fingerprint string // primary key fingerprint, upper-case hex
	Signer      string // user ID of the signing key
	Created     time.Time
	Expires     time.Time // zero: the key does not expire
}

// Input is everything the report says.
type Input struct {
	Lang      string    // German or English (anything else: English)
	Gateway   string    // authserv_id: who checked
	CheckedAt time.Time // when the check ran
	From      string    // the From: address checked
	// Revocation is the trust.revocation mode in force, so the report can
	// say why revocation was not checked.
	Revocation trust.Mode
	SMIME      *trust.Verdict // nil when only PGP is reported
	PGP        *PGP           // nil when the message is not PGP/MIME signed
}

// FileName is the attachment's file name in lang, ASCII only (every client
// shows it the same way).
func FileName(lang string) string {
	if lang == German {
		return "Signaturpruefbericht.txt"
	}
	return "signature-report.txt"
}

// Render writes the report as UTF-8 text with LF line ends.
func Render(in Input) string {
	t := textsFor(in.Lang)
	var b strings.Builder
	line := func(label, value string) { fmt.Fprintf(&b, "%-*s %s\n", t.width, label+":", clean(value)) }

	b.WriteString(t.title + "\n" + strings.Repeat("=", len([]rune(t.title))) + "\n\n")
	line(t.checkedBy, fmt.Sprintf("%s (mailseal), %s", in.Gateway, stamp(in.CheckedAt)))
	if in.From != "" {
		line(t.sender, in.From)
	}
	switch {
	case in.PGP != nil:
		line(t.result, t.heading(in.PGP.Result)+" (OpenPGP)")
		b.WriteString("\n" + t.meaning + ":\n" + indent(t.means(pgpCode(in.PGP))) + "\n")
		if in.PGP.Result != "pass" && in.PGP.Reason != "" {
			b.WriteString(t.detail + ":\n" + indent(in.PGP.Reason) + "\n")
		}
		writePGP(&b, t, in.PGP)
	case in.SMIME != nil:
		v := in.SMIME
		line(t.result, t.heading(string(v.Result))+" (S/MIME, smime="+string(v.Result)+")")
		code := v.Code
		if v.Result == trust.Pass {
			code = "pass"
		}
		b.WriteString("\n" + t.meaning + ":\n" + indent(t.means(code)) + "\n")
		if v.Result != trust.Pass && v.Reason != "" {
			b.WriteString(t.detail + ":\n" + indent(v.Reason) + "\n")
		}
		for i, s := range v.Signers {
			b.WriteString("\n")
			fmt.Fprintf(&b, "%s %d\n", t.signer, i+1)
			writeSigner(&b, t, s, in.Revocation)
		}
	default:
		line(t.result, t.heading("none"))
		b.WriteString("\n" + t.meaning + ":\n" + indent(t.means("unsigned")) + "\n")
	}
	b.WriteString("\n" + t.footer + "\n")
	return b.String()
}

func writeSigner(b *strings.Builder, t *texts, s trust.Signer, mode trust.Mode) {
	line := func(label, value string) { fmt.Fprintf(b, "  %-*s %s\n", t.width-2, label+":", clean(value)) }
	if s.Cert == nil {
		line(t.certificate, t.noCert)
		return
	}
	c := s.Cert
	if c.Subject.CommonName != "" {
		line(t.name, c.Subject.CommonName)
	}
	if mails := certMails(c); mails != "" {
		line(t.email, mails)
	}
	line(t.certificate, fmt.Sprintf(t.certFmt, strings.ToUpper(c.SerialNumber.Text(16)), stamp(c.NotBefore), stamp(c.NotAfter)))
	line(t.issuedBy, c.Issuer.String())
	if n := len(s.Chain); n > 0 {
		line(t.anchor, s.Chain[n-1].Subject.String())
	} else {
		line(t.anchor, t.noChain)
	}
	sum := sha256.Sum256(c.Raw)
	line("SHA-256", hex.EncodeToString(sum[:]))
	if s.Algorithm != "" || s.Digest != "" {
		line(t.algorithm, strings.Trim(s.Algorithm+", "+s.Digest, ", "))
	}
	if !s.SigningTime.IsZero() {
		line(t.signingTime, stamp(s.SigningTime)+" "+t.claimed)
	}
	line(t.revocation, revocationText(t, s.Revocation, mode))
	if s.Result != trust.Pass && s.Result != "" && s.Reason != "" {
		line(t.verdict, string(s.Result)+": "+s.Reason)
	}
}

func writePGP(b *strings.Builder, t *texts, p *PGP) {
	line := func(label, value string) { fmt.Fprintf(b, "  %-*s %s\n", t.width-2, label+":", clean(value)) }
	if p.Fingerprint == "" && p.Signer == "" {
		return
	}
	b.WriteString("\n" + t.signer + "\n")
	if p.Signer != "" {
		line(t.name, p.Signer)
	}
	if p.Fingerprint != "" {
		line(t.fingerprint, p.Fingerprint)
	}
	if !p.Created.IsZero() {
		line(t.signingTime, stamp(p.Created)+" "+t.claimed)
	}
	if !p.Expires.IsZero() {
		line(t.keyValid, stamp(p.Expires))
	}
	line(t.anchor, t.pgpAnchor)
	line(t.revocation, t.pgpRevocation)
}

// revocationText says how revocation was checked, or why not.
func revocationText(t *texts, st revocation.Status, mode trust.Mode) string {
	via := st.Source
	if via != "" {
		via = strings.ToUpper(via)
		if st.URL != "" {
			via += " " + st.URL
		}
	}
	at := ""
	if !st.CheckedAt.IsZero() {
		at = fmt.Sprintf(t.answerOf, stamp(st.CheckedAt))
	}
	switch {
	case st.State == revocation.Good:
		return fmt.Sprintf(t.revGood, via) + at
	case st.State == revocation.Revoked:
		s := fmt.Sprintf(t.revRevoked, via)
		if !st.RevokedAt.IsZero() {
			s += fmt.Sprintf(t.revokedAt, stamp(st.RevokedAt))
		}
		return s + at
	case mode == trust.RevocationOff:
		return t.revOff
	case st.Problem != "":
		return fmt.Sprintf(t.revUnknown, st.Problem)
	}
	return t.revNotChecked
}

func certMails(c *x509.Certificate) string {
	return strings.Join(c.EmailAddresses, ", ")
}

func pgpCode(p *PGP) string {
	if p.Result == "pass" {
		return "pgp-pass"
	}
	if p.Code != "" {
		return p.Code
	}
	return "pgp-bad-signature"
}

// stamp writes a time in UTC, to the minute: the report is read by people.
func stamp(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func indent(s string) string {
	return "  " + wrap(clean(s), 72, "\n  ")
}

// clean makes a value from the message (a certificate's name, a reason)
// one line of printable text, so it cannot forge lines of the report.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

// wrap breaks s at spaces so lines stay under width runes.
func wrap(s string, width int, sep string) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Fields(s) {
		l := len([]rune(w))
		if i > 0 {
			if n+1+l > width {
				b.WriteString(sep)
				n = 0
			} else {
				b.WriteByte(' ')
				n++
			}
		}
		b.WriteString(w)
		n += l
	}
	return b.String()
}
