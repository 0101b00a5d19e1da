package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// Certificates must not point partners at the loopback admin listener.
func TestCRLURLOnlyWhenConfigured(t *testing.T) {
	cfg, err := load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CRLURL() != "" || len(cfg.CAWarnings()) != 1 || !strings.Contains(cfg.CAWarnings()[0], "ca.crl_url is empty") {
		t.Errorf("defaults: CRLURL %q, warnings %q", cfg.CRLURL(), cfg.CAWarnings())
	}
	cfg, err = load(writeFile(t, "ca:\n  crl_url: https://pki.corp.example/mail.crl\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CRLURL() != "https://pki.corp.example/mail.crl" || len(cfg.CAWarnings()) != 0 {
		t.Errorf("configured: CRLURL %q, warnings %q", cfg.CRLURL(), cfg.CAWarnings())
	}
}

// ca.ocsp_url goes into certificates only when set; URLs no partner can
// reach are warned about, the trust.revocation_* defaults hold.
func TestOCSPURLAndRevocationKeys(t *testing.T) {
	cfg, err := load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OCSPURL() != "" || cfg.Trust.RevocationTimeout.String() != "10s" || cfg.Trust.RevocationCacheMax != 10000 {
		t.Errorf("defaults: OCSPURL %q, trust %+v", cfg.OCSPURL(), cfg.Trust)
	}
	cfg, err = load(writeFile(t, "ca:\n  crl_url: https://pki.corp.example/mail.crl\n  ocsp_url: http://ocsp.corp.example/ocsp\ntrust:\n  revocation_timeout: 3s\n  revocation_cache_max: 50\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OCSPURL() != "http://ocsp.corp.example/ocsp" || len(cfg.CAWarnings()) != 0 || cfg.Trust.RevocationTimeout.String() != "3s" || cfg.Trust.RevocationCacheMax != 50 {
		t.Errorf("configured: OCSPURL %q, warnings %q, trust %+v", cfg.OCSPURL(), cfg.CAWarnings(), cfg.Trust)
	}
	for _, u := range []string{"http://127.0.0.1:8892/ocsp", "http://localhost/ocsp", "http://[::1]/ocsp", "http://10.1.2.3/ocsp", "http://mailgw/ocsp"} {
		cfg, err = load(writeFile(t, "ca:\n  crl_url: https://pki.corp.example/mail.crl\n  ocsp_url: "+u+"\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if ws := cfg.CAWarnings(); len(ws) != 1 || !strings.Contains(ws[0], "ca.ocsp_url \""+u+"\" names a host partners cannot reach") {
			t.Errorf("%s: warnings %q", u, ws)
		}
	}
}

func TestParseSubject(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // pkix.Name.String(), "" for an error
		err  string
	}{
		{"CN=mailseal built-in CA", "CN=mailseal built-in CA", ""},
		{"CN=Corp Mail CA,O=Corp,C=DE", "CN=Corp Mail CA,O=Corp,C=DE", ""},
		{" cn = Corp Mail CA , o=Corp GmbH, ou=IT, OU=PKI, L=Berlin, ST=Berlin, C=DE", "CN=Corp Mail CA,OU=IT+OU=PKI,O=Corp GmbH,L=Berlin,ST=Berlin,C=DE", ""},
		{`CN=Mail CA\, Berlin,O=A\+B`, `CN=Mail CA\, Berlin,O=A\+B`, ""},
		{"CN=Zürich Mail CA", "CN=Zürich Mail CA", ""},
		{"", "", "must name at least"},
		{"O=Corp", "", "CN (the CA's common name) is required"},
		{"CN=a,CN=b", "", "CN is given twice"},
		{"CN=a,C=Germany", "", "two-letter country code"},
		{"CN=a,C=de", "", "two-letter country code"},
		{"CN=a,E=x@corp.example", "", `attribute type "E" is not one of`},
		{"CN=a+O=b", "", "multi-valued"},
		{"CN=a,O=", "", "O has an empty value"},
		{"CN=a,,O=b", "", "is not TYPE=value"},
		{"CN", "", "is not TYPE=value"},
		{`CN=a\`, "", "lone backslash"},
		{"CN=a\x01b", "", "control characters"},
		{"CN=" + strings.Repeat("x", 65), "", "at most 64"},
		{"CN=\xff", "", "not valid UTF-8"},
	} {
		n, err := ParseSubject(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSubject(%q) = %v, %v; want error %q", tc.in, n, err, tc.err)
			}
			continue
		}
		if err != nil || n.String() != tc.want {
			t.Errorf("ParseSubject(%q) = %q, %v; want %q", tc.in, n.String(), err, tc.want)
		}
	}
}

func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{"CN=Corp Mail CA,O=Corp,C=DE", `CN=a\,b,OU=x,OU=y,L=z,ST=w`, "cn=\\", "CN=a+b", "C=DE,CN=\u212a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSubject(s)
		if err != nil {
			return
		}
		if n.CommonName == "" || !utf8.ValidString(n.CommonName) || utf8.RuneCountInString(n.CommonName) > 64 {
			t.Fatalf("accepted %q as %+v", s, n)
		}
		// What was accepted parses back the same from its own string form
		// when it needs no escapes.
		if !strings.ContainsAny(s, `\+`) {
			again, err := ParseSubject(n.String())
			if err == nil && !reflect.DeepEqual(again.ToRDNSequence(), n.ToRDNSequence()) {
				t.Fatalf("%q → %q → %+v", s, n.String(), again)
			}
		}
	})
}

func TestLoginMapsKey(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "logins")
	if err := os.WriteFile(good, []byte("alice %u@corp.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := load(writeFile(t, "auth:\n  login_maps: "+good+"\npolicy:\n  unauthorised_internal: reject\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Auth.LoginMap == nil || !cfg.Auth.LoginMap.Allows("alice", "alice@corp.example") || cfg.Policy.UnauthorisedInternal != "reject" {
		t.Fatalf("auth = %+v, policy.unauthorised_internal %q", cfg.Auth, cfg.Policy.UnauthorisedInternal)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("# ok\nalice %u@corp.example\nbob <bob@corp.example>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"auth:\n  login_maps: " + bad + "\n", "config: auth.login_maps: policy: login map " + bad + ":3: \"<bob@corp.example>\""},
		{"auth:\n  login_maps: " + filepath.Join(dir, "missing") + "\n", "config: auth.login_maps: config: login map: open " + filepath.Join(dir, "missing")},
		{"policy:\n  unauthorised_internal: drop\n", `config: policy.unauthorised_internal: "drop" is not one of deliver, reject`},
		{"ca:\n  subject: O=Corp\n", "config: ca.subject: CN (the CA's common name) is required"},
	} {
		_, err := load(writeFile(t, tc.yaml), nil)
		if err == nil || !IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
