package milter

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/crypto/pgpmime"
	"github.com/mailseal/mailseal/report"
	"github.com/mailseal/mailseal/treat"
)

// PGPKeyLister is the key directory's listing of partners' OpenPGP keys by
// address (certs.Directory has it): the keys a PGP/MIME signature from
// that address may be made with.
type PGPKeyLister interface {
	PGPKeys(ctx context.Context, addr string) ([]*certs.PartnerPGPKey, error)
}

// verifyPGP checks a PGP/MIME signed message (RFC 3156) with the OpenPGP
// keys the key directory holds for the From: address. A signature by any
// other key proves nothing about the sender ("neutral"). There is no
// Authentication-Results method for OpenPGP; the verdict goes into
// SignatureHeader as pgp=RESULT.
func (p *Processor) verifyPGP(ctx context.Context, m *original, from string, fields []treat.Field, body []byte) *report.PGP {
	out := &report.PGP{}
	if from == "" {
		out.Result, out.Code, out.Reason = "neutral", "pgp-unknown-key", "The message has no single From: address to look up the sender's OpenPGP keys for."
		return out
	}
	lister, ok := p.keySources().dir.(PGPKeyLister)
	var recs []*certs.PartnerPGPKey
	if ok {
		var err error
		if recs, err = lister.PGPKeys(ctx, from); err != nil {
			p.log.Warn("inbound PGP verification: key lookup failed", "queue_id", m.tx.QueueID, "from", from, "err", err)
			out.Result, out.Code, out.Reason = "temperror", "pgp-internal", "The sender's OpenPGP keys could not be looked up right now."
			return out
		}
	}
	now := time.Now()
	var keys []*pgpmime.PublicKey
	for _, r := range recs {
		// A key that no longer parses (expired, revoked) verifies nothing.
		if k, err := pgpmime.ParsePublicKey(r.KeyData, now); err == nil {
			keys = append(keys, k)
		}
	}
	var ct string
	for _, f := range fields {
		if strings.EqualFold(f.Name, "Content-Type") {
			ct = strings.NewReplacer("\r", "", "\n", "").Replace(f.Value) // unfolded
			break
		}
	}
	v, err := pgpmime.VerifyAt(ct, body, keys, now)
	if err != nil {
		out.Result, out.Code, out.Reason = "permerror", "pgp-malformed", "The OpenPGP signature could not be read: "+err.Error()+"."
		if errors.Is(err, pgpmime.ErrNotPGPMIME) {
			out.Reason = "The message is not signed as RFC 3156 PGP/MIME."
		}
		return out
	}
	out.Fingerprint, out.Signer, out.Created = v.Fingerprint, v.Signer, v.Created
	for _, k := range keys {
		if k.Info().Fingerprint == v.Fingerprint {
			out.Expires = k.Info().Expires
		}
	}
	switch v.Status {
	case pgpmime.SignatureGood:
		out.Result = "pass"
		return out
	case pgpmime.UnknownSigner:
		out.Result, out.Code = "neutral", "pgp-unknown-key"
		if out.Fingerprint == "" && v.KeyID != "" {
			out.Fingerprint = "key ID " + v.KeyID
		}
	case pgpmime.SignatureKeyExpired:
		out.Result, out.Code = "fail", "pgp-key-expired"
	case pgpmime.SignatureKeyRevoked:
		out.Result, out.Code = "fail", "pgp-key-revoked"
	case pgpmime.SignatureWeak:
		out.Result, out.Code = "fail", "pgp-weak"
	default:
		out.Result, out.Code = "fail", "pgp-bad-signature"
	}
	out.Reason = "OpenPGP: " + v.Problem + "."
	return out
}
