package milter

import (
	"strings"
	"testing"
)

// FuzzVerdictHeaders feeds text an outsider controls (certificate names,
// reasons, subjects) to the verdict header writers: they must never panic
// and must write 7-bit header text that cannot start a new header field.
func FuzzVerdictHeaders(f *testing.F) {
	for _, s := range []string{"", "Alice Partner", "CN=Partner CA,O=Partner AG", "Jürgen Müller", "a;b\"c\\d", "x\r\nBcc: eve@example",
		"=?utf-8?q?=5Bsigned=5D?= Invoice", "[signed] [SIGNED] hi", strings.Repeat("w", 300), "\xff\xfe bad utf-8", "(comment) <a@b>"} {
		f.Add(s, "[signed]")
	}
	f.Fuzz(func(t *testing.T, s, tag string) {
		check := func(what, v string) {
			for i := 0; i < len(v); i++ {
				c := v[i]
				if c >= 0x80 || (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
					t.Fatalf("%s: byte %#x in %q", what, c, v)
				}
				if c == '\n' && (i+1 >= len(v) || (v[i+1] != '\t' && v[i+1] != ' ')) {
					t.Fatalf("%s: line break not followed by white space in %q", what, v)
				}
			}
		}
		check("headerValue", headerValue(s))
		check("quoteASCII", quoteASCII(s))
		items := []string{"smime=fail", "reason=" + headerValue(s), "name=" + headerValue(s)}
		folded := fold(items)
		check("fold", folded)
		if got := strings.NewReplacer("\n\t", " ", "\n", "").Replace(folded); got != strings.Join(items, "; ") {
			t.Fatalf("fold changed the text: %q, want %q", got, strings.Join(items, "; "))
		}
		if t := smtpText(s); strings.ContainsAny(t, "\r\n") {
			panic("smtpText kept a line break")
		}
		tags := SubjectTags{Pass: tag, Fail: "[signature INVALID]"}
		if c := tagSubject([]Header{{"Subject", s}}, tag, tags); c != nil && !cleanFolding(c.Value) {
			t.Fatalf("tagSubject wrote a line break: %q", c.Value)
		}
	})
}
