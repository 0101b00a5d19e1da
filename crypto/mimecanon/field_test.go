package mimecanon

import (
	"errors"
	"testing"
)

func TestFormatField(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"Subject", "plain", "Subject: plain"},
		{"Subject", "folded\n\tvalue", "Subject: folded\r\n\tvalue"},
		{"Subject", "Grüße", "Subject: =?utf-8?b?R3LDvMOfZQ==?="},
		{"To", "Jörg <j@x.example>", "To: =?utf-8?q?J=C3=B6rg?= <j@x.example>"},
		{"HP-Outer", "To: =?utf-8?q?J=C3=B6rg?= <j@x.example>", "HP-Outer: To: =?utf-8?q?J=C3=B6rg?= <j@x.example>"},
	}
	for _, tc := range tests {
		got, err := FormatField(tc.name, tc.value)
		if err != nil || got != tc.want {
			t.Errorf("FormatField(%q, %q) = %q, %v; want %q", tc.name, tc.value, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "Sub ject", "Sub:ject", "Grüße"} {
		if _, err := FormatField(bad, "x"); !errors.Is(err, ErrMalformed) {
			t.Errorf("FormatField(%q) err = %v, want ErrMalformed", bad, err)
		}
	}
}
