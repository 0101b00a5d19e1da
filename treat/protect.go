package treat

import (
	"bytes"
	"fmt"
	"io"

	"github.com/mailseal/mailseal/crypto/protect"
)

// Protected is the content of a message ready to be encrypted: its Content-*
// fields, body and the header fields a reader shows (Subject, From, To, …)
// in one canonical entity (RFC 9788 header protection, hp="cipher"), and
// the Subject the outer message shows instead of the real one.
type Protected struct {
	Entity []byte
	// OuterSubject replaces the outer Subject when SubjectHidden is set.
	OuterSubject  string
	SubjectHidden bool
}

// Protect builds the entity to encrypt. outer holds the message's top-level
// header fields, content its Content-* fields, body its body. subject is the
// outer Subject to show instead of the real one; "" keeps the real subject
// visible outside (it is protected inside all the same).
func Protect(outer, content []Field, body io.Reader, subject string) (*Protected, error) {
	// The milter's spool knows its size: one buffer of that size instead of
	// io.ReadAll's doubling, which allocates about twice the body.
	var buf bytes.Buffer
	if sz, ok := body.(interface{ Size() int64 }); ok && sz.Size() > 0 {
		buf.Grow(int(sz.Size()) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("treat: read body: %w", err)
	}
	raw := buf.Bytes()
	res, err := protect.Wrap(protectFields(outer), protectFields(content), raw, protect.Options{SubjectReplacement: subject})
	if err != nil {
		return nil, fmt.Errorf("treat: header protection: %w", errMalformed(err))
	}
	return &Protected{Entity: res.Entity, OuterSubject: res.OuterSubject, SubjectHidden: res.HasSubject && subject != ""}, nil
}

func protectFields(fs []Field) []protect.Field {
	out := make([]protect.Field, len(fs))
	for i, f := range fs {
		out[i] = protect.Field{Name: f.Name, Value: f.Value}
	}
	return out
}
