package milter

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"testing"
)

// wholePackets is the reference: the prefix of b made of complete packets
// of 1 to maxPacket bytes, and whether framing stopped at a bad length.
func wholePackets(b []byte) (prefix []byte, bad bool) {
	i := 0
	for len(b)-i >= 4 {
		n := int(binary.BigEndian.Uint32(b[i:]))
		if n == 0 || n > maxPacket {
			return b[:i], true
		}
		if len(b)-i-4 < n {
			break
		}
		i += 4 + n
	}
	return b[:i], false
}

func framed(data string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	return append(b, data...)
}

// FuzzPacketReader: whatever Postfix (or anyone on the milter port) sends,
// the reader hands on exactly the complete packets, in order, never a part
// of one, never panics, and gives all budget back.
func FuzzPacketReader(f *testing.F) {
	f.Add(framed("Ohello"), 3, 16)
	f.Add(append(framed("M<a@b>\x00"), framed(string(bytes.Repeat([]byte("B"), 40000)))...), 7, 1<<20)
	f.Add(append(framed("A"), 0, 0, 0, 0), 1, 64)
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 'x'}, 2, 64)
	f.Add(framed("Dtrailing")[:6], 4, 64)
	f.Fuzz(func(t *testing.T, in []byte, readSize int, budget int) {
		if readSize <= 0 || readSize > 1<<17 {
			readSize = 4096
		}
		if budget <= 0 {
			budget = 1 << 30
		}
		b := &byteBudget{limit: int64(budget)}
		r := &packetReader{in: bufio.NewReaderSize(bytes.NewReader(in), 16), budget: b}
		var out bytes.Buffer
		buf := make([]byte, readSize)
		var err error
		for err == nil {
			var n int
			n, err = r.Read(buf)
			out.Write(buf[:n])
		}
		want, bad := wholePackets(in)
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			if !bytes.Equal(out.Bytes(), want) || bad {
				t.Fatalf("ended with %v after %d bytes; want the %d bytes of whole packets (bad length %v)", err, out.Len(), len(want), bad)
			}
		case bytes.HasPrefix(want, out.Bytes()):
			// Refused: a bad length or the budget; what came before is whole.
			if _, ok := err.(errBudget); !ok && !bad {
				t.Fatalf("unexpected error %v", err)
			}
		default:
			t.Fatalf("handed on bytes that are not whole packets: %d bytes, err %v", out.Len(), err)
		}
		r.releaseBudget()
		if used := b.used.Load(); used != 0 {
			t.Fatalf("budget not given back: %d", used)
		}
	})
}

// BenchmarkPacketReader measures handing packets through to go-milter:
// 10 KB body chunks (one read buffer) and 64 KiB chunks (the budgeted path).
func BenchmarkPacketReader(b *testing.B) {
	for _, size := range []int{10 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			stream := bytes.Repeat(framed("B"+string(bytes.Repeat([]byte("x"), size-1))), 16)
			budget := &byteBudget{limit: 64 << 20}
			buf := make([]byte, size)
			b.SetBytes(int64(len(stream)))
			b.ReportAllocs()
			for b.Loop() {
				r := &packetReader{in: bufio.NewReaderSize(bytes.NewReader(stream), readBuffer), budget: budget}
				for {
					if _, err := io.ReadFull(r, buf[:4]); err != nil {
						break
					}
					if _, err := io.ReadFull(r, buf[:size]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
