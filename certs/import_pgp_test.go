package certs

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// pgpSpec describes a test OpenPGP key.
type pgpSpec struct {
	email    string
	algo     packet.PublicKeyAlgorithm // default EdDSA/ECDH (curve25519)
	rsaBits  int
	created  time.Time     // default: a day before the test clock
	lifetime time.Duration // 0: never expires
	revoked  bool
	noSubkey bool // drop the encryption subkey
}

func makePGPEntity(t testing.TB, s pgpSpec) *openpgp.Entity {
	t.Helper()
	created := s.created
	if created.IsZero() {
		created = newFakeClock().Now().Add(-24 * time.Hour)
	}
	cfg := &packet.Config{
		Algorithm:       s.algo,
		RSABits:         s.rsaBits,
		Time:            func() time.Time { return created },
		KeyLifetimeSecs: uint32(s.lifetime / time.Second),
	}
	if cfg.Algorithm == 0 {
		cfg.Algorithm = packet.PubKeyAlgoEdDSA
	}
	e, err := openpgp.NewEntity("Partner", "", s.email, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.revoked {
		if err := e.RevokeKey(packet.KeyRetired, "retired", cfg); err != nil {
			t.Fatal(err)
		}
	}
	if s.noSubkey {
		e.Subkeys = nil
	}
	return e
}

// pgpPublic serialises the public parts of the entities, binary or armored.
func pgpPublic(t testing.TB, armored bool, list ...*openpgp.Entity) []byte {
	t.Helper()
	var bin bytes.Buffer
	for _, e := range list {
		if err := e.Serialize(&bin); err != nil {
			t.Fatal(err)
		}
	}
	if !armored {
		return bin.Bytes()
	}
	var out bytes.Buffer
	w, err := armor.Encode(&out, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(bin.Bytes())
	w.Close()
	out.WriteString("\n")
	return out.Bytes()
}

func pgpSecret(t testing.TB, e *openpgp.Entity) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := armor.Encode(&out, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return out.Bytes()
}

func TestImportPGPKeyChecks(t *testing.T) {
	now := newFakeClock().Now()
	good := makePGPEntity(t, pgpSpec{email: "Carol@Partner.example"})
	rsa := makePGPEntity(t, pgpSpec{email: "rsa@partner.example", algo: packet.PubKeyAlgoRSA, rsaBits: 2048})
	cases := []struct {
		name   string
		data   []byte
		stored []string // fingerprints
		reason string
	}{
		{"curve25519 binary", pgpPublic(t, false, good), []string{partnerPGPFingerprint(good)}, ""},
		{"curve25519 armored", pgpPublic(t, true, good), []string{partnerPGPFingerprint(good)}, ""},
		{"two keys in one armor block", pgpPublic(t, true, good, rsa), []string{partnerPGPFingerprint(good), partnerPGPFingerprint(rsa)}, ""},
		{"same key twice", pgpPublic(t, false, good, good), []string{partnerPGPFingerprint(good)}, ""},
		{"two armor blocks", append(pgpPublic(t, true, good), pgpPublic(t, true, rsa)...), []string{partnerPGPFingerprint(good), partnerPGPFingerprint(rsa)}, ""},
		{"rsa-1024 refused", pgpPublic(t, false, makePGPEntity(t, pgpSpec{email: "w@partner.example", algo: packet.PubKeyAlgoRSA, rsaBits: 1024})), nil, "1024 bits"},
		{"expired", pgpPublic(t, false, makePGPEntity(t, pgpSpec{email: "x@partner.example", created: now.Add(-48 * time.Hour), lifetime: time.Hour})), nil, "expired on"},
		{"revoked", pgpPublic(t, false, makePGPEntity(t, pgpSpec{email: "r@partner.example", revoked: true})), nil, "revoked"},
		{"no encryption subkey", pgpPublic(t, false, makePGPEntity(t, pgpSpec{email: "s@partner.example", noSubkey: true})), nil, "no valid encryption key"},
		{"no email in user ID", pgpPublic(t, false, makePGPEntity(t, pgpSpec{})), nil, "no valid user ID with an email"},
		{"secret key refused", pgpSecret(t, good), nil, "secret key"},
		{"garbage", []byte("not a key"), nil, "OpenPGP"},
		{"armored garbage", []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"), nil, "OpenPGP"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := testDirectory(t, newFakeClock())
			res, err := d.ImportPGPKeys(context.Background(), "partner.asc", tc.data, ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range res.Stored {
				got = append(got, k.Fingerprint)
			}
			if !slices.Equal(got, tc.stored) {
				t.Errorf("stored %v, want %v (rejected %v)", got, tc.stored, res.Rejected)
			}
			if tc.reason == "" && len(res.Rejected) > 0 {
				t.Errorf("rejected %v", res.Rejected)
			}
			if tc.reason != "" && (len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0].Error(), tc.reason) || res.Rejected[0].File != "partner.asc") {
				t.Errorf("rejected %v, want one naming partner.asc with %q", res.Rejected, tc.reason)
			}
		})
	}
}

func TestPGPLookup(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	now := clock.Now()
	d, _ := testDirectory(t, clock)
	older := makePGPEntity(t, pgpSpec{email: "dave@bücher.example", created: now.Add(-72 * time.Hour)})
	newer := makePGPEntity(t, pgpSpec{email: "Dave@xn--bcher-kva.example", created: now.Add(-time.Hour), lifetime: 48 * time.Hour})
	res, err := d.ImportPGPKeys(ctx, "keys.asc", pgpPublic(t, true, older, newer), ImportOptions{Trust: TrustVerified})
	if err != nil || len(res.Stored) != 2 {
		t.Fatalf("import: %v %+v", err, res)
	}
	if want := newer.PrimaryKey.CreationTime.Add(48 * time.Hour); !res.Stored[1].NotAfter.Equal(want) {
		t.Errorf("expiry %v, want %v", res.Stored[1].NotAfter, want)
	}
	lookup := func(addr string) string {
		t.Helper()
		e, rec, err := d.PGPKey(ctx, addr)
		if errors.Is(err, ErrNotFound) {
			return ""
		}
		if err != nil {
			t.Fatalf("lookup %s: %v", addr, err)
		}
		if rec.Trust != TrustVerified || rec.Fingerprint != partnerPGPFingerprint(e) {
			t.Errorf("record %s trust %s", rec.Fingerprint, rec.Trust)
		}
		if _, ok := e.EncryptionKey(now); !ok {
			t.Errorf("returned entity has no encryption key")
		}
		return partnerPGPFingerprint(e)
	}
	if got := lookup("DAVE@Bücher.example"); got != partnerPGPFingerprint(newer) {
		t.Errorf("newest first: got %s", got)
	}
	if s, p, err := d.Availability(ctx, "dave@xn--bcher-kva.example"); err != nil || s || !p {
		t.Errorf("Availability = %v, %v, %v; want PGP only", s, p, err)
	}
	clock.Advance(72 * time.Hour)
	if got := lookup("dave@bücher.example"); got != partnerPGPFingerprint(older) {
		t.Errorf("after expiry of the newer: got %s", got)
	}
	if _, err := d.RemovePGPKeys(ctx, strings.ToLower(partnerPGPFingerprint(older))); err != nil {
		t.Fatal(err)
	}
	if got := lookup("dave@bücher.example"); got != "" {
		t.Errorf("removed/expired keys still offered: %s", got)
	}
	if s, p, err := d.Availability(ctx, "dave@bücher.example"); err != nil || s || p {
		t.Errorf("Availability = %v, %v, %v; want none", s, p, err)
	}
	list, err := d.PGPKeys(ctx, "")
	if err != nil || len(list) != 1 || list[0].Fingerprint != partnerPGPFingerprint(newer) {
		t.Errorf("list: %v %v", list, err)
	}
}

func FuzzParsePGPKeys(f *testing.F) {
	e := makePGPEntity(f, pgpSpec{email: "a@partner.example"})
	f.Add(pgpPublic(f, false, e))
	f.Add(pgpPublic(f, true, e))
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxsBNBF\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	now := newFakeClock().Now()
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := ParsePGPKeys(data)
		if err == nil && len(list) == 0 {
			t.Fatal("no error and no key")
		}
		for _, e := range list {
			if rec, err := pgpRecord(e, now); err == nil && len(rec.Emails) == 0 {
				t.Fatal("usable key without addresses")
			}
		}
	})
}
