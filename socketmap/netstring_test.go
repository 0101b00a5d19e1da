package socketmap

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

func TestReadNetstring(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		max     int
		want    string
		wantErr error // nil: success
	}{
		{"simple", "25:tlspolicy partner.example,", 100, "tlspolicy partner.example", nil},
		{"wrong length (23 for 25 bytes)", "23:tlspolicy partner.example,", 100, "", ErrSyntax},
		{"empty payload", "0:,", 100, "", nil},
		{"binary payload", "3:a\x00,,", 100, "a\x00,", nil},
		{"exactly max", "5:hello,", 5, "hello", nil},
		{"default max when zero", "5:hello,", 0, "hello", nil},
		{"empty input", "", 100, "", io.EOF},
		{"exceeds max", "6:hello!,", 5, "", ErrTooLong},
		{"length prefix too large", "99999999999999999999999999:x,", 100000, "", ErrTooLong},
		{"length prefix overflow with huge max", "99999999999999999999999999999999:x,", 1 << 62, "", ErrTooLong},
		{"missing comma", "5:hello;", 100, "", ErrSyntax},
		{"missing comma, longer data", "5:hello world,", 100, "", ErrSyntax},
		{"non-digit", "5a:hello,", 100, "", ErrSyntax},
		{"sign", "-5:hello,", 100, "", ErrSyntax},
		{"space before colon", "5 :hello,", 100, "", ErrSyntax},
		{"leading zero", "05:hello,", 100, "", ErrSyntax},
		{"double zero", "00:,", 100, "", ErrSyntax},
		{"empty length prefix", ":hello,", 100, "", ErrSyntax},
		{"truncated in prefix", "12", 100, "", io.ErrUnexpectedEOF},
		{"truncated after colon", "5:", 100, "", io.ErrUnexpectedEOF},
		{"truncated payload", "5:hel", 100, "", io.ErrUnexpectedEOF},
		{"truncated before comma", "5:hello", 100, "", io.ErrUnexpectedEOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadNetstring(bufio.NewReader(strings.NewReader(tc.in)), tc.max)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if string(got) != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadNetstringSequence(t *testing.T) {
	r := bufio.NewReader(strings.NewReader("3:abc,0:,5:hello,"))
	for _, want := range []string{"abc", "", "hello"} {
		got, err := ReadNetstring(r, 100)
		if err != nil || string(got) != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
	if _, err := ReadNetstring(r, 100); err != io.EOF {
		t.Fatalf("at end: err = %v, want io.EOF", err)
	}
}

func TestWriteNetstring(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "0:,"},
		{"OK encrypt", "10:OK encrypt,"},
		{"NOTFOUND ", "9:NOTFOUND ,"},
		{strings.Repeat("x", 12), "12:" + strings.Repeat("x", 12) + ","},
	}
	for _, tc := range cases {
		var buf bytes.Buffer
		if err := WriteNetstring(&buf, []byte(tc.in)); err != nil {
			t.Fatal(err)
		}
		if buf.String() != tc.want {
			t.Errorf("WriteNetstring(%q) = %q, want %q", tc.in, buf.String(), tc.want)
		}
		got, err := ReadNetstring(bufio.NewReader(&buf), 0)
		if err != nil || string(got) != tc.in {
			t.Errorf("round trip %q: got %q, %v", tc.in, got, err)
		}
	}
}

func FuzzReadNetstring(f *testing.F) {
	for _, seed := range []string{
		"25:tlspolicy partner.example,", "0:,", "", "5:hello", "05:hello,",
		"99999999999999999999:x,", ":,", "3:abc,3:def,", "1:x;", "10:",
	} {
		f.Add([]byte(seed), 64)
	}
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		if max > 1<<20 {
			max %= 1 << 20 // keep allocations bounded
		}
		r := bufio.NewReader(bytes.NewReader(data))
		limit := max
		if limit <= 0 {
			limit = DefaultMaxRequest
		}
		for {
			got, err := ReadNetstring(r, max)
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF &&
					!errors.Is(err, ErrSyntax) && !errors.Is(err, ErrTooLong) {
					t.Fatalf("unexpected error type %v", err)
				}
				return
			}
			if len(got) > limit {
				t.Fatalf("payload of %d bytes exceeds max %d", len(got), limit)
			}
			// A successfully parsed netstring re-encodes to the consumed form.
			var buf bytes.Buffer
			WriteNetstring(&buf, got)
			if !bytes.Contains(data, buf.Bytes()) {
				t.Fatalf("re-encoded %q not found in input %q", buf.Bytes(), data)
			}
			if !strings.HasPrefix(buf.String(), strconv.Itoa(len(got))+":") {
				t.Fatalf("bad encoding %q", buf.Bytes())
			}
		}
	})
}
