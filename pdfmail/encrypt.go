package pdfmail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// ErrPassword is returned for an empty password, one longer than 127 bytes, or an
// owner password equal to the user password.
var ErrPassword = errors.New("pdfmail: unusable passwords")

// aesBlock is the AES block size: the IV in front of every encrypted stream and
// the unit of its padding.
const aesBlock = 16

var disableConfigDir sync.Once

// Encrypt embeds the original message and every attachment into doc's PDF and
// encrypts it: AES-256, revision 6 (PDF 2.0), printing allowed, changes not. It
// returns the whole PDF; EncryptTo writes it out instead.
func Encrypt(doc *Document, userPassword, ownerPassword string) ([]byte, error) {
	if doc == nil {
		return nil, errNoDocument
	}
	var out bytes.Buffer
	out.Grow(doc.sizeHint())
	if err := doc.EncryptTo(&out, userPassword, ownerPassword); err != nil {
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

// sizeHint bounds the encrypted PDF's size (message.eml counted uncompressed), so
// an output buffer grows at most once.
func (d *Document) sizeHint() int {
	n := int64(len(d.pdf)) + d.size + 64<<10
	for _, a := range d.attachments {
		n += a.Size + 1024
	}
	return int(n)
}

// EncryptTo writes the encrypted PDF (see Encrypt) to w. Neither the message nor
// any attachment is held in memory on the way: pdfcpu writes the rendered pages
// and small placeholders for the embedded files, and an incremental update
// (ISO 32000-2, 7.5.6) then replaces each placeholder by the file itself, read
// again from the message, compressed (message.eml) and AES-encrypted as it is
// written. pdfcpu would need every embedded file as one slice and allocate an
// encrypted copy of it while writing, several times the message in all.
func (d *Document) EncryptTo(w io.Writer, userPassword, ownerPassword string) (err error) {
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

	orig, err := placeholder(ctx, originalName, "original message", d.size, d.modTime)
	if err != nil {
		return err
	}
	atts := make([]embedded, len(d.attachments))
	leaves := make([]int, len(d.attachments))
	for i, a := range d.attachments {
		if atts[i], err = placeholder(ctx, a.Name, a.Type, a.Size, d.modTime); err != nil {
			return err
		}
		leaves[i] = a.leaf
	}

	cw := &countingWriter{w: w}
	if err := api.WriteContext(ctx, cw); err != nil {
		return fmt.Errorf("pdfmail: write encrypted PDF: %w", err)
	}
	prev, err := cw.startxref()
	if err != nil {
		return err
	}
	if ctx.E == nil || ctx.E.R != 6 || !ctx.AES4Streams || len(ctx.EncKey) != 32 || ctx.Encrypt == nil || ctx.Size == nil {
		return errors.New("pdfmail: pdfcpu did not encrypt with AES-256 revision 6")
	}
	up := newUpdate(cw, ctx.EncKey, *ctx.Size)
	err = up.stream(orig, true, func(w io.Writer) error {
		r, err := d.source()
		if err != nil {
			return err
		}
		_, err = io.Copy(w, r)
		return err
	})
	if err != nil {
		return fmt.Errorf("pdfmail: embed %s: %w", originalName, err)
	}
	done := 0
	err = eachAttachment(d.source, leaves, func(i int, r io.Reader) error {
		done++
		if err := up.stream(atts[i], false, func(w io.Writer) error {
			_, err := io.Copy(w, r)
			return err
		}); err != nil {
			return fmt.Errorf("pdfmail: embed %q: %w", d.attachments[i].Name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if done != len(atts) {
		// The same bytes walked the same way twice: cannot happen unless the
		// message changed under us.
		return fmt.Errorf("pdfmail: embed: found %d of %d attachments again (message changed?)", done, len(atts))
	}
	trailer := types.NewDict()
	trailer.Insert("Root", *ctx.Root)
	if ctx.Info != nil {
		trailer.Insert("Info", *ctx.Info)
	}
	trailer.Insert("Encrypt", *ctx.Encrypt)
	if ctx.ID != nil {
		trailer.Insert("ID", ctx.ID)
	}
	return up.finish(trailer, prev)
}

// embedded is a placeholder pdfcpu wrote for one embedded file: the object numbers
// of its stream and of its parameter dictionary (size, date).
type embedded struct{ stream, params int }

// placeholder adds an embedded file whose stream is empty; the update written
// after pdfcpu's output gives that stream its content. The parameters are a
// separate object, written (and their date string encrypted) by pdfcpu, so the
// update's stream refers to them and holds no string to encrypt.
func placeholder(ctx *model.Context, name, desc string, size int64, mod time.Time) (embedded, error) {
	xt := ctx.XRefTable
	params := types.NewDict()
	params.InsertInt("Size", int(size))
	params.Insert("ModDate", types.StringLiteral(types.DateString(mod)))
	pr, err := xt.IndRefForNewObject(params)
	if err != nil {
		return embedded{}, fmt.Errorf("pdfmail: embed %q: %w", name, err)
	}
	sd := types.StreamDict{Dict: types.NewDict(), Raw: make([]byte, 0, aesBlock)}
	l := int64(0)
	sd.StreamLength = &l
	sd.InsertInt("Length", 0)
	sd.InsertName("Type", "EmbeddedFile")
	sd.Insert("Params", *pr)
	ir, err := xt.IndRefForNewObject(sd)
	if err != nil {
		return embedded{}, fmt.Errorf("pdfmail: embed %q: %w", name, err)
	}
	fs, err := xt.NewFileSpecDict(name, name, desc, *ir)
	if err != nil {
		return embedded{}, fmt.Errorf("pdfmail: embed %q: %w", name, err)
	}
	fsr, err := xt.IndRefForNewObject(fs)
	if err != nil {
		return embedded{}, fmt.Errorf("pdfmail: embed %q: %w", name, err)
	}
	if err := xt.LocateNameTree("EmbeddedFiles", true); err != nil {
		return embedded{}, fmt.Errorf("pdfmail: embed %q: %w", name, err)
	}
	m := model.NameMap{name: []types.Dict{fs}}
	if err := xt.Names["EmbeddedFiles"].Add(xt, name, *fsr, m, []string{"F", "UF"}); err != nil {
		return embedded{}, fmt.Errorf("pdfmail: embed %q: %w", name, err)
	}
	return embedded{stream: ir.ObjectNumber.Value(), params: pr.ObjectNumber.Value()}, nil
}
