package milter

import (
	"bytes"
	"io"
	"os"
	"testing"
)

func TestSpool(t *testing.T) {
	cases := []struct {
		name     string
		memLimit int64
		max      int64
		writes   []int
		onDisk   bool
		tooBig   bool
	}{
		{"small stays in memory", 100, 1000, []int{10, 20}, false, false},
		{"spills to disk", 100, 1000, []int{60, 60, 60}, true, false},
		{"exact memory limit stays", 100, 1000, []int{100}, false, false},
		{"too big", 100, 150, []int{100, 100}, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := newSpool(tc.memLimit, tc.max, dir)
			var want bytes.Buffer
			for i, n := range tc.writes {
				p := bytes.Repeat([]byte{byte('a' + i)}, n)
				if _, err := s.Write(p); err != nil {
					t.Fatal(err)
				}
				if want.Len()+n <= int(tc.max) {
					want.Write(p)
				}
			}
			if (s.Err() == errTooBig) != tc.tooBig {
				t.Fatalf("Err = %v, tooBig want %v", s.Err(), tc.tooBig)
			}
			if !tc.tooBig {
				if s.OnDisk() != tc.onDisk {
					t.Fatalf("OnDisk = %v", s.OnDisk())
				}
				got, _ := io.ReadAll(s.Reader())
				if !bytes.Equal(got, want.Bytes()) {
					t.Fatalf("read back %d bytes, want %d", len(got), want.Len())
				}
				again, _ := io.ReadAll(s.Reader())
				if !bytes.Equal(again, got) {
					t.Fatal("second reader differs")
				}
			}
			// The temporary file is unlinked at once: nothing is ever left in dir.
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("spool file visible in %s: %v", dir, entries)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSplitAtLineEnds(t *testing.T) {
	cases := []struct {
		name string
		body string
		max  int
		want []string
	}{
		{"fits", "a\r\nb\r\n", 10, []string{"a\r\nb\r\n"}},
		{"cut at line end", "aaa\r\nbbb\r\nccc\r\n", 10, []string{"aaa\r\nbbb\r\n", "ccc\r\n"}},
		{"long line cut but never between CR and LF", "aaaaaaaaa\r\nb", 10, []string{"aaaaaaaaa", "\r\nb"}},
		{"empty", "", 10, []string{""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := splitAtLineEnds([]byte(tc.body), tc.max)
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				if string(got[i]) != tc.want[i] || len(got[i]) > tc.max {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
			}
		})
	}
}

func TestHeaderRefsCountPerName(t *testing.T) {
	hs := []Header{{"Received", "1"}, {"X-Mailseal-Trace", "a"}, {"received", "2"}, {"x-mailseal-trace", "b"}, {"Subject", "s"}}
	refs := HeaderRefs(hs, func(h Header) bool { return h.Value == "b" || h.Value == "2" })
	if len(refs) != 2 || refs[0].Index != 2 || refs[1].Index != 2 {
		t.Fatalf("refs = %+v, want index 2 for both", refs)
	}
}
