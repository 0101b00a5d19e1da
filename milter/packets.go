package milter

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"sync"
	"sync/atomic"
)

// maxPacket is the largest milter packet accepted, as in go-milter (which
// refuses larger ones too). Postfix sends body chunks of at most 64 KiB and
// one packet per header field (header_size_limit, default 100 KiB).
const maxPacket = 1 << 20

// byteBudget bounds the memory all connections together may hold in packets
// that have not fully arrived.
type byteBudget struct {
	limit int64
	used  atomic.Int64
}

func (b *byteBudget) take(n int64) bool {
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *byteBudget) give(n int64) { b.used.Add(-n) }

// errBudget closes a connection whose partly received packet would exceed
// the budget; Postfix then applies milter_default_action to its message.
type errBudget struct{ limit int64 }

func (e errBudget) Error() string {
	return fmt.Sprintf("milter: partly received packets of all connections would exceed %d bytes; closing this connection", e.limit)
}

// packetReader hands go-milter only whole packets. go-milter reads a
// packet's length and at once allocates that many bytes, up to 1 MiB, before
// the data arrives: 500 idle connections that each announced a 1 MiB packet
// held 546 MB. Here a packet's length reaches go-milter only once all its
// bytes are in: a small packet waits in the connection's fixed read buffer, a
// larger one in a buffer that grows with the bytes actually received and is
// charged to a budget shared by all connections. go-milter's allocation is
// then filled at once and short-lived.
type packetReader struct {
	in     readBuffered
	budget *byteBudget

	hdr     [4]byte
	hdrLeft int    // header bytes still to hand out
	direct  int    // data bytes to pass straight from in (already buffered there)
	whole   []byte // a larger packet's data, complete
	pos     int
	held    atomic.Int64 // budget held by whole (or by a packet being received)
}

// readBuffered is the connection's bufio.Reader.
type readBuffered interface {
	io.Reader
	Peek(n int) ([]byte, error)
	Size() int
}

func (r *packetReader) Read(p []byte) (int, error) {
	if r.hdrLeft == 0 && r.direct == 0 && r.pos == len(r.whole) {
		r.release()
		if err := r.next(); err != nil {
			return 0, err
		}
	}
	switch {
	case r.hdrLeft > 0:
		n := copy(p, r.hdr[4-r.hdrLeft:])
		r.hdrLeft -= n
		return n, nil
	case r.direct > 0:
		n, err := r.in.Read(p[:min(len(p), r.direct)])
		r.direct -= n
		return n, err
	default:
		n := copy(p, r.whole[r.pos:])
		r.pos += n
		if r.pos == len(r.whole) {
			r.release()
		}
		return n, nil
	}
}

// next waits until the next packet has fully arrived.
func (r *packetReader) next() error {
	if _, err := io.ReadFull(r.in, r.hdr[:]); err != nil {
		return err
	}
	n := int(binary.BigEndian.Uint32(r.hdr[:]))
	if n == 0 || n > maxPacket {
		return fmt.Errorf("milter: packet of %d bytes refused (allowed 1 to %d)", n, maxPacket)
	}
	if n <= r.in.Size() {
		if _, err := r.in.Peek(n); err != nil {
			return err
		}
		r.hdrLeft, r.direct = 4, n
		return nil
	}
	var buf []byte
	for len(buf) < n {
		if len(buf) == cap(buf) {
			size := max(2*cap(buf), r.in.Size())
			if !r.budget.take(int64(size - cap(buf))) {
				r.releaseBudget()
				putBuffer(buf)
				return errBudget{r.budget.limit}
			}
			r.held.Add(int64(size - cap(buf)))
			bigger := getBuffer(size)
			bigger = append(bigger, buf...)
			putBuffer(buf)
			buf = bigger
		}
		m, err := r.in.Read(buf[len(buf):min(cap(buf), n)])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < n {
			r.releaseBudget()
			putBuffer(buf)
			return err
		}
	}
	r.hdrLeft, r.whole, r.pos = 4, buf, 0
	return nil
}

// bufferPools hold packet buffers by power-of-two size, from the read
// buffer's 16 KiB up to maxPacket: every 64 KiB body chunk of a large
// message would otherwise allocate and copy three buffers.
var bufferPools [8]sync.Pool

func poolIndex(size int) int { return bits.Len(uint(size>>14)) - 1 }

// getBuffer returns an empty buffer of capacity size (a power of two
// between 16 KiB and maxPacket).
func getBuffer(size int) []byte {
	if i := poolIndex(size); i >= 0 && i < len(bufferPools) && size == 16<<10<<i {
		if b, ok := bufferPools[i].Get().(*[]byte); ok {
			return (*b)[:0]
		}
	}
	return make([]byte, 0, size)
}

func putBuffer(b []byte) {
	size := cap(b)
	if i := poolIndex(size); i >= 0 && i < len(bufferPools) && size == 16<<10<<i {
		b = b[:0]
		bufferPools[i].Put(&b)
	}
}

// release drops a packet go-milter has taken (it copied the bytes) and
// gives its buffer and budget back.
func (r *packetReader) release() {
	r.releaseBudget()
	putBuffer(r.whole)
	r.whole, r.pos = nil, 0
}

// releaseBudget gives back what this connection holds. Close calls it from
// any goroutine; the reading goroutine calls it again when its read fails,
// so budget taken while Close ran is returned too.
func (r *packetReader) releaseBudget() {
	if h := r.held.Swap(0); h > 0 {
		r.budget.give(h)
	}
}
