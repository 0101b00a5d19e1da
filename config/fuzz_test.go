package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary files to the loader: any input gives a config
// or problems, never a panic (the problem rewriting parses decoder
// messages and walks the raw YAML).
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"", " \n", "# only\n---\n", "listen: [\n", "internal_domains: corp\n",
		"ca:\n  validity: [1]\n", "trusted_networks: {a: 1}\n",
		"policy:\n  rules:\n    - name: x\n      recipients: 5\n      encrypt: [1]\n",
		"policy:\n  rules: [x, {name: y, recipents: [a]}]\n",
	} {
		f.Add(seed)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := load(p, nil)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("load gave config %v and error %v", cfg != nil, err)
		}
	})
}
