package certs

import (
	"context"
	"crypto/x509"
	"testing"
)

func TestHarvest(t *testing.T) {
	ctx := context.Background()
	enc := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	email := []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
	caps := []byte{0x30, 0x0b, 0x30, 0x09, 0x06, 0x07, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x03}

	t.Run("new certificate is stored harvested and found for encryption", func(t *testing.T) {
		d, _ := testDirectory(t, newFakeClock())
		c := makePartnerCert(t, partnerCert{key: "rsa-2048", emails: []string{"Bob@Partner.Example"}, ku: enc, eku: email})
		if s, _, _ := d.Availability(ctx, "bob@partner.example"); s {
			t.Fatal("available before harvesting")
		}
		res, err := d.Harvest(ctx, c, caps)
		if err != nil || res.Outcome != HarvestAdded {
			t.Fatalf("Harvest = %+v, %v", res, err)
		}
		got, rec, err := d.SMIMECertificate(ctx, "bob@partner.example")
		if err != nil || !got.Equal(c) {
			t.Fatalf("lookup after harvest: %v", err)
		}
		if rec.Provenance != ProvenanceHarvested || rec.Trust != TrustUnverified || string(rec.Capabilities) != string(caps) || rec.SeenAt.IsZero() {
			t.Errorf("record = %+v", rec)
		}
		// Seen again: refreshed, still one row.
		res, err = d.Harvest(ctx, c, nil)
		if err != nil || res.Outcome != HarvestRefreshed {
			t.Fatalf("second Harvest = %+v, %v", res, err)
		}
		all, _ := d.ExternalCertificates(ctx, "")
		if len(all) != 1 || string(all[0].Capabilities) != string(caps) {
			t.Errorf("after refresh without capabilities: %d rows, caps %x", len(all), all[0].Capabilities)
		}
	})

	t.Run("an imported certificate keeps its provenance and trust", func(t *testing.T) {
		d, _ := testDirectory(t, newFakeClock())
		c := makePartnerCert(t, partnerCert{key: "rsa-2048", emails: []string{"carol@partner.example"}, ku: enc, eku: email})
		if _, err := d.ImportCertificates(ctx, "c.pem", pemCerts(c), ImportOptions{Trust: TrustVerified}); err != nil {
			t.Fatal(err)
		}
		res, err := d.Harvest(ctx, c, caps)
		if err != nil || res.Outcome != HarvestKept {
			t.Fatalf("Harvest = %+v, %v", res, err)
		}
		_, rec, err := d.SMIMECertificate(ctx, "carol@partner.example")
		if err != nil || rec.Provenance != ProvenanceImported || rec.Trust != TrustVerified {
			t.Fatalf("record after harvest = %+v, %v", rec, err)
		}
		if string(rec.Capabilities) != string(caps) {
			t.Errorf("capabilities not recorded: %x", rec.Capabilities)
		}
	})

	t.Run("a removed certificate stays removed", func(t *testing.T) {
		d, _ := testDirectory(t, newFakeClock())
		c := makePartnerCert(t, partnerCert{key: "rsa-2048", emails: []string{"dave@partner.example"}, ku: enc, eku: email})
		if _, err := d.ImportCertificates(ctx, "d.pem", pemCerts(c), ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := d.RemoveCertificates(ctx, "dave@partner.example"); err != nil {
			t.Fatal(err)
		}
		res, err := d.Harvest(ctx, c, caps)
		if err != nil || res.Outcome != HarvestRemoved {
			t.Fatalf("Harvest = %+v, %v", res, err)
		}
		if s, _, _ := d.Availability(ctx, "dave@partner.example"); s {
			t.Error("harvest brought a removed certificate back")
		}
	})

	for _, tc := range []struct {
		name string
		cert partnerCert
	}{
		{"signing-only RSA", partnerCert{key: "rsa-2048", emails: []string{"e@partner.example"}, ku: x509.KeyUsageDigitalSignature, eku: email}},
		{"weak RSA", partnerCert{key: "rsa-1024", emails: []string{"e@partner.example"}}},
		{"CA certificate", partnerCert{key: "p256", emails: []string{"e@partner.example"}, ca: true}},
		{"no address", partnerCert{key: "p256"}},
	} {
		t.Run("unusable: "+tc.name, func(t *testing.T) {
			d, _ := testDirectory(t, newFakeClock())
			res, err := d.Harvest(ctx, makePartnerCert(t, tc.cert), caps)
			if err != nil || res.Outcome != HarvestUnusable || res.Reason == "" {
				t.Fatalf("Harvest = %+v, %v", res, err)
			}
			if all, _ := d.ExternalCertificates(ctx, ""); len(all) != 0 {
				t.Errorf("stored %d certificates", len(all))
			}
		})
	}
}
