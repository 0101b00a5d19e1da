package config

import (
	"fmt"
	"io"
	"strings"
)

// WriteExample writes a complete, commented YAML file with every key at its
// default, grouped by section, that Load accepts unchanged.
func WriteExample(w io.Writer) error {
	var b strings.Builder
	b.WriteString("# mailseal configuration. Every key is shown at its default; the two whose\n")
	b.WriteString("# default depends on the host (state_dir, authserv_id) are commented out.\n")
	b.WriteString("# Each key can also be set as MAILSEAL_<KEY> (dots become underscores),\n")
	b.WriteString("# e.g. MAILSEAL_CA_VALIDITY=4380h, MAILSEAL_INTERNAL_DOMAINS=corp.example,corp.test\n")
	section := ""
	for _, k := range Keys {
		parent, leaf, nested := strings.Cut(k.Name, ".")
		indent := ""
		if nested {
			indent = "  "
			if parent != section {
				fmt.Fprintf(&b, "\n%s:\n", parent)
				section = parent
			}
		} else {
			leaf = parent
			section = ""
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s# %s (%s)\n", indent, k.Doc, k.Type)
		if d, ok := hostDependent[k.Name]; ok {
			// Commented out: this host's value would be wrong on the next.
			fmt.Fprintf(&b, "%s# Default: %s.\n%s#%s: %s\n", indent, d, indent, leaf, exampleValue[k.Name])
			continue
		}
		fmt.Fprintf(&b, "%s%s: %s\n", indent, leaf, yamlValue(k.Default))
		if k.Name == "policy.rules" {
			b.WriteString(ruleExample)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

var exampleValue = map[string]string{
	"state_dir":   `"/var/lib/mailseal"`,
	"authserv_id": `"mx.corp.example"`,
}

const ruleExample = `  # Example rules (first match wins per recipient):
  #   - name: partner-x
  #     recipients: ["*@partner.example"]
  #     encrypt: required
  #     fallback: reject
  #     require_tls: true
  #   - name: bank
  #     direction: inbound
  #     senders: ["*@bank.example"]
  #     require_tls: true
`

func yamlValue(v any) string {
	switch x := v.(type) {
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case string:
		return fmt.Sprintf("%q", x)
	case []map[string]any:
		return "[]"
	}
	return fmt.Sprint(v)
}

// hostDependent are the keys whose default depends on the machine (user,
// environment, host name); documents show a description, not this host's value.
var hostDependent = map[string]string{
	"state_dir":   "/var/lib/mailseal as root, else $XDG_STATE_HOME/mailseal, else ~/.local/state/mailseal",
	"authserv_id": "the host name",
}

// defaultText is how documents show a key's default; quote marks values.
func defaultText(k Key, quote string) string {
	if d, ok := hostDependent[k.Name]; ok {
		if quote == "" {
			return d
		}
		d = strings.ReplaceAll(d, "/var/lib/mailseal", quote+"/var/lib/mailseal"+quote)
		d = strings.ReplaceAll(d, "$XDG_STATE_HOME/mailseal", quote+"$XDG_STATE_HOME/mailseal"+quote)
		return strings.ReplaceAll(d, "~/.local/state/mailseal", quote+"~/.local/state/mailseal"+quote)
	}
	return quote + yamlValue(k.Default) + quote
}

// WriteReference writes the key table of docs/configuration.md.
func WriteReference(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| key | type | default | meaning |\n|---|---|---|---|\n")
	for _, k := range Keys {
		def := defaultText(k, "`")
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", k.Name, k.Type, def, strings.ReplaceAll(k.Doc, "|", "\\|"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
