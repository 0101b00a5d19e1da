package enroll

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestReadList(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		badLine []int
		wantErr string
	}{
		{name: "lines", in: "# staff\n\nalice@corp.example\n  Bob@Corp.Example  \nalice@CORP.example\n", want: []string{"alice@corp.example", "Bob@Corp.Example"}},
		{name: "crlf and BOM", in: "\xef\xbb\xbfalice@corp.example\r\nbob@corp.example\r\n", want: []string{"alice@corp.example", "bob@corp.example"}},
		{name: "csv", in: "name,Mail,dept\n\"Doe, Jane\",jane@corp.example,IT\nJohn,john@corp.example,HR\n", want: []string{"jane@corp.example", "john@corp.example"}},
		{name: "csv quoted mail and multiline field", in: "MAIL,note\n\"x@corp.example\",\"two\nlines\"\ny@corp.example,\n", want: []string{"x@corp.example", "y@corp.example"}},
		{name: "csv semicolon", in: "# export\nName;mail\nJane;jane@corp.example\n", want: []string{"jane@corp.example"}},
		{name: "single mail column", in: "mail\na@corp.example\n", want: []string{"a@corp.example"}},
		{name: "csv short and empty rows", in: "name,mail\nNobody\nEmpty,\nOk,ok@corp.example\n", want: []string{"ok@corp.example"}, badLine: []int{2, 3}},
		{name: "csv without mail column", in: "name,email\nJane,jane@corp.example\n", wantErr: `no "mail" column`},
		{name: "csv broken quote", in: "name,mail\n\"Jane,jane@corp.example\n", wantErr: "CSV"},
		{name: "empty", in: "# nothing\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, bad, err := ReadList(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("addresses = %q, want %q", got, tt.want)
			}
			var lines []int
			for _, b := range bad {
				lines = append(lines, b.Line)
			}
			if !slices.Equal(lines, tt.badLine) {
				t.Errorf("bad lines = %v, want %v", lines, tt.badLine)
			}
		})
	}
}

// A failure list is read back by --retry: the addresses, nothing else.
func TestFailureListRoundTrip(t *testing.T) {
	failures := []Failure{
		{Address: "a@corp.example", Reason: "certs: issue certificate: CA down\nsecond line"},
		{Line: 7, Reason: "no address"},
		{Address: "x@partner.example", Line: 3, Reason: "not in internal_domains"},
	}
	var buf bytes.Buffer
	if err := WriteFailures(&buf, failures); err != nil {
		t.Fatal(err)
	}
	got, bad, err := ReadList(&buf)
	if err != nil || len(bad) != 0 {
		t.Fatalf("ReadList = %v, %v", bad, err)
	}
	if want := []string{"a@corp.example", "x@partner.example"}; !slices.Equal(got, want) {
		t.Fatalf("retry addresses = %q, want %q", got, want)
	}
}

func FuzzReadList(f *testing.F) {
	for _, s := range []string{
		"alice@corp.example\n# c\n\nbob@corp.example",
		"name,mail\n\"Doe, J\",j@corp.example\n",
		"mail;x\n\"a\"\"b\";c\n",
		"a,b\n\"unterminated",
		"\xef\xbb\xbfmail\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		addrs, _, err := ReadList(bytes.NewReader(data))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, a := range addrs {
			if a == "" || strings.TrimSpace(a) != a {
				t.Fatalf("address %q not trimmed or empty", a)
			}
			if seen[lowerASCII(a)] {
				t.Fatalf("duplicate %q", a)
			}
			seen[lowerASCII(a)] = true
		}
	})
}
