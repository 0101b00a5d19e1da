// Package treat is the home of the treatments a message copy can get:
// sign (S/MIME multipart/signed), and — as they land — S/MIME and PGP/MIME
// encryption with header protection, the PDF fallback, and the inbound
// verify and decrypt steps. Each treatment is a small step with its own
// file and tests: header fields and bytes in, a new MIME entity out. Steps
// know nothing of milters, SMTP replies or the policy engine; the milter's
// Processor picks the steps from the policy's decision and turns their
// errors into replies (see the error predicates below).
package treat

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/mailseal/mailseal/crypto/protect"
	"github.com/mailseal/mailseal/crypto/smime"
)

// Field is one header field. Value may be folded ("\n\t" as Postfix shows
// it, or CRLF); Bytes writes it with CRLF.
type Field struct{ Name, Value string }

// Entity is a MIME entity a step produced: its header fields (Content-Type
// first) and its body, CRLF, 7-bit clean. The caller replaces the message's
// Content-* and MIME-Version fields by Fields and the body by Body.
type Entity struct {
	Fields []Field
	Body   []byte
}

// ContentType returns the value of the entity's Content-Type field.
func (e *Entity) ContentType() string {
	for _, f := range e.Fields {
		if strings.EqualFold(f.Name, "Content-Type") {
			return f.Value
		}
	}
	return ""
}

// Bytes is the whole entity: header fields, blank line, body. It is what an
// outer layer (encryption) wraps.
func (e *Entity) Bytes() []byte {
	var b bytes.Buffer
	b.Grow(len(e.Body) + 256)
	for _, f := range e.Fields {
		writeField(&b, f)
	}
	b.WriteString("\r\n")
	b.Write(e.Body)
	return b.Bytes()
}

func writeField(b *bytes.Buffer, f Field) {
	b.WriteString(f.Name)
	b.WriteString(": ")
	v := strings.ReplaceAll(strings.ReplaceAll(f.Value, "\r\n", "\n"), "\n", "\r\n")
	b.WriteString(v)
	b.WriteString("\r\n")
}

// ErrMalformed means the message cannot be processed as it is (its MIME
// structure is broken): permanent, the same message fails again.
var ErrMalformed = smime.ErrMalformed

// ErrTooLarge means the message exceeds what a step accepts: permanent.
var ErrTooLarge = smime.ErrTooLarge

// errMalformed marks a header-protection failure as ErrMalformed, so the
// milter refuses the message (554) instead of retrying it for days.
func errMalformed(err error) error {
	if errors.Is(err, protect.ErrMalformed) && !errors.Is(err, ErrMalformed) {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return err
}

// IsPermanent reports whether err will recur for the same message, so the
// message should be refused (5xx) rather than tempfailed.
func IsPermanent(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge)
}
