package certs

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// armorBoth writes the secret keys of a and b into one armored block.
func armorBoth(t *testing.T, a, b *openpgp.Entity) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*openpgp.Entity{a, b} {
		if err := e.SerializePrivateWithoutSigning(w, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzParsePGPPrivate: reading a stored secret key never panics, and what
// it accepts is the one key it was asked for, with its secret parts.
func FuzzParsePGPPrivate(f *testing.F) {
	e, err := newPGPKey(KeyECDSAP256, "fuzz@corp.example", time.Unix(1900000000, 0), time.Hour, rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	priv, err := armorPGPKey(e, true)
	if err != nil {
		f.Fatal(err)
	}
	pub, err := armorPGPKey(e, false)
	if err != nil {
		f.Fatal(err)
	}
	fpr := pgpFingerprint(e)
	f.Add(priv)
	f.Add(pub)
	f.Add(append(append([]byte{}, priv...), priv...))
	f.Add(priv[:len(priv)/2])
	f.Add([]byte("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n-----END PGP PRIVATE KEY BLOCK-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parsePGPPrivate(data, fpr)
		if err != nil {
			return
		}
		if pgpFingerprint(got) != fpr || got.PrivateKey == nil || got.PrivateKey.Encrypted {
			t.Fatalf("accepted a key that is not %s with its secret parts", fpr)
		}
		if bytes.Equal(data, pub) {
			t.Fatal("accepted a public key as a secret key")
		}
	})
}

func TestParsePGPPrivate(t *testing.T) {
	e, err := newPGPKey(KeyECDSAP256, "p@corp.example", time.Unix(1900000000, 0), time.Hour, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := newPGPKey(KeyECDSAP256, "p@corp.example", time.Unix(1900000000, 0), time.Hour, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := armorPGPKey(e, true)
	pub, _ := armorPGPKey(e, false)
	otherPriv, _ := armorPGPKey(other, true)
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"own secret key", priv, ""},
		{"public key only", pub, "secret key missing"},
		{"another key", otherPriv, "fingerprint"},
		{"two keys in one block", armorBoth(t, e, other), "2 keys"},
		{"garbage", []byte("not a key"), "parse OpenPGP key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePGPPrivate(tc.data, pgpFingerprint(e))
			if tc.wantErr == "" {
				if err != nil || pgpFingerprint(got) != pgpFingerprint(e) {
					t.Fatalf("parse = %v", err)
				}
				return
			}
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.wantErr)) {
				t.Fatalf("parse = %v, want error with %q", err, tc.wantErr)
			}
		})
	}
	if _, err := pgpKeyConfig(KeyECDSAP256, time.Unix(0, 0), 200*365*24*time.Hour, rand.Reader); err == nil {
		t.Error("a lifetime beyond OpenPGP's 32-bit seconds was accepted")
	}
	if _, err := pgpKeyConfig("dsa-1024", time.Unix(0, 0), time.Hour, rand.Reader); err == nil {
		t.Error("an unknown key type was accepted")
	}
}
