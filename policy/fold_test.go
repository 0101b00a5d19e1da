package policy

import "testing"

func TestLowerASCII(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"alice@corp.example", "alice@corp.example"},
		{"Alice@CORP.Example", "alice@corp.example"},
		{"\u212Aate@corp.example", "\u212Aate@corp.example"}, // KELVIN SIGN stays
		{"\u0130nfo@corp.example", "\u0130nfo@corp.example"}, // dotted capital I stays
		{"ÄBC", "Äbc"},
		{"\xff\xfeA", "\xff\xfea"},
	} {
		if got := LowerASCII(tc.in); got != tc.want {
			t.Errorf("LowerASCII(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
