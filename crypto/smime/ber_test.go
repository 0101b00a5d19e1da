package smime

import (
	"bytes"
	"testing"
)

func TestBEROctets(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want string
		bad  bool
	}{
		{"primitive", []byte{0x04, 0x02, 'h', 'i'}, "hi", false},
		{"long form length", append([]byte{0x04, 0x81, 0x03}, "abc"...), "abc", false},
		{"constructed definite", []byte{0x24, 0x06, 0x04, 0x01, 'a', 0x04, 0x01, 'b'}, "ab", false},
		{"constructed indefinite", []byte{0x24, 0x80, 0x04, 0x01, 'a', 0x04, 0x00, 0x04, 0x01, 'b', 0, 0}, "ab", false},
		{"nested segments", []byte{0x24, 0x80, 0x24, 0x80, 0x04, 0x01, 'x', 0, 0, 0x04, 0x01, 'y', 0, 0}, "xy", false},
		{"implicit [0] constructed", []byte{0xa0, 0x80, 0x04, 0x02, 'o', 'k', 0, 0}, "ok", false},
		{"segment of another type", []byte{0x24, 0x03, 0x02, 0x01, 0x05}, "", true},
		{"indefinite primitive", []byte{0x04, 0x80, 'a', 0, 0}, "", true},
		{"missing end of contents", []byte{0x24, 0x80, 0x04, 0x01, 'a'}, "", true},
		{"length beyond data", []byte{0x04, 0x05, 'a'}, "", true},
		{"five length octets", []byte{0x04, 0x85, 0, 0, 0, 0, 1, 'a'}, "", true},
		{"trailing data", []byte{0x04, 0x01, 'a', 0}, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := parseBER(tc.in)
			var got []byte
			if err == nil {
				got, err = octets(e)
			}
			if (err != nil) != tc.bad || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q, error %v", got, err, tc.want, tc.bad)
			}
		})
	}
}

func TestBERLimits(t *testing.T) {
	// Nesting deeper than maxBERDepth is refused, not a stack overflow.
	deep := bytes.Repeat([]byte{0x30, 0x80}, 10000)
	deep = append(deep, bytes.Repeat([]byte{0, 0}, 10000)...)
	if _, err := parseBER(deep); err == nil {
		t.Error("10000 nested indefinite lengths accepted")
	}
	// A SET of too many elements is refused.
	many := tlv(tagSet, bytes.Repeat([]byte{0x05, 0x00}, maxChildren+1))
	e, err := parseBER(many)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := children(e); err == nil {
		t.Error("SET of more than maxChildren elements accepted")
	}
	// High tag numbers decode.
	e, err = parseBER([]byte{0x9f, 0x81, 0x01, 0x00})
	if err != nil || e.tag != 129 || e.class != classContext {
		t.Errorf("high tag: %+v, %v", e, err)
	}
}
