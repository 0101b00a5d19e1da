package milter

import (
	"io"
	"mime"
	"net/mail"
	"strings"

	"github.com/mailseal/mailseal/policy"
)

// isOwnHeader matches headers only mailseal may write: X-Mailseal-* and
// Authentication-Results carrying our authserv-id.
func isOwnHeader(h Header, authservID string) bool {
	name := strings.ToLower(h.Name)
	if name == "x-mailseal" || strings.HasPrefix(name, "x-mailseal-") {
		return true
	}
	if name != "authentication-results" {
		return false
	}
	// A trailing dot names the same host (a fully qualified "mx.corp.example."),
	// so a forger must not slip our id past us with one.
	id := strings.TrimSuffix(authservIDOf(h.Value), ".")
	return id != "" && strings.EqualFold(id, strings.TrimSuffix(authservID, "."))
}

// authservIDOf returns the authserv-id of an Authentication-Results value
// (RFC 8601): a token or quoted string after optional comments and folding
// whitespace. A forger must not hide our id behind "(comment)" or quotes.
func authservIDOf(v string) string {
	i := 0
	for i < len(v) {
		switch c := v[i]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(':
			depth := 0
			for ; i < len(v); i++ {
				if v[i] == '\\' {
					i++
					continue
				}
				if v[i] == '(' {
					depth++
				} else if v[i] == ')' {
					if depth--; depth == 0 {
						i++
						break
					}
				}
			}
		case c == '"':
			var b strings.Builder
			for i++; i < len(v) && v[i] != '"'; i++ {
				if v[i] == '\\' && i+1 < len(v) {
					i++
				}
				b.WriteByte(v[i])
			}
			return b.String()
		default:
			j := i
			for j < len(v) && !strings.ContainsRune("; \t\r\n(", rune(v[j])) {
				j++
			}
			return v[i:j]
		}
	}
	return ""
}

func isContentHeader(name string) bool {
	n := strings.ToLower(name)
	return strings.HasPrefix(n, "content-") || n == "mime-version"
}

func values(hs []Header, name string) []string {
	var out []string
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			out = append(out, h.Value)
		}
	}
	return out
}

func firstValue(hs []Header, name string) string {
	if v := values(hs, name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// foldParams folds a long structured header value before its parameters so
// no header line exceeds 78 characters needlessly.
func foldParams(v string) string {
	if len(v) <= 60 {
		return v
	}
	return strings.Join(strings.Split(v, "; "), ";\n\t")
}

var lenientAddresses = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
}}

// visibleRecipients returns the lower-cased addresses named in To: and Cc:.
// Envelope recipients missing here are Bcc recipients.
func visibleRecipients(hs []Header) map[string]bool {
	seen := map[string]bool{}
	for _, h := range hs {
		if !strings.EqualFold(h.Name, "To") && !strings.EqualFold(h.Name, "Cc") {
			continue
		}
		list, err := lenientAddresses.ParseList(strings.ReplaceAll(h.Value, "\n", " "))
		if err != nil {
			continue // unreadable: its recipients count as Bcc, the private choice
		}
		for _, a := range list {
			seen[policy.LowerASCII(a.Address)] = true
		}
	}
	return seen
}

func lenientMediaType(v string) (string, map[string]string) {
	parts := strings.Split(v, ";")
	params := map[string]string{}
	for _, p := range parts[1:] {
		if k, val, ok := strings.Cut(p, "="); ok {
			k = strings.ToLower(strings.TrimSpace(k))
			if _, dup := params[k]; !dup {
				params[k] = strings.Trim(strings.TrimSpace(val), `"`)
			}
		}
	}
	return strings.ToLower(strings.TrimSpace(parts[0])), params
}

// isEncrypted reports whether a Content-Type is already encrypted content
// (S/MIME enveloped data or PGP/MIME), which satisfies any encryption policy.
func isEncrypted(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		// A sloppy header (duplicate parameter, stray bytes) must not hide
		// encryption that IsSignedOrEncrypted sees: judge the parts leniently.
		mt, params = lenientMediaType(contentType)
	}
	switch mt {
	case "multipart/encrypted":
		return true
	case "application/pkcs7-mime", "application/x-pkcs7-mime":
		t := strings.ToLower(params["smime-type"])
		return t == "enveloped-data" || t == "authenveloped-data"
	}
	return false
}
