package treat

import (
	"fmt"
	"io"

	"github.com/mailseal/mailseal/crypto/smime"
)

// Sign turns the message content (its Content-* fields and body) into a
// multipart/signed entity with the signer's detached S/MIME signature.
func Sign(s *smime.Signer, content []Field, body io.Reader) (*Entity, error) {
	fields := make([]smime.HeaderField, len(content))
	for i, f := range content {
		fields[i] = smime.HeaderField{Name: f.Name, Value: f.Value}
	}
	signed, err := s.Sign(fields, body)
	if err != nil {
		return nil, fmt.Errorf("treat: sign: %w", err)
	}
	return &Entity{Fields: []Field{{"Content-Type", signed.ContentType}}, Body: signed.Body}, nil
}
