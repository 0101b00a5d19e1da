package pdfmail

import (
	"fmt"
	"path"
	"strings"
	"unicode"
)

// originalName is the embedded original message's file name.
const originalName = "message.eml"

// uniqueNames gives every attachment a safe file name (no directory, no control
// characters) that differs from all others and from message.eml: PDF readers and
// pdfdetach save attachments by these names.
func uniqueNames(aa []attachment) []attachment {
	seen := map[string]bool{strings.ToLower(originalName): true}
	for i := range aa {
		name := safeName(aa[i].Name)
		base, ext := name, path.Ext(name)
		if len(ext) < len(name) {
			base = strings.TrimSuffix(name, ext)
		} else {
			ext = ""
		}
		for n := 2; seen[strings.ToLower(name)]; n++ {
			name = fmt.Sprintf("%s (%d)%s", base, n, ext)
		}
		seen[strings.ToLower(name)] = true
		aa[i].Name = name
	}
	return aa
}

func safeName(name string) string {
	name = strings.Map(func(r rune) rune {
		switch {
		case r == '/' || r == '\\' || r == ':':
			return '_'
		case unicode.IsControl(r) || r == '\uFFFD':
			return '_'
		}
		return r
	}, name)
	name = strings.Trim(name, ". ")
	if len([]rune(name)) > 120 {
		r := []rune(name)
		ext := path.Ext(name)
		if len([]rune(ext)) > 10 {
			ext = ""
		}
		name = string(r[:120-len([]rune(ext))]) + ext
	}
	if name == "" {
		name = "attachment"
	}
	return name
}
