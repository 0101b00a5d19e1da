package milter

import (
	"bytes"
	"errors"
	"io"
	"os"
)

// errTooBig is recorded when a message body exceeds milter.max_message_size;
// the body beyond the limit is dropped and the message refused, never
// half-processed.
var errTooBig = errors.New("milter: message exceeds milter.max_message_size")

// spool holds one message body: in memory up to memLimit, then in a temporary
// file that Close always removes.
type spool struct {
	memLimit int64
	maxSize  int64
	dir      string

	mem  bytes.Buffer
	file *os.File
	size int64
	err  error
}

func newSpool(memLimit, maxSize int64, dir string) *spool {
	return &spool{memLimit: memLimit, maxSize: maxSize, dir: dir}
}

// Write appends body bytes. Once the message is too big or the disk failed,
// further writes are dropped and Err reports why.
func (s *spool) Write(p []byte) (int, error) {
	if s.err != nil {
		return len(p), nil
	}
	if s.size+int64(len(p)) > s.maxSize {
		s.err = errTooBig
		return len(p), nil
	}
	if s.file == nil && int64(s.mem.Len()+len(p)) > s.memLimit {
		f, err := os.CreateTemp(s.dir, "mailseal-spool-*")
		if err != nil {
			s.err = err
			return len(p), nil
		}
		// Unlink at once: the open descriptor keeps the data readable, and a
		// crash or kill can never leave message content behind on disk.
		s.file = f
		if err := os.Remove(f.Name()); err != nil {
			s.err = err
			return len(p), nil
		}
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			s.err = err
			return len(p), nil
		}
		s.mem = bytes.Buffer{}
	}
	if s.file != nil {
		if _, err := s.file.Write(p); err != nil {
			s.err = err
			return len(p), nil
		}
	} else {
		s.mem.Write(p)
	}
	s.size += int64(len(p))
	return len(p), nil
}

// Err is nil, errTooBig or the I/O error that stopped spooling.
func (s *spool) Err() error { return s.err }

// Size is the number of body bytes kept.
func (s *spool) Size() int64 { return s.size }

// OnDisk reports whether the body went to a temporary file.
func (s *spool) OnDisk() bool { return s.file != nil }

// Reader returns a fresh reader over the whole body.
func (s *spool) Reader() io.ReadSeeker {
	if s.file != nil {
		return io.NewSectionReader(s.file, 0, s.size)
	}
	return bytes.NewReader(s.mem.Bytes())
}

// Close releases memory and removes the temporary file, if any.
func (s *spool) Close() error {
	s.mem = bytes.Buffer{}
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	s.file = nil
	return err
}
