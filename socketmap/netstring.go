package socketmap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// DefaultMaxRequest is Postfix's default socketmap_max_reply/request size:
// the largest netstring payload accepted when no other limit is given.
const DefaultMaxRequest = 100000

var (
	// ErrSyntax reports a malformed netstring (bad length prefix or missing
	// trailing comma). The stream cannot be resynchronised afterwards.
	ErrSyntax = errors.New("socketmap: malformed netstring")
	// ErrTooLong reports a netstring whose declared length exceeds the limit.
	ErrTooLong = errors.New("socketmap: netstring exceeds size limit")
)

// ReadNetstring reads one netstring "LEN:DATA," from r and returns DATA.
// LEN must be a decimal number without leading zeros (except "0" itself) and
// at most max; max <= 0 means DefaultMaxRequest. A clean end of input before
// the first byte returns io.EOF; input ending later returns
// io.ErrUnexpectedEOF. Syntax errors wrap ErrSyntax, oversize ones ErrTooLong.
func ReadNetstring(r *bufio.Reader, max int) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxRequest
	}
	n, digits := 0, 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF && digits > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if c == ':' {
			if digits == 0 {
				return nil, fmt.Errorf("%w: empty length prefix", ErrSyntax)
			}
			break
		}
		if c < '0' || c > '9' {
			return nil, fmt.Errorf("%w: unexpected byte %q in length prefix", ErrSyntax, c)
		}
		if digits == 1 && n == 0 {
			return nil, fmt.Errorf("%w: leading zero in length prefix", ErrSyntax)
		}
		digits++
		n = n*10 + int(c-'0')
		if n > max {
			// Checked per digit, so n never overflows.
			return nil, fmt.Errorf("%w: length prefix above %d", ErrTooLong, max)
		}
	}
	// The buffer grows with the bytes that actually arrive: a client that
	// announces a large request and sends nothing holds no more memory than
	// it sent.
	buf := make([]byte, 0, min(n+1, 4096))
	for len(buf) < n+1 {
		if len(buf) == cap(buf) {
			buf = append(make([]byte, 0, min(n+1, 2*cap(buf))), buf...)
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < n+1 {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	if buf[n] != ',' {
		return nil, fmt.Errorf("%w: missing trailing comma", ErrSyntax)
	}
	return buf[:n], nil
}

// WriteNetstring writes b to w as one netstring "LEN:b," in a single Write.
func WriteNetstring(w io.Writer, b []byte) error {
	out := make([]byte, 0, len(b)+12)
	out = strconv.AppendInt(out, int64(len(b)), 10)
	out = append(out, ':')
	out = append(out, b...)
	out = append(out, ',')
	_, err := w.Write(out)
	return err
}
