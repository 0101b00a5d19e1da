package main

import (
	"crypto/x509"
	"fmt"

	"github.com/mailseal/mailseal/config"
	"github.com/mailseal/mailseal/milter"
	"github.com/mailseal/mailseal/revocation"
	"github.com/mailseal/mailseal/trust"
)

// inboundWiring is what the inbound settings need besides the config: our
// own CA (mail between internal users verifies too) and the revocation
// checker, built once so its cache survives reloads.
type inboundWiring struct {
	own     *x509.Certificate
	checker *revocation.Checker
}

func newInboundWiring(cfg *config.Config, own *x509.Certificate) inboundWiring {
	return inboundWiring{own: own, checker: revocation.NewChecker(revocation.Options{
		Timeout: cfg.Trust.RevocationTimeout, CacheMax: cfg.Trust.RevocationCacheMax})}
}

// inboundFrom builds the trust.* part of the processor's settings: the
// verifier reads the anchor files now, so a reload picks up changed ones.
func inboundFrom(cfg *config.Config, w inboundWiring) (milter.InboundSettings, error) {
	opts := trust.Options{
		AnchorFiles: cfg.Trust.AnchorFiles,
		SystemRoots: cfg.Trust.SystemRoots,
		Revocation:  trust.Mode(cfg.Trust.Revocation),
	}
	if w.own != nil {
		opts.Own = []*x509.Certificate{w.own}
	}
	if cfg.Trust.Revocation != string(trust.RevocationOff) && w.checker != nil {
		opts.Checker = w.checker
	}
	v, err := trust.New(opts)
	if err != nil {
		return milter.InboundSettings{}, fmt.Errorf("trust.anchor_files: %w", err)
	}
	report := cfg.Trust.Report
	if report == "off" {
		report = ""
	}
	return milter.InboundSettings{
		Verifier:   v,
		Revocation: trust.Mode(cfg.Trust.Revocation),
		Report:     report,
		Tags: milter.SubjectTags{
			Pass:       cfg.Trust.SubjectTags.Pass,
			Fail:       cfg.Trust.SubjectTags.Fail,
			Unverified: cfg.Trust.SubjectTags.Unverified,
		},
	}, nil
}
