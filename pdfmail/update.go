package pdfmail

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// update writes an incremental update (ISO 32000-2, 7.5.6) after the PDF pdfcpu
// wrote: new versions of the embedded files' streams, each streamed from its
// source through AES-256-CBC with the document's file key, as revision 6 wants
// (AESV3: the key is used as it is, a random IV leads every stream, PKCS#7
// padding), and a cross-reference section for them.
type update struct {
	out  *countingWriter // the whole file so far: offsets are its counts
	bw   *bufio.Writer
	key  []byte
	next int // the next unused object number
	offs map[int]int64
}

func newUpdate(out *countingWriter, key []byte, size int) *update {
	u := &update{out: out, key: key, next: size, offs: map[int]int64{}}
	u.bw = bufio.NewWriterSize(out, 64<<10)
	return u
}

// pos is the offset of the next byte written.
func (u *update) pos() int64 { return u.out.n + int64(u.bw.Buffered()) }

// stream writes the embedded file stream e.stream with the bytes body writes,
// deflated first when flate is set. Its length, known only at the end, is a
// separate object that follows it.
func (u *update) stream(e embedded, flate bool, body func(io.Writer) error) error {
	lenObj := u.next
	u.next++
	u.offs[e.stream] = u.pos()
	filter := ""
	if flate {
		filter = "/Filter/FlateDecode"
	}
	fmt.Fprintf(u.bw, "%d 0 obj\n<</Type/EmbeddedFile/Params %d 0 R/Length %d 0 R%s>>\nstream\n", e.stream, e.params, lenObj, filter)
	ew, err := newAESWriter(u.bw, u.key)
	if err != nil {
		return err
	}
	if flate {
		zw, err := zlib.NewWriterLevel(ew, zlib.BestSpeed)
		if err != nil {
			return err
		}
		if err := body(zw); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
	} else if err := body(ew); err != nil {
		return err
	}
	if err := ew.Close(); err != nil {
		return err
	}
	fmt.Fprintf(u.bw, "\nendstream\nendobj\n")
	u.offs[lenObj] = u.pos()
	_, err = fmt.Fprintf(u.bw, "%d 0 obj\n%d\nendobj\n", lenObj, ew.n)
	return err
}

// finish writes the cross-reference section of the update and its trailer:
// trailer's entries plus Size and Prev (the offset of pdfcpu's xref table).
func (u *update) finish(trailer types.Dict, prev int64) error {
	nrs := make([]int, 0, len(u.offs))
	for nr := range u.offs {
		nrs = append(nrs, nr)
	}
	sort.Ints(nrs)
	xref := u.pos()
	u.bw.WriteString("xref\n")
	for _, nr := range nrs {
		// One subsection per object: valid, and the objects are few.
		fmt.Fprintf(u.bw, "%d 1\n%010d 00000 n\r\n", nr, u.offs[nr])
	}
	trailer.Insert("Size", types.Integer(u.next))
	trailer.Insert("Prev", types.Integer(prev))
	fmt.Fprintf(u.bw, "trailer\n%s\nstartxref\n%d\n%%%%EOF\n", trailer.PDFString(), xref)
	if err := u.bw.Flush(); err != nil {
		return fmt.Errorf("pdfmail: write encrypted PDF: %w", err)
	}
	return u.out.err
}

// aesWriter encrypts what is written to it with AES-CBC under a random IV, which
// it writes first; Close adds the PKCS#7 padding (a whole block when the data
// fills its last one), as pdfcpu and every PDF reader expect.
type aesWriter struct {
	w       io.Writer
	mode    cipher.BlockMode
	pending []byte // less than one block, not yet encrypted
	buf     []byte
	n       int64 // bytes written to w
	err     error
}

func newAESWriter(w io.Writer, key []byte) (*aesWriter, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("pdfmail: AES key: %w", err)
	}
	iv := make([]byte, aesBlock)
	if _, err := io.ReadFull(rand.Reader, iv); err != nil {
		return nil, fmt.Errorf("pdfmail: AES IV: %w", err)
	}
	a := &aesWriter{w: w, mode: cipher.NewCBCEncrypter(block, iv), buf: make([]byte, 32<<10)}
	a.write(iv)
	return a, a.err
}

func (a *aesWriter) write(p []byte) {
	if a.err != nil {
		return
	}
	n, err := a.w.Write(p)
	a.n += int64(n)
	a.err = err
}

func (a *aesWriter) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 && a.err == nil {
		// Fill buf with the pending bytes and as much of p as makes whole blocks.
		k := copy(a.buf, a.pending)
		take := min(len(p), len(a.buf)-k)
		if (k+take)%aesBlock != 0 && k+take >= aesBlock {
			take -= (k + take) % aesBlock
		}
		copy(a.buf[k:], p[:take])
		p = p[take:]
		whole := (k + take) / aesBlock * aesBlock
		a.pending = append(a.pending[:0], a.buf[whole:k+take]...)
		if whole > 0 {
			a.mode.CryptBlocks(a.buf[:whole], a.buf[:whole])
			a.write(a.buf[:whole])
		}
	}
	if a.err != nil {
		return 0, a.err
	}
	return total, nil
}

// Close pads and encrypts the last block.
func (a *aesWriter) Close() error {
	pad := aesBlock - len(a.pending)
	last := append(a.pending, bytes.Repeat([]byte{byte(pad)}, pad)...)
	a.mode.CryptBlocks(last, last)
	a.write(last)
	a.pending = nil
	return a.err
}

// countingWriter counts what passes to w and keeps the last bytes, where pdfcpu's
// output names the offset of its cross-reference table.
type countingWriter struct {
	w    io.Writer
	n    int64
	tail []byte
	err  error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	const keep = 64
	if len(p) >= keep {
		c.tail = append(c.tail[:0], p[len(p)-keep:]...)
	} else {
		c.tail = append(c.tail, p...)
		if len(c.tail) > keep {
			c.tail = append(c.tail[:0], c.tail[len(c.tail)-keep:]...)
		}
	}
	return n, err
}

// startxref is the offset after the last "startxref" written.
func (c *countingWriter) startxref() (int64, error) {
	i := bytes.LastIndex(c.tail, []byte("startxref"))
	if i < 0 {
		return 0, errors.New("pdfmail: pdfcpu wrote no startxref")
	}
	f := bytes.Fields(c.tail[i+len("startxref"):])
	if len(f) == 0 {
		return 0, errors.New("pdfmail: pdfcpu wrote no startxref offset")
	}
	off, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil || off <= 0 || off >= c.n {
		return 0, fmt.Errorf("pdfmail: pdfcpu wrote startxref %q", f[0])
	}
	return off, nil
}
