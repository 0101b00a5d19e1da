package milter

import (
	"bytes"
	"encoding/binary"
	"strings"
)

// envelopeTap recovers the ESMTP parameters of MAIL FROM and RCPT TO
// (NOTIFY, ORCPT, RET, ENVID, SMTPUTF8…), which go-milter v0.5.0 parses
// away: it keeps only the address. The tap reads the same byte stream as
// go-milter, from the connection's socket reads, follows the packet framing
// and queues what it finds in MAIL and RCPT packets; the session's MailFrom
// and RcptTo take their entry from the front. Both run on the connection's
// goroutine, so no locking is needed.
//
// Postfix's data is outside input: the tap never fails, never allocates more
// than maxTappedPacket per packet and keeps at most maxTapped entries.
type envelopeTap struct {
	lenBuf  [4]byte
	lenHave int    // bytes of the length field read so far
	left    int    // bytes of the current packet still to come
	first   bool   // the next packet byte is its command code
	capture bool   // the current packet is kept
	packet  []byte // the kept packet's data after the code
	code    byte
	queue   []tapped
}

type tapped struct {
	code   byte // 'M' or 'R'
	addr   string
	params []string
}

const (
	maxTappedPacket = 64 << 10
	maxTapped       = 256
)

// feed consumes bytes as they arrive from Postfix.
func (t *envelopeTap) feed(p []byte) {
	for len(p) > 0 {
		if t.left == 0 {
			n := copy(t.lenBuf[t.lenHave:], p)
			t.lenHave += n
			p = p[n:]
			if t.lenHave < 4 {
				return
			}
			t.lenHave = 0
			t.left = int(binary.BigEndian.Uint32(t.lenBuf[:]) & 0x7fffffff)
			t.first = true
			t.capture = false
			t.packet = t.packet[:0]
			if t.left == 0 {
				continue // go-milter drops the connection on this; so do we, in effect
			}
			continue
		}
		if t.first {
			t.first = false
			t.code = p[0]
			t.capture = (t.code == 'M' || t.code == 'R') && t.left <= maxTappedPacket
			p = p[1:]
			t.left--
			if t.left == 0 {
				t.done()
			}
			continue
		}
		n := min(t.left, len(p))
		if t.capture {
			t.packet = append(t.packet, p[:n]...)
		}
		p = p[n:]
		t.left -= n
		if t.left == 0 {
			t.done()
		}
	}
}

func (t *envelopeTap) done() {
	if !t.capture {
		return
	}
	fields := bytes.Split(bytes.TrimSuffix(t.packet, []byte{0}), []byte{0})
	e := tapped{code: t.code, addr: strings.Trim(string(fields[0]), "<>")}
	for _, f := range fields[1:] {
		if len(f) > 0 {
			e.params = append(e.params, string(f))
		}
	}
	if len(t.queue) == maxTapped {
		t.queue = t.queue[1:]
	}
	t.queue = append(t.queue, e)
	if cap(t.packet) > 4<<10 {
		t.packet = nil // a rare large packet: do not keep its buffer
	}
}

// take returns the parameters of the oldest queued command if it is the
// one go-milter hands over now (code and address match), dropping entries
// of any other command before it. A tap that lost step yields no
// parameters, never those of another recipient.
func (t *envelopeTap) take(code byte, addr string) []string {
	if t == nil {
		return nil
	}
	for len(t.queue) > 0 {
		e := t.queue[0]
		t.queue = t.queue[1:]
		if e.code != code {
			continue
		}
		if e.addr != addr {
			return nil
		}
		return e.params
	}
	return nil
}
