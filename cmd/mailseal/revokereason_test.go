package main

import "testing"

func TestParseReason(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true}, {"1", 1, true}, {"keyCompromise", 1, true}, {"KEYCOMPROMISE", 1, true},
		{" superseded ", 4, true}, {"9", 9, true}, {"cessationOfOperation", 5, true},
		{"7", 0, false}, {"8", 0, false}, {"2", 0, false}, {"6", 0, false}, {"-1", 0, false}, {"", 0, false}, {"sometimes", 0, false},
	} {
		got, err := parseReason(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseReason(%q) = %d, %v", tc.in, got, err)
		}
	}
}
