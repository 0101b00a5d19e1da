package milter

import (
	"context"

	"github.com/mailseal/mailseal/report"
)

// verifyPGP checks a PGP/MIME signed message with the sender's OpenPGP keys
// from the key directory.
func (p *Processor) verifyPGP(ctx context.Context, m *original, from string, msg []byte) *report.PGP {
	// TODO(inbound): pgpmime.Verify lands with branch pdfpgp.
	return nil
}
