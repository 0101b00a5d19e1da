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
	b.WriteString("# mailseal configuration. Every key is shown at its default.\n")
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
		fmt.Fprintf(&b, "%s%s: %s\n", indent, leaf, yamlValue(k.Default))
		if k.Name == "policy.rules" {
			b.WriteString(ruleExample)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
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

// WriteReference writes the key table of docs/configuration.md.
func WriteReference(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| key | type | default | meaning |\n|---|---|---|---|\n")
	for _, k := range Keys {
		def := yamlValue(k.Default)
		if k.Name == "state_dir" {
			def = "`/var/lib/mailseal` as root, else `~/.local/state/mailseal`"
		} else if k.Name == "authserv_id" {
			def = "the host name"
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", k.Name, k.Type, def, strings.ReplaceAll(k.Doc, "|", "\\|"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
