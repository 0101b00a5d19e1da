package config

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"
)

// validateTrust checks the trust.* keys: each anchor file must hold at least
// one CA certificate, so a typo never silently trusts nothing.
func (c *Config) validateTrust(bad func(key, format string, args ...any)) {
	for _, f := range c.Trust.AnchorFiles {
		if err := checkAnchorFile(f); err != nil {
			bad("trust.anchor_files", "%s: %v", f, err)
		}
	}
	switch c.Trust.Revocation {
	case "require", "prefer", "off":
	default:
		bad("trust.revocation", "%q is not one of require, prefer, off", c.Trust.Revocation)
	}
	switch c.Trust.Report {
	case "off", "de", "en":
	default:
		bad("trust.report", "%q is not one of off, de, en", c.Trust.Report)
	}
	for _, t := range []struct{ key, v string }{
		{"trust.subject_tags.pass", c.Trust.SubjectTags.Pass},
		{"trust.subject_tags.fail", c.Trust.SubjectTags.Fail},
		{"trust.subject_tags.unverified", c.Trust.SubjectTags.Unverified},
	} {
		switch {
		case !utf8.ValidString(t.v):
			bad(t.key, "is not valid UTF-8")
		case strings.ContainsAny(t.v, "\r\n\t"):
			bad(t.key, "must be one line without tabs")
		case len(t.v) > 64:
			bad(t.key, "is longer than 64 bytes")
		}
	}
}

// checkAnchorFile reads a PEM file and says why it cannot serve as a trust
// anchor file.
func checkAnchorFile(name string) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("empty file name")
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("cannot be read: %v", err)
	}
	cas, n := 0, 0
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		n++
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return fmt.Errorf("certificate %d: %v", n, err)
		}
		if cert.BasicConstraintsValid && cert.IsCA {
			cas++
		}
	}
	switch {
	case n == 0:
		return fmt.Errorf("holds no PEM CERTIFICATE block")
	case cas == 0:
		return fmt.Errorf("holds %d certificate(s) but no CA certificate (basicConstraints CA:TRUE)", n)
	}
	return nil
}
