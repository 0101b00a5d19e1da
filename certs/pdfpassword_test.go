package certs

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestPDFPasswords(t *testing.T) {
	ctx := context.Background()
	m := openTest(t, testOptions(t, newFakeClock()))
	if err := m.SetPDFPassword(ctx, "Kim@Partner.example", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr, pw string
		ok       bool
	}{
		{"kim@partner.example", "correct horse battery", true},
		{"KIM@partner.EXAMPLE", "correct horse battery", true},
		{"lee@partner.example", "", false},
		{"not an address", "", false},
	} {
		pw, ok, err := m.PDFPassword(ctx, tc.addr)
		if err != nil || ok != tc.ok || pw != tc.pw {
			t.Errorf("PDFPassword(%s) = %q, %v, %v", tc.addr, pw, ok, err)
		}
	}
	if err := m.SetPDFPassword(ctx, "kim@partner.example", "a newer passphrase"); err != nil {
		t.Fatal(err)
	}
	if pw, _, _ := m.PDFPassword(ctx, "kim@partner.example"); pw != "a newer passphrase" {
		t.Errorf("after replacing: %q", pw)
	}
	if err := m.SetPDFPassword(ctx, "lee@partner.example", "short"); err == nil {
		t.Error("a 5-character password was stored")
	}
	if err := m.SetPDFPassword(ctx, "lee", "long enough password"); err == nil {
		t.Error("a password for a non-address was stored")
	}
	if got, err := m.PDFPasswordAddresses(ctx); err != nil || !slices.Equal(got, []string{"kim@partner.example"}) {
		t.Errorf("addresses %v, %v", got, err)
	}

	// The blob is bound to its address: copied to another row it does not open.
	st := m.store.(pdfPasswordStore)
	sealed, _ := st.pdfPassword(ctx, "kim@partner.example")
	if err := st.putPDFPassword(ctx, "eve@partner.example", sealed, m.opts.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.PDFPassword(ctx, "eve@partner.example"); !errors.Is(err, ErrWrongMasterKey) {
		t.Errorf("a copied blob: %v, want ErrWrongMasterKey", err)
	}

	if ok, err := m.RemovePDFPassword(ctx, "kim@partner.example"); !ok || err != nil {
		t.Errorf("remove: %v %v", ok, err)
	}
	if ok, _ := m.RemovePDFPassword(ctx, "kim@partner.example"); ok {
		t.Error("removed twice")
	}
	if _, ok, _ := m.PDFPassword(ctx, "kim@partner.example"); ok {
		t.Error("a removed password is still found")
	}
}
