package treat

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
)

// contentSpool collects the PDF mail's content: in memory, or for a large
// message in an unlinked temporary file, so the content is held in memory
// only once it is complete, at its exact size (a buffer growing as the PDF
// streams in would hold up to twice that).
type contentSpool struct {
	mem  bytes.Buffer
	file *os.File
	bw   *bufio.Writer
	err  error
}

func (s *contentSpool) useFile(dir string) error {
	f, err := os.CreateTemp(dir, "mailseal-pdf-*")
	if err != nil {
		return fmt.Errorf("treat: PDF temporary file: %w", err)
	}
	// Unlinked at once: nothing stays behind on a crash. It holds only the
	// encrypted PDF in base64 and the notice text.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return fmt.Errorf("treat: PDF temporary file: %w", err)
	}
	s.file = f
	s.bw = bufio.NewWriterSize(errWriter{s}, 64<<10)
	return nil
}

// writer is where the content goes; errors are kept for reader/bytes.
func (s *contentSpool) writer() *bufio.Writer {
	if s.bw == nil {
		s.bw = bufio.NewWriterSize(errWriter{s}, 64<<10)
	}
	return s.bw
}

type errWriter struct{ s *contentSpool }

func (e errWriter) Write(p []byte) (int, error) {
	if e.s.err != nil {
		return 0, e.s.err
	}
	var err error
	if e.s.file != nil {
		_, err = e.s.file.Write(p)
	} else {
		_, err = e.s.mem.Write(p)
	}
	if err != nil {
		e.s.err = fmt.Errorf("treat: PDF temporary file: %w", err)
		return 0, e.s.err
	}
	return len(p), nil
}

// reader returns the content's size and a reader of it from the start.
func (s *contentSpool) reader() (int64, io.Reader, error) {
	if err := s.bw.Flush(); err != nil && s.err == nil {
		s.err = err
	}
	if s.err != nil {
		return 0, nil, s.err
	}
	if s.file == nil {
		return int64(s.mem.Len()), bytes.NewReader(s.mem.Bytes()), nil
	}
	n, err := s.file.Seek(0, io.SeekCurrent)
	if err == nil {
		_, err = s.file.Seek(0, io.SeekStart)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("treat: PDF temporary file: %w", err)
	}
	return n, bufio.NewReaderSize(s.file, 64<<10), nil
}

// bytes returns the content in one slice of exactly its size.
func (s *contentSpool) bytes() ([]byte, error) {
	n, r, err := s.reader()
	if err != nil {
		return nil, err
	}
	if s.file == nil {
		return s.mem.Bytes(), nil
	}
	out := make([]byte, n)
	if _, err := io.ReadFull(r, out); err != nil {
		return nil, fmt.Errorf("treat: PDF temporary file: %w", err)
	}
	return out, nil
}

func (s *contentSpool) close() {
	if s.file != nil {
		s.file.Close()
	}
}

// base64Lines encodes what is written to it as base64 in lines of 76
// characters ending in CRLF (RFC 2045); Close writes the rest.
type base64Lines struct {
	enc io.WriteCloser
	lw  *lineBreaker
}

func newBase64Lines(w io.Writer) *base64Lines {
	lw := &lineBreaker{w: w}
	return &base64Lines{enc: base64.NewEncoder(base64.StdEncoding, lw), lw: lw}
}

func (b *base64Lines) Write(p []byte) (int, error) { return b.enc.Write(p) }

func (b *base64Lines) Close() error {
	if err := b.enc.Close(); err != nil {
		return err
	}
	if b.lw.col > 0 {
		_, err := b.lw.w.Write([]byte("\r\n"))
		b.lw.col = 0
		return err
	}
	return nil
}

// lineBreaker writes CRLF after every 76 bytes.
type lineBreaker struct {
	w   io.Writer
	col int
}

func (l *lineBreaker) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(76-l.col, len(p))
		if _, err := l.w.Write(p[:k]); err != nil {
			return 0, err
		}
		l.col += k
		p = p[k:]
		if l.col == 76 {
			if _, err := l.w.Write([]byte("\r\n")); err != nil {
				return 0, err
			}
			l.col = 0
		}
	}
	return n, nil
}
