package pdfmail

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/filter"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// ErrPassword is returned for an empty password, one longer than 127 bytes, or an
// owner password equal to the user password.
var ErrPassword = errors.New("pdfmail: unusable passwords")

// aesBlock is the room pdfcpu's AES padding appends to a stream: with this much spare
// capacity the append does not copy the stream.
const aesBlock = 16

var disableConfigDir sync.Once

// bigDocument is the size above which garbage is collected before and while the PDF
// is written (see collect and collectingWriter).
const bigDocument = 8 << 20

// Encrypt embeds the original message and every attachment into doc's PDF and
// encrypts it: AES-256, revision 6 (PDF 2.0), printing allowed, changes not.
func Encrypt(doc *Document, userPassword, ownerPassword string) ([]byte, error) {
	if doc == nil {
		return nil, errNoDocument
	}
	if err := doc.compress(); err != nil {
		return nil, err
	}
	doc.collect()
	var out bytes.Buffer
	out.Grow(doc.sizeHint())
	if err := doc.encryptTo(&out, userPassword, ownerPassword, false); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Build is Render followed by Encrypt.
func Build(msg []byte, opts Options, userPassword, ownerPassword string) ([]byte, error) {
	doc, err := Render(msg, opts)
	if err != nil {
		return nil, err
	}
	return Encrypt(doc, userPassword, ownerPassword)
}

var errNoDocument = errors.New("pdfmail: encrypt: no rendered document")

// compress deflates the original message once (kept for a second Encrypt).
func (d *Document) compress() error {
	if d.eml != nil {
		return nil
	}
	eml, err := deflate(d.original)
	if err != nil {
		return err
	}
	d.eml = eml
	return nil
}

// sizeHint estimates the encrypted PDF's size, so the output grows once.
func (d *Document) sizeHint() int {
	n := len(d.pdf) + len(d.eml) + 64<<10
	for _, a := range d.attachments {
		n += len(a.Data) + 1024
	}
	return n
}

// EncryptTo writes the encrypted PDF to w (see Encrypt). Streaming into w saves the
// memory of one whole PDF.
func (d *Document) EncryptTo(w io.Writer, userPassword, ownerPassword string) error {
	return d.encryptTo(w, userPassword, ownerPassword, true)
}

// collect runs the garbage collector for a big document. What parsing and layout
// left behind is garbage by now; collecting it before pdfcpu allocates an encrypted
// copy of each stream keeps the heap near what is alive (message, attachments,
// compressed original): a 25 MB message peaks about 0.5 × its size lower. It is
// cheap: the big slices hold no pointers to mark.
func (d *Document) collect() {
	if d.sizeHint() > bigDocument {
		runtime.GC()
	}
}

func (d *Document) encryptTo(w io.Writer, userPassword, ownerPassword string, collect bool) (err error) {
	if d == nil || len(d.pdf) == 0 {
		return errNoDocument
	}
	// Revision 6 uses at most 127 bytes of a password: a longer one would be cut.
	if userPassword == "" || ownerPassword == "" || userPassword == ownerPassword ||
		len(userPassword) > 127 || len(ownerPassword) > 127 {
		return ErrPassword
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pdfmail: encrypt: panic in pdfcpu: %v", r)
		}
	}()
	// pdfcpu would otherwise create a config directory in $HOME.
	disableConfigDir.Do(api.DisableConfigDir)

	conf := model.NewDefaultConfiguration()
	conf.Cmd = model.ENCRYPT
	conf.UserPW = userPassword
	conf.OwnerPW = ownerPassword
	conf.EncryptUsingAES = true
	conf.EncryptKeyLength = 256
	// Printing and screen readers (bit 10, "extract for accessibility") are
	// allowed; changes, form filling, assembly and copying are not.
	conf.Permissions = model.PermissionsPrint | model.PermissionExtractRev3

	ctx, err := api.ReadContext(bytes.NewReader(d.pdf), conf)
	if err != nil {
		return fmt.Errorf("pdfmail: read rendered PDF: %w", err)
	}
	// AES-256 revision 6 needs a PDF 2.0 header; with 1.x pdfcpu writes the
	// deprecated revision 5.
	v := model.V20
	ctx.HeaderVersion = &v
	ctx.RootVersion = nil

	if err := d.compress(); err != nil {
		return err
	}
	if err := embed(ctx, originalName, "original message", d.eml, true, len(d.original), d.modTime); err != nil {
		return err
	}
	for _, a := range d.attachments {
		if err := embed(ctx, a.Name, a.Type, a.Data, false, len(a.Data), d.modTime); err != nil {
			return err
		}
	}
	if collect {
		d.collect()
	}
	if d.sizeHint() > bigDocument {
		w = &collectingWriter{w: w}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := api.WriteContext(ctx, bw); err != nil {
		return fmt.Errorf("pdfmail: write encrypted PDF: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("pdfmail: write encrypted PDF: %w", err)
	}
	return nil
}

// deflate compresses the original message (mail text compresses well, base64 by a
// quarter) into a slice with room for the AES padding.
func deflate(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(b)*4/5 + 1024)
	zw, err := zlib.NewWriterLevel(&buf, zlib.BestSpeed)
	if err != nil {
		return nil, fmt.Errorf("pdfmail: compress original: %w", err)
	}
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("pdfmail: compress original: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("pdfmail: compress original: %w", err)
	}
	out := buf.Bytes()
	if cap(out)-len(out) < aesBlock {
		out = append(make([]byte, 0, len(out)+aesBlock), out...)
	}
	return out, nil
}

// embed adds raw as an embedded file. It builds the stream itself instead of using
// ctx.AddAttachment, which copies the data and keeps both a plain and a compressed
// copy; here the context refers to raw without copying.
func embed(ctx *model.Context, name, desc string, raw []byte, deflated bool, size int, mod time.Time) error {
	xt := ctx.XRefTable
	if cap(raw)-len(raw) < aesBlock {
		raw = append(make([]byte, 0, len(raw)+aesBlock), raw...)
	}
	sd := types.StreamDict{Dict: types.NewDict(), Raw: raw}
	if deflated {
		sd.FilterPipeline = []types.PDFFilter{{Name: filter.Flate}}
		sd.InsertName("Filter", filter.Flate)
	}
	l := int64(len(raw))
	sd.StreamLength = &l
	sd.InsertInt("Length", len(raw))
	sd.InsertName("Type", "EmbeddedFile")
	params := types.NewDict()
	params.InsertInt("Size", size)
	params.Insert("ModDate", types.StringLiteral(types.DateString(mod)))
	sd.Insert("Params", params)
	ir, err := xt.IndRefForNewObject(sd)
	if err != nil {
		return fmt.Errorf("pdfmail: embed %q: %w", name, err)
	}
	fs, err := xt.NewFileSpecDict(name, name, desc, *ir)
	if err != nil {
		return fmt.Errorf("pdfmail: embed %q: %w", name, err)
	}
	fsr, err := xt.IndRefForNewObject(fs)
	if err != nil {
		return fmt.Errorf("pdfmail: embed %q: %w", name, err)
	}
	if err := xt.LocateNameTree("EmbeddedFiles", true); err != nil {
		return fmt.Errorf("pdfmail: embed %q: %w", name, err)
	}
	m := model.NameMap{name: []types.Dict{fs}}
	if err := xt.Names["EmbeddedFiles"].Add(xt, name, *fsr, m, []string{"F", "UF"}); err != nil {
		return fmt.Errorf("pdfmail: embed %q: %w", name, err)
	}
	return nil
}

// collectingWriter runs the garbage collector after every bigDocument/2 bytes written.
// pdfcpu allocates an encrypted copy of each stream and drops it once written; with
// Go's default GC pacing the copies of several big streams would all stay in memory
// until the heap doubles. Collecting as the output goes keeps at most about one
// such copy alive.
type collectingWriter struct {
	w       io.Writer
	written int
}

func (c *collectingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.written += n
	if c.written >= bigDocument/2 {
		c.written = 0
		runtime.GC()
	}
	return n, err
}
