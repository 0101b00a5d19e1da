package pdfpass

import (
	"strings"
	"testing"
)

func TestParseNumbers(t *testing.T) {
	good := "# partners\nKim@Partner.example   +4930123456\n\n  bo@x.example\t+4917612345678  # mobile\n"
	n, err := ParseNumbers("numbers", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]string{"kim@partner.example": "+4930123456", "KIM@PARTNER.EXAMPLE": "+4930123456", "bo@x.example": "+4917612345678", "nobody@x.example": ""} {
		if got, ok := n.Lookup(addr); got != want || ok != (want != "") {
			t.Errorf("Lookup(%s) = %q, %v; want %q", addr, got, ok, want)
		}
	}
	if n.Len() != 2 {
		t.Errorf("Len %d", n.Len())
	}
	for _, tc := range []struct{ name, data, want string }{
		{"one field", "a@x.example\n", "numbers:1: want `address  +number`, got 1 fields"},
		{"three fields", "\na@x.example +4930123456 extra\n", "numbers:2: want"},
		{"no at", "kim +4930123456\n", `numbers:1: "kim" is not an e-mail address`},
		{"no plus", "a@x.example 030123456\n", `numbers:1: "030123456" is not a phone number`},
		{"letters", "a@x.example +49301x3456\n", "is not a phone number"},
		{"too short", "a@x.example +49301\n", "is not a phone number"},
		{"duplicate", "a@x.example +4930123456\nA@x.example +4930123457\n", "numbers:2: A@x.example is listed again (first on line 1)"},
		{"long line", strings.Repeat("a", 5000), "numbers:1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseNumbers("numbers", []byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func FuzzParseNumbers(f *testing.F) {
	f.Add([]byte("kim@partner.example +4930123456\n# c\n"))
	f.Add([]byte("a@b +1\n\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := ParseNumbers("fuzz", data)
		if err == nil {
			_, _ = n.Lookup("kim@partner.example")
		}
	})
}
