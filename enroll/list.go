package enroll

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxListBytes bounds what ReadList reads (a 100,000-user CSV with a few
// columns is well below it).
const MaxListBytes = 64 << 20

// Failure is an address that could not be enrolled and why. Line is the
// input line it came from (0 when it did not come from a file).
type Failure struct {
	Address string
	Line    int
	Reason  string
	Err     error // the error itself when the enrolment failed (nil for input problems)
}

// ReadList reads the addresses to enrol. Two forms are accepted:
//   - one address a line; blank lines and lines starting with '#' are
//     skipped (a failure list written by WriteFailures is such a file);
//   - CSV (RFC 4180, comma or semicolon) whose header row has a column
//     named "mail" (any case); other columns are ignored.
//
// The form is chosen by the first line that is neither blank nor a comment:
// it is a CSV header when it holds a comma or semicolon, or is just "mail".
// Addresses are trimmed and de-duplicated (ASCII case-insensitively); they
// are not validated here: the enrolment reports bad ones as failures. Rows
// that hold no address come back as failures with their line number.
func ReadList(r io.Reader) (addrs []string, bad []Failure, err error) {
	defer func() {
		if p := recover(); p != nil {
			addrs, bad, err = nil, nil, fmt.Errorf("enroll: read list: %v", p)
		}
	}()
	data, err := io.ReadAll(io.LimitReader(r, MaxListBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("enroll: read list: %w", err)
	}
	if len(data) > MaxListBytes {
		return nil, nil, fmt.Errorf("enroll: list is larger than %d MiB", MaxListBytes>>20)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // spreadsheet BOM
	seen := make(map[string]bool)
	add := func(a string, line int) {
		a = strings.TrimSpace(a)
		if a == "" {
			bad = append(bad, Failure{Line: line, Reason: "no address"})
			return
		}
		k := lowerASCII(a)
		if seen[k] {
			return
		}
		seen[k] = true
		addrs = append(addrs, a)
	}
	header, headerLine := firstLine(data)
	if strings.ContainsAny(header, ",;") || strings.EqualFold(strings.TrimSpace(header), "mail") {
		if err := readCSV(data, headerLine, header, add); err != nil {
			return nil, nil, err
		}
		return addrs, bad, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), MaxListBytes)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		add(l, n)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("enroll: read list: %w", err)
	}
	return addrs, bad, nil
}

// firstLine returns the first line that is neither blank nor a comment and
// its number (1-based; 0 when there is none).
func firstLine(data []byte) (string, int) {
	for n := 1; len(data) > 0; n++ {
		l, rest, _ := bytes.Cut(data, []byte("\n"))
		data = rest
		t := strings.TrimSpace(string(l))
		if t != "" && !strings.HasPrefix(t, "#") {
			return t, n
		}
	}
	return "", 0
}

// readCSV reads the rows after the header on line headerLine and hands
// each row's mail column to add.
func readCSV(data []byte, headerLine int, header string, add func(string, int)) error {
	sep := ','
	if !strings.Contains(header, ",") && strings.Contains(header, ";") {
		sep = ';'
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = sep
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	col := -1
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("enroll: CSV: %w", err)
		}
		line := 0
		if len(rec) > 0 {
			line, _ = cr.FieldPos(0)
		}
		if col < 0 {
			for i, name := range rec {
				if strings.EqualFold(strings.TrimSpace(name), "mail") {
					col = i
					break
				}
			}
			if col < 0 {
				return fmt.Errorf("enroll: CSV header on line %d has no \"mail\" column (it has %s)", headerLine, strings.Join(rec, ", "))
			}
			continue
		}
		if col >= len(rec) {
			add("", line)
			continue
		}
		add(rec[col], line)
	}
	if col < 0 {
		return errors.New("enroll: CSV has no header row")
	}
	return nil
}

// WriteFailures writes failures so that ReadList reads the addresses back:
// the reason as a comment line, then the address. Failures without an
// address (empty CSV cells) appear as comments only.
func WriteFailures(w io.Writer, failures []Failure) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# mailseal certs enroll: %d failed; correct what the comments say, then run `mailseal certs enroll --retry FILE`\n", len(failures))
	for _, f := range failures {
		where := ""
		if f.Line > 0 {
			where = fmt.Sprintf("line %d: ", f.Line)
		}
		fmt.Fprintf(bw, "# %s%s\n", where, oneLine(f.Reason))
		if f.Address != "" {
			fmt.Fprintln(bw, oneLine(f.Address))
		}
	}
	return bw.Flush()
}

// oneLine keeps a reason or address on its line in the failure list.
func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
