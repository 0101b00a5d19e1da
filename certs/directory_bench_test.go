package certs

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkAvailability is the RCPT-time question for a partner with one
// certificate and one OpenPGP key (store read, parse and checks of both).
func BenchmarkAvailability(b *testing.B) {
	ctx := context.Background()
	clock := newFakeClock()
	s, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), "bench.db"), clock.Now())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	d := NewDirectory(s, clock.Now)
	c := makePartnerCert(b, partnerCert{key: "rsa-2048", emails: []string{"bob@partner.example"}})
	if res, err := d.ImportCertificates(ctx, "c", c.Raw, ImportOptions{}); err != nil || len(res.Stored) != 1 {
		b.Fatal(err, res)
	}
	e := makePGPEntity(b, pgpSpec{email: "bob@partner.example"})
	if res, err := d.ImportPGPKeys(ctx, "k", pgpPublic(b, false, e), ImportOptions{}); err != nil || len(res.Stored) != 1 {
		b.Fatal(err, res)
	}
	b.ResetTimer()
	for b.Loop() {
		if smime, pgp, err := d.Availability(ctx, "Bob@partner.example"); err != nil || !smime || !pgp {
			b.Fatal(smime, pgp, err)
		}
	}
}
