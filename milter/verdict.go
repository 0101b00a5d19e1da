package milter

import (
	"fmt"
	"mime"
	"strings"
	"time"

	"github.com/mailseal/mailseal/report"
	"github.com/mailseal/mailseal/trust"
)

// SignatureHeader is the detailed verdict mailseal writes on inbound mail
// (signer, issuer, validity, revocation, reason). Like every X-Mailseal-*
// header, copies arriving from outside are removed first.
const SignatureHeader = "X-Mailseal-Signature"

// maxValue bounds a value taken from the message (a name, an issuer) in
// our headers: they are for people and filters, not for archiving.
const maxValue = 200

// authResults is the Authentication-Results value (RFC 8601, method smime
// of RFC 7281) for a verdict: exactly one smime result, the verdict on the
// whole message, so a filter that looks for "smime=pass" can never be
// fooled by one good signature among bad ones. Its properties name the
// signer that decided it. A PGP/MIME signature has no registered method:
// it is said in SignatureHeader, and here smime=none with a comment.
func authResults(authservID string, v *trust.Verdict, pgp *report.PGP) string {
	var b strings.Builder
	b.WriteString(authservID + ";\n\tsmime=" + string(v.Result))
	if pgp != nil {
		b.WriteString(" (OpenPGP signature, pgp=" + pgp.Result + ": see " + SignatureHeader + ")")
		return b.String()
	}
	if v.Result != trust.Pass && v.Reason != "" {
		b.WriteString(" reason=" + quoteASCII(v.Reason))
	}
	if s := decidingSigner(v); s != nil && s.Cert != nil {
		id := s.Email
		if id == "" && len(s.Cert.EmailAddresses) > 0 {
			id = s.Cert.EmailAddresses[0]
		}
		if id != "" && isTokenOrAddr(id) {
			b.WriteString("\n\tbody.smime-identifier=" + id)
		}
		// RFC 3501 part number of the signed content: the top-level
		// entity, "1" for a message that is not multipart and for the
		// first part of multipart/signed alike.
		if !v.Partial {
			b.WriteString(" body.smime-part=1")
		}
		b.WriteString("\n\tbody.smime-serial=" + strings.ToUpper(s.Cert.SerialNumber.Text(16)))
		b.WriteString("\n\tbody.smime-issuer=" + quoteASCII(s.Cert.Issuer.String()))
	}
	return b.String()
}

// decidingSigner is the signer whose result the verdict reports: the first
// that passed for a pass, else the first that has the verdict's code, else
// the first.
func decidingSigner(v *trust.Verdict) *trust.Signer {
	if len(v.Signers) == 0 {
		return nil
	}
	for i := range v.Signers {
		if s := &v.Signers[i]; v.Result == trust.Pass && s.Result == trust.Pass {
			return s
		}
	}
	for i := range v.Signers {
		if s := &v.Signers[i]; s.Code != "" && s.Code == v.Code {
			return s
		}
	}
	return &v.Signers[0]
}

// signatureHeader is the SignatureHeader value: "smime=RESULT; …" or
// "pgp=RESULT; …", folded, 7-bit (RFC 2047 encoded words for text that is
// not ASCII).
func signatureHeader(v *trust.Verdict, pgp *report.PGP, mode trust.Mode, checked time.Time) string {
	var items []string
	add := func(k, v string) {
		if v != "" {
			items = append(items, k+"="+headerValue(v))
		}
	}
	if pgp != nil {
		items = append(items, "pgp="+pgp.Result)
		add("code", pgp.Code)
		add("reason", pgp.Reason)
		add("key", pgp.Fingerprint)
		add("signer", pgp.Signer)
		if !pgp.Created.IsZero() {
			add("signed-at", pgp.Created.UTC().Format(time.RFC3339))
		}
		add("checked-at", checked.UTC().Format(time.RFC3339))
		return fold(items)
	}
	items = append(items, "smime="+string(v.Result))
	if v.Partial {
		items = append(items, "partial")
	}
	add("kind", v.Kind)
	if v.Result != trust.Pass {
		add("code", v.Code)
		add("reason", v.Reason)
	}
	add("from", v.From)
	if s := decidingSigner(v); s != nil && s.Cert != nil {
		c := s.Cert
		add("signer", strings.Join(c.EmailAddresses, ","))
		add("name", c.Subject.CommonName)
		add("serial", strings.ToUpper(c.SerialNumber.Text(16)))
		add("issuer", c.Issuer.String())
		if n := len(s.Chain); n > 0 {
			add("anchor", s.Chain[n-1].Subject.String())
		}
		add("valid-from", c.NotBefore.UTC().Format(time.RFC3339))
		add("valid-until", c.NotAfter.UTC().Format(time.RFC3339))
		add("algorithm", strings.Trim(s.Algorithm+"/"+s.Digest, "/"))
		add("revocation", revocationSummary(s, mode))
		if len(v.Signers) > 1 {
			add("signers", fmt.Sprint(len(v.Signers)))
		}
	}
	add("checked-at", checked.UTC().Format(time.RFC3339))
	return fold(items)
}

// revocationSummary is e.g. "good ocsp http://… 2026-11-30T09:14:00Z",
// "revoked crl http://…", "unknown (reason)" or "off".
func revocationSummary(s *trust.Signer, mode trust.Mode) string {
	st := s.Revocation
	if st.Source == "" && st.Problem == "" {
		if mode == trust.RevocationOff {
			return "off"
		}
		return "not-checked"
	}
	parts := []string{st.State.String()}
	if st.Source != "" {
		parts = append(parts, st.Source)
	}
	if st.URL != "" {
		parts = append(parts, st.URL)
	}
	if !st.CheckedAt.IsZero() {
		parts = append(parts, st.CheckedAt.UTC().Format(time.RFC3339))
	}
	if st.Problem != "" {
		parts = append(parts, "("+st.Problem+")")
	}
	return strings.Join(parts, " ")
}

// headerValue writes one value: a token as it is, other ASCII text as a
// quoted string, text with other characters as RFC 2047 encoded words
// (which mail readers decode in an unstructured X- field).
func headerValue(v string) string {
	v = clip(v)
	ascii := true
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 || v[i] < 0x20 || v[i] == 0x7f {
			ascii = false
			break
		}
	}
	if !ascii {
		return mime.QEncoding.Encode("utf-8", v)
	}
	if v != "" && !strings.ContainsAny(v, " \t;\"\\()<>,=") {
		return v
	}
	return quoteASCII(v)
}

// quoteASCII is an RFC 5322 quoted string of v with every character that
// is not printable ASCII replaced by "?": for fields that must be ASCII.
func quoteASCII(v string) string {
	v = clip(v)
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r >= 0x7f:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// isTokenOrAddr reports whether v can stand unquoted as an A-R property
// value (an address or a token of printable ASCII).
func isTokenOrAddr(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte("()<>,;:\\\"[]", c) >= 0 {
			return false
		}
	}
	return true
}

func clip(v string) string {
	if len(v) <= maxValue {
		return v
	}
	// Cut at a rune start so UTF-8 stays valid.
	i := maxValue
	for i > 0 && v[i]&0xC0 == 0x80 {
		i--
	}
	return v[:i] + "..."
}

// fold joins items with "; " and folds only at white space, so no token
// is ever cut: between items with newline and tab (as Postfix shows folded
// fields), inside an item longer than what is left of the line with a
// newline before the space it had, so unfolding gives back every value
// exactly. Lines stay under 78 characters where the words allow.
func fold(items []string) string {
	var b strings.Builder
	n := 0
	for i, it := range items {
		if i > 0 {
			b.WriteByte(';')
			n++
			if n+1+len(it) > 76 {
				b.WriteString("\n\t")
				n = 8
			} else {
				b.WriteByte(' ')
				n++
			}
		}
		for j, w := range strings.Split(it, " ") {
			if j > 0 {
				if n+1+len(w) > 76 {
					b.WriteString("\n")
					n = 0
				}
				b.WriteByte(' ')
				n++
			}
			b.WriteString(w)
			n += len(w)
		}
	}
	return b.String()
}
