package certs

import (
	"context"
	"crypto/x509"
)

// HarvestOutcome says what Harvest did with a certificate.
type HarvestOutcome string

// Outcomes of Harvest.
const (
	// HarvestAdded: a new certificate, stored as harvested and unverified.
	HarvestAdded HarvestOutcome = "added"
	// HarvestRefreshed: harvested before; its capabilities and last-seen
	// time were refreshed.
	HarvestRefreshed HarvestOutcome = "refreshed"
	// HarvestKept: an administrator imported it; provenance and trust stay
	// as they are (capabilities and last-seen time are refreshed).
	HarvestKept HarvestOutcome = "kept"
	// HarvestRemoved: an administrator removed it; it stays removed.
	HarvestRemoved HarvestOutcome = "removed"
	// HarvestUnusable: it cannot be encrypted to (signing-only key usage, a
	// weak key, expired …); not stored. Reason says why.
	HarvestUnusable HarvestOutcome = "unusable"
)

// HarvestResult is what Harvest did, with the certificate's fingerprint
// and, for HarvestUnusable, the reason.
type HarvestResult struct {
	Outcome     HarvestOutcome
	Fingerprint string
	Emails      []string
	Reason      string
}

// Harvest stores the certificate of a partner whose signature on inbound
// mail verified (the caller's verdict was pass), so that the next mail to
// the partner is encrypted automatically (Availability finds it). caps is
// the DER SMIMECapabilities from the signature's signed attributes, nil when
// it had none; it is kept so the cipher can follow what the partner
// announced.
//
// A certificate the directory already holds keeps its provenance and trust:
// harvesting never overrides an administrator's import or removal. A
// certificate that cannot be encrypted to (the same checks as an import) is
// not stored. The error is for store failures only.
func (d *Directory) Harvest(ctx context.Context, cert *x509.Certificate, caps []byte) (HarvestResult, error) {
	res := HarvestResult{Fingerprint: certFingerprint(cert), Emails: certAddresses(cert)}
	now := d.now()
	if isCACert(cert) {
		res.Outcome, res.Reason = HarvestUnusable, "a CA certificate, not a recipient certificate"
		return res, nil
	}
	if err := checkRecipientCert(cert, now); err != nil {
		res.Outcome, res.Reason = HarvestUnusable, err.Error()
		return res, nil
	}
	if len(caps) == 0 {
		caps = nil
	}
	rec := &PartnerCert{
		Fingerprint:  res.Fingerprint,
		CertDER:      cert.Raw,
		Emails:       res.Emails,
		Subject:      cert.Subject.String(),
		NotBefore:    cert.NotBefore,
		NotAfter:     cert.NotAfter,
		Provenance:   ProvenanceHarvested,
		Trust:        TrustUnverified,
		AddedAt:      now,
		Capabilities: caps,
		SeenAt:       now,
	}
	out, err := d.store.HarvestPartnerCert(ctx, rec)
	if err != nil {
		return res, temporary(err)
	}
	res.Outcome = out
	return res, nil
}
