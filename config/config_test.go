package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mailseal.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAreValid(t *testing.T) {
	cfg, err := load("", nil)
	if err != nil {
		t.Fatalf("embedded defaults rejected: %v", err)
	}
	if cfg.Listen != "inet:127.0.0.1:8891" || cfg.CA.Validity != 8760*time.Hour || cfg.Milter.SpoolMemory != 4<<20 {
		t.Fatalf("unexpected defaults: %+v", cfg)
	}
	if got := cfg.CRLURL(); got != "" {
		t.Fatalf("CRLURL = %q", got)
	}
}

func TestExampleRoundTrips(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteExample(&buf); err != nil {
		t.Fatal(err)
	}
	cfg, err := load(writeFile(t, buf.String()), nil)
	if err != nil {
		t.Fatalf("config example is not accepted by Load: %v\n%s", err, buf.String())
	}
	def, _ := load("", nil)
	if got, want := strings.Join(cfg.TrustedNetworks, ","), strings.Join(def.TrustedNetworks, ","); got != want {
		t.Fatalf("example trusted_networks %q, default %q", got, want)
	}
	for _, k := range Keys {
		if !strings.Contains(buf.String(), lastPart(k.Name)+":") {
			t.Errorf("example lacks key %s", k.Name)
		}
	}
}

// The example is for any host: it must not carry this one's name.
func TestExampleIsHostIndependent(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteExample(&buf); err != nil {
		t.Fatal(err)
	}
	if h, err := os.Hostname(); err == nil && h != "" && strings.Contains(buf.String(), `"`+h+`"`) {
		t.Fatalf("config example contains this host's name %q", h)
	}
	if home, err := os.UserHomeDir(); err == nil && strings.Contains(buf.String(), home) {
		t.Fatalf("config example contains this user's home %q", home)
	}
}

func lastPart(s string) string {
	if i := strings.LastIndex(s, "."); i >= 0 {
		return s[i+1:]
	}
	return s
}

func TestLoadValues(t *testing.T) {
	p := writeFile(t, `
listen: unix:/run/mailseal/milter.sock
internal_domains: [Corp.Example, sub.corp.example.]
trusted_networks: [10.0.0.0/8, 192.0.2.7]
ca:
  validity: 2160h
  renew_before: 240h
  key_type: ecdsa-p256
milter:
  spool_memory: 1MiB
  max_message_size: 10 MB
`)
	cfg, err := load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.InternalDomains[0] != "corp.example" || cfg.InternalDomains[1] != "sub.corp.example" {
		t.Errorf("domains not normalised: %v", cfg.InternalDomains)
	}
	if n, a, _ := SplitSocket(cfg.Listen); n != "unix" || a != "/run/mailseal/milter.sock" {
		t.Errorf("listen split = %s %s", n, a)
	}
	if len(cfg.TrustedPrefixes()) != 2 || cfg.TrustedPrefixes()[1].Bits() != 32 {
		t.Errorf("prefixes = %v", cfg.TrustedPrefixes())
	}
	if cfg.CA.Validity != 2160*time.Hour || cfg.CA.KeyType != "ecdsa-p256" {
		t.Errorf("ca = %+v", cfg.CA)
	}
	if cfg.Milter.SpoolMemory != 1<<20 || cfg.Milter.MaxMessageSize != 10_000_000 {
		t.Errorf("sizes = %d %d", cfg.Milter.SpoolMemory, cfg.Milter.MaxMessageSize)
	}
}

func TestPolicyRulesLoad(t *testing.T) {
	p := writeFile(t, `
policy:
  encrypt: opportunistic
  fallback: reject
  confidential:
    subject_tags: ["[geheim]"]
    sensitivity: false
  rules:
    - name: partner-x
      recipients: ["*@partner.example"]
      encrypt: required
      require_tls: true
    - name: bank
      direction: inbound
      senders: ["*@bank.example"]
      require_tls: true
`)
	cfg, err := load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Policy.Rules
	if len(r) != 2 || r[0].Name != "partner-x" || !r[0].RequireTLS || r[0].Encrypt != "required" || r[1].Direction != "inbound" {
		t.Fatalf("rules = %+v", r)
	}
	if cfg.Policy.Fallback != "reject" || cfg.Policy.Confidential.Sensitivity || cfg.Policy.Confidential.SubjectTags[0] != "[geheim]" {
		t.Fatalf("policy = %+v", cfg.Policy)
	}
}

func TestEnvOverrides(t *testing.T) {
	t.Setenv("MAILSEAL_INTERNAL_DOMAINS", "a.example,b.example")
	t.Setenv("MAILSEAL_CA_VALIDITY", "4380h")
	cfg, err := load("", os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.InternalDomains, ",") != "a.example,b.example" || cfg.CA.Validity != 4380*time.Hour {
		t.Fatalf("env not applied: %v %s", cfg.InternalDomains, cfg.CA.Validity)
	}
}

func TestProblemsNameTheKey(t *testing.T) {
	cases := []struct {
		name, yaml string
		env        []string
		want       []string
	}{
		{"typo at top level", "lisen: inet:127.0.0.1:1\n", nil, []string{`config: lisen: unknown key (did you mean "listen"?)`}},
		{"typo nested", "ca:\n  valdity: 1h\n", nil, []string{`config: ca.valdity: unknown key (did you mean "ca.validity"?)`}},
		{"section as value", "ca: builtin\n", nil, []string{"config: ca: must be a mapping"}},
		{"bad duration", "ca:\n  validity: forever\n", nil, []string{"config: ca.validity:", "forever"}},
		{"bad size", "milter:\n  spool_memory: lots\n", nil, []string{`config: milter.spool_memory: "lots" is not a size`}},
		{"bad socket", "listen: 127.0.0.1:8891\n", nil, []string{`config: listen: "127.0.0.1:8891" is not inet:HOST:PORT`}},
		{"bad domain", "internal_domains: [\"corp example\"]\n", nil, []string{`config: internal_domains: "corp example" is not a domain name`}},
		{"bad network", "trusted_networks: [10.0.0.0/33]\n", nil, []string{`config: trusted_networks: "10.0.0.0/33"`}},
		{"bad enum", "policy:\n  sign: sometimes\n", nil, []string{`config: policy.sign: "sometimes" is not one of always, confidential, never`}},
		{"rule field typo", "policy:\n  rules:\n    - name: x\n      recipents: [\"*@p.example\"]\n", nil, []string{`config: policy.rules[0].recipents: unknown key (did you mean "recipients"?)`}},
		{"rule bad value", "policy:\n  rules:\n    - name: x\n      recipients: [\"*@p.example\"]\n      encrypt: sometimes\n", nil, []string{`config: policy.rules[0].encrypt: (rule "x") "sometimes"`}},
		{"rule not a mapping", "policy:\n  rules: [x]\n", nil, []string{`config: policy.rules[0]`}},
		{"bad reinject", "reinject: 10026\n", nil, []string{`config: reinject: expected`}},
		{"renew after validity", "ca:\n  validity: 24h\n  renew_before: 48h\n", nil, []string{"config: ca.renew_before: must be positive and shorter"}},
		{"postgres not yet", "store:\n  driver: postgres\n", nil, []string{"config: store.driver: postgres is not supported"}},
		{"bad master key", "master_key: abc\n", nil, []string{"config: master_key: must be 32 bytes"}},
		{"bad OCSP URL", "ca:\n  ocsp_url: ldap://x.example/\n", nil, []string{`config: ca.ocsp_url: "ldap://x.example/" is not an http(s) URL`}},
		{"revocation timeout zero", "trust:\n  revocation_timeout: 0s\n", nil, []string{"config: trust.revocation_timeout: must be between 100ms and 5m, got 0s"}},
		{"revocation timeout long", "trust:\n  revocation_timeout: 1h\n", nil, []string{"config: trust.revocation_timeout: must be between 100ms and 5m, got 1h0m0s"}},
		{"revocation cache zero", "trust:\n  revocation_cache_max: 0\n", nil, []string{"config: trust.revocation_cache_max: must be a positive number, got 0"}},
		{"unknown env", "", []string{"MAILSEAL_LISTN=x"}, []string{"config: MAILSEAL_LISTN: unknown environment variable", "did you mean MAILSEAL_LISTEN?"}},
		{"list where a duration goes", "ca:\n  validity: [1]\n", nil, []string{"config: ca.validity: expected a duration, got a list"}},
		{"mapping where a list goes", "trusted_networks: {a: 1}\n", nil, []string{"config: trusted_networks: expected a list of CIDRs, got a mapping"}},
		{"list entry of the wrong kind", "trusted_networks: [10.0.0.0/8, [1]]\n", nil, []string{"config: trusted_networks: expected a list of CIDRs, but entry 2 is a list"}},
		{"rule field of the wrong kind", "policy:\n  rules:\n    - name: x\n      recipients: 5\n      require_tls: maybe\n", nil, []string{`config: policy.rules: entry 1, recipients: expected a list, got the number 5; entry 1, require_tls: expected true or false, got the text "maybe"`}},
		{"text where a bool goes", "policy:\n  confidential:\n    sensitivity: maybe\n", nil, []string{`expected true or false, got the text "maybe"`}},
		{"list where an enum goes", "log:\n  level: [x]\n", nil, []string{"config: log.level: expected one of debug, info, warn, error, got a list"}},
		{"broken yaml", "listen: [\n", nil, []string{"config: cannot read"}},
		{"empty file", " \n\t\n", nil, []string{"is empty"}},
		{"only comments", "# listen: x\n---\n", nil, []string{"is empty"}},
		{"two problems", "lisen: x\nlog:\n  level: loud\n", nil, []string{"config: lisen: unknown key"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := ""
			if tc.yaml != "" || strings.HasPrefix(tc.name, "empty") {
				file = writeFile(t, tc.yaml)
			}
			_, err := load(file, tc.env)
			if err == nil {
				t.Fatal("accepted a bad config")
			}
			if !IsInvalid(err) {
				t.Fatalf("error %v is not a config problem", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err.Error(), w)
				}
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "config: ") {
					t.Errorf("line %q does not start with config:", line)
				}
			}
		})
	}
}

// The env cases read os.Getenv through viper, so they set real variables.
func TestEnvProblemsNameTheVariable(t *testing.T) {
	t.Setenv("MAILSEAL_CA_VALIDITY", "forever")
	_, err := load("", os.Environ())
	if err == nil {
		t.Fatal("accepted MAILSEAL_CA_VALIDITY=forever")
	}
	want := `config: ca.validity (from MAILSEAL_CA_VALIDITY): "forever" is not a duration`
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q lacks %q", err, want)
	}
	// One bad value, one line: no "must be at least 1h" or renew_before
	// complaint that only follows from it.
	if n := strings.Count(err.Error(), "\n"); n != 0 {
		t.Fatalf("follow-on errors after the first:\n%s", err)
	}
}

func TestEmptyEnvMeansEmpty(t *testing.T) {
	t.Setenv("MAILSEAL_ADMIN_LISTEN", "")
	t.Setenv("MAILSEAL_SOCKETMAP_LISTEN", "")
	cfg, err := load("", os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AdminListen != "" || cfg.SocketmapListen != "" {
		t.Fatalf("empty variables ignored: admin_listen=%q socketmap_listen=%q", cfg.AdminListen, cfg.SocketmapListen)
	}
}

func TestReferenceListsEveryKey(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteReference(&buf); err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys {
		if !strings.Contains(buf.String(), "`"+k.Name+"`") {
			t.Errorf("reference lacks %s", k.Name)
		}
	}
}

// docs/configuration.md must list the keys exactly as the code defines them.
func TestDocsMatchKeyTable(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteReference(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, buf.Bytes()) {
		t.Fatal("docs/configuration.md is out of date: regenerate its key table with `mailseal config reference`")
	}
}
