package pdfpass

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
)

// Numbers maps recipient addresses to mobile numbers (pdf.sms.numbers_file).
// The file has one recipient per line, `#` starts a comment:
//
//	# partner contacts
//	kim@partner.example    +4930123456
//
// Addresses compare ignoring the case of ASCII letters.
type Numbers struct {
	source  string
	numbers map[string]string
}

// maxNumbersLine bounds one line, maxNumbersSize the whole file: a mistaken
// path (a log, a database) must not be read into memory whole.
const (
	maxNumbersLine = 4096
	maxNumbersSize = 16 << 20
)

// LoadNumbers reads and parses the numbers file at path.
func LoadNumbers(path string) (*Numbers, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pdfpass: numbers file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxNumbersSize+1))
	if err != nil {
		return nil, fmt.Errorf("pdfpass: numbers file %s: %w", path, err)
	}
	if len(data) > maxNumbersSize {
		return nil, fmt.Errorf("pdfpass: numbers file %s is larger than %d MiB", path, maxNumbersSize>>20)
	}
	return ParseNumbers(path, data)
}

// ParseNumbers parses a numbers file called name (errors name it and the line).
func ParseNumbers(name string, data []byte) (*Numbers, error) {
	n := &Numbers{source: name, numbers: map[string]string{}}
	first := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1024), maxNumbersLine)
	line := 0
	bad := func(format string, args ...any) error {
		return fmt.Errorf("pdfpass: numbers file %s:%d: %s", name, line, fmt.Sprintf(format, args...))
	}
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return nil, bad("want `address  +number`, got %d fields", len(fields))
		}
		addr, number := lowerASCII(fields[0]), fields[1]
		if at := strings.LastIndexByte(addr, '@'); at <= 0 || at == len(addr)-1 {
			return nil, bad("%q is not an e-mail address", fields[0])
		}
		if !validNumber(number) {
			return nil, bad("%q is not a phone number in international form (+ then 6 to 15 digits, e.g. +4930123456)", number)
		}
		if prev, dup := first[addr]; dup {
			return nil, bad("%s is listed again (first on line %d)", fields[0], prev)
		}
		first[addr] = line
		n.numbers[addr] = number
	}
	if err := sc.Err(); err != nil {
		line++
		return nil, bad("%v", err)
	}
	return n, nil
}

// Lookup returns the number for addr, if one is known.
func (n *Numbers) Lookup(addr string) (string, bool) {
	if n == nil {
		return "", false
	}
	num, ok := n.numbers[lowerASCII(addr)]
	return num, ok
}

// Len is how many addresses have a number.
func (n *Numbers) Len() int {
	if n == nil {
		return 0
	}
	return len(n.numbers)
}

// validNumber accepts E.164: "+", then 6 to 15 digits, the first not 0.
func validNumber(s string) bool {
	if len(s) < 7 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
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
