package treat

import (
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
	raw, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("treat: read body: %w", err)
	}
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
