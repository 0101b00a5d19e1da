package config

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mailseal/mailseal/pdfpass"
)

// validateSMS checks the pdf.sms.* keys and loads the numbers file and
// the token, for pdf.password_delivery: sms.
func (c *Config) validateSMS(bad func(key, format string, args ...any)) {
	s := &c.PDF.SMS
	s.Webhook, s.Numbers = nil, nil
	ok := true
	if s.URL == "" {
		bad("pdf.sms.url", "must be set for pdf.password_delivery: sms")
		ok = false
	} else if err := pdfpass.CheckURL(s.URL); err != nil {
		bad("pdf.sms.url", "%v", err)
		ok = false
	}
	body, err := pdfpass.ParseBody(s.Body)
	if err != nil {
		bad("pdf.sms.body", "%v", err)
		ok = false
	}
	if strings.TrimSpace(s.ContentType) == "" || strings.ContainsAny(s.ContentType, "\r\n") {
		bad("pdf.sms.content_type", "%q is not a media type", s.ContentType)
		ok = false
	}
	if s.Timeout <= 0 {
		bad("pdf.sms.timeout", "must be positive, got %s", s.Timeout)
		ok = false
	}
	var token string
	if s.TokenFile != "" {
		if token, err = readToken(s.TokenFile); err != nil {
			bad("pdf.sms.token_file", "%v", err)
			ok = false
		}
	}
	if s.NumbersFile == "" {
		bad("pdf.sms.numbers_file", "must be set for pdf.password_delivery: sms")
		ok = false
	} else if n, err := pdfpass.LoadNumbers(s.NumbersFile); err != nil {
		bad("pdf.sms.numbers_file", "%v", err)
		ok = false
	} else {
		s.Numbers = n
	}
	if ok {
		s.Webhook = &pdfpass.Webhook{URL: s.URL, Body: body, ContentType: s.ContentType, Token: token, Timeout: s.Timeout}
	}
}

// readToken reads the bearer token: the file's first line, trimmed.
func readToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("config: token: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return "", fmt.Errorf("config: token %s: %w", path, err)
	}
	tok, _, _ := strings.Cut(string(data), "\n")
	tok = strings.TrimSpace(tok)
	if tok == "" || strings.ContainsAny(tok, "\r\x00") {
		return "", fmt.Errorf("config: token file %s is empty or not one line of text", path)
	}
	return tok, nil
}
