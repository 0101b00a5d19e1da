package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSMSKeys(t *testing.T) {
	dir := t.TempDir()
	numbers := filepath.Join(dir, "numbers")
	token := filepath.Join(dir, "token")
	badNumbers := filepath.Join(dir, "bad-numbers")
	for name, body := range map[string]string{numbers: "kim@partner.example +4930123456\n", token: "s3cret\n", badNumbers: "# x\nkim@partner.example 030123\n"} {
		if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	good := "pdf:\n  password_delivery: sms\n  sms:\n    url: https://sms.example/send\n    numbers_file: " + numbers + "\n    token_file: " + token + "\n"
	cfg, err := load(writeFile(t, good), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.PDF.SMS.Webhook
	if w == nil || w.Token != "s3cret" || w.ContentType != "application/json" || w.Timeout.String() != "10s" || w.URL != "https://sms.example/send" {
		t.Fatalf("webhook %+v", w)
	}
	if n, ok := cfg.PDF.SMS.Numbers.Lookup("Kim@partner.example"); !ok || n != "+4930123456" {
		t.Errorf("number %q %v", n, ok)
	}
	sms := "pdf:\n  password_delivery: sms\n  sms:\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"no url", sms + "    numbers_file: " + numbers + "\n", "config: pdf.sms.url: must be set"},
		{"http remote", sms + "    url: http://sms.example/\n    numbers_file: " + numbers + "\n", "config: pdf.sms.url: pdfpass: \"http://sms.example/\" would send passwords unencrypted"},
		{"no numbers", sms + "    url: http://127.0.0.1:9/\n", "config: pdf.sms.numbers_file: must be set"},
		{"bad numbers", sms + "    url: http://127.0.0.1:9/\n    numbers_file: " + badNumbers + "\n", "config: pdf.sms.numbers_file: pdfpass: numbers file " + badNumbers + ":2: \"030123\""},
		{"bad body", sms + "    url: http://127.0.0.1:9/\n    numbers_file: " + numbers + "\n    body: '{{.Phone}}'\n", "config: pdf.sms.body: pdfpass: body template"},
		{"no token file", sms + "    url: http://127.0.0.1:9/\n    numbers_file: " + numbers + "\n    token_file: " + filepath.Join(dir, "missing") + "\n", "config: pdf.sms.token_file: config: token: open"},
		{"zero timeout", sms + "    url: http://127.0.0.1:9/\n    numbers_file: " + numbers + "\n    timeout: 0s\n", "config: pdf.sms.timeout: must be positive"},
		{"unknown delivery", "pdf:\n  password_delivery: pigeon\n", `config: pdf.password_delivery: "pigeon" is not one of sender, sms, fixed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(writeFile(t, tc.yaml), nil)
			if err == nil || !IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v, want %q", err, tc.want)
			}
		})
	}
}
