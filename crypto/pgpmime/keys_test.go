package pgpmime

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func TestGenerateKeyDescribesItself(t *testing.T) {
	created := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	now := created.Add(24 * time.Hour)
	for _, tc := range []struct {
		alg      Algorithm
		prefix   string
		lifetime time.Duration
	}{
		{Curve25519, "eddsa", 365 * 24 * time.Hour},
		{RSA3072, "rsa3072", 0},
	} {
		t.Run(tc.alg.String(), func(t *testing.T) {
			gen, err := GenerateKey("Alice Example", "alice@corp.example", KeyOptions{
				Algorithm: tc.alg, Lifetime: tc.lifetime, Now: func() time.Time { return created },
			})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(gen.Private, []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----")) ||
				!bytes.HasPrefix(gen.Public, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
				t.Fatalf("not armored:\n%.80s\n%.80s", gen.Private, gen.Public)
			}
			if bytes.Contains(gen.Public, []byte("Version:")) || bytes.Contains(gen.Public, []byte("Comment:")) {
				t.Errorf("armor advertises the library:\n%s", gen.Public)
			}
			priv, err := ParsePrivateKey(gen.Private, now)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := ParsePublicKey(gen.Public, now)
			if err != nil {
				t.Fatal(err)
			}
			for _, info := range []KeyInfo{priv.Info(), pub.Info()} {
				if info.Fingerprint != gen.Fingerprint || len(info.Fingerprint) != 40 || info.KeyID != info.Fingerprint[24:] {
					t.Errorf("fingerprint %s / key ID %s, generated %s", info.Fingerprint, info.KeyID, gen.Fingerprint)
				}
				if len(info.UserIDs) != 1 || info.UserIDs[0] != "Alice Example <alice@corp.example>" {
					t.Errorf("user IDs %q", info.UserIDs)
				}
				if len(info.Emails) != 1 || info.Emails[0] != "alice@corp.example" {
					t.Errorf("emails %q", info.Emails)
				}
				if !info.Created.Equal(created) {
					t.Errorf("created %v, want %v", info.Created, created)
				}
				wantExpiry := time.Time{}
				if tc.lifetime > 0 {
					wantExpiry = created.Add(tc.lifetime)
				}
				if !info.Expires.Equal(wantExpiry) {
					t.Errorf("expires %v, want %v", info.Expires, wantExpiry)
				}
				if !info.CanEncrypt || !info.CanSign || !info.IntegrityProtection || info.Expired || info.Revoked || info.Unusable != "" {
					t.Errorf("not usable: %+v", info)
				}
				if !strings.HasPrefix(info.Algorithm, tc.prefix) {
					t.Errorf("algorithm %q, want %s…", info.Algorithm, tc.prefix)
				}
			}
			if tc.lifetime > 0 {
				later, err := ParsePublicKey(gen.Public, created.Add(tc.lifetime+time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				if i := later.Info(); !i.Expired || i.CanEncrypt || i.Unusable != "expired" {
					t.Errorf("after its lifetime: %+v", i)
				}
				if _, err := ParsePrivateKey(gen.Private, created.Add(tc.lifetime+time.Hour)); !errors.Is(err, ErrKeyUnusable) {
					t.Errorf("expired private key: err %v, want ErrKeyUnusable", err)
				}
			}
			// The exported public key is the generated one.
			again, err := pub.Armored()
			if err != nil {
				t.Fatal(err)
			}
			p2, err := ParsePublicKey(again, now)
			if err != nil || p2.Info().Fingerprint != gen.Fingerprint {
				t.Errorf("re-export: %v %+v", err, p2)
			}
		})
	}
}

func TestGenerateKeyRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, email string
		opts        KeyOptions
	}{
		{"A", "not an address", KeyOptions{}},
		{"A", "Alice <a@corp.example>", KeyOptions{}},
		{"A <x>", "a@corp.example", KeyOptions{}},
		{"A", "a@corp.example", KeyOptions{Lifetime: -time.Second}},
		{"A", "a@corp.example", KeyOptions{Algorithm: Algorithm(9)}},
	} {
		if _, err := GenerateKey(tc.name, tc.email, tc.opts); err == nil {
			t.Errorf("GenerateKey(%q, %q, %+v) succeeded", tc.name, tc.email, tc.opts)
		}
	}
}

func TestParseKeyStates(t *testing.T) {
	now := time.Now()
	base := getKey(t, "states@corp.example", Curve25519)
	other := getKey(t, "other@corp.example", Curve25519)

	// A revoked copy.
	revoked, _ := ParsePrivateKey(base.gen.Private, now)
	if err := revoked.entity.RevokeKey(packet.NoReason, "test", nil); err != nil {
		t.Fatal(err)
	}
	// A copy whose self-signature does not announce SEIPD.
	noMDC, _ := ParsePrivateKey(base.gen.Private, now)
	for _, id := range noMDC.entity.Identities {
		id.SelfSignature.SEIPDv1 = false
	}
	var resigned bytes.Buffer
	if err := noMDC.entity.SerializePrivate(&resigned, nil); err != nil {
		t.Fatal(err)
	}
	// A copy locked with a passphrase.
	locked, _ := ParsePrivateKey(base.gen.Private, now)
	if err := locked.entity.EncryptPrivateKeys([]byte("secret"), nil); err != nil {
		t.Fatal(err)
	}
	binary := func(armored []byte) []byte {
		k, err := ParsePublicKey(armored, now)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := k.entity.Serialize(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}

	tests := []struct {
		name     string
		data     []byte
		private  bool
		wantErr  error
		unusable string
	}{
		{name: "armored public", data: base.gen.Public},
		{name: "binary public", data: binary(base.gen.Public)},
		{name: "armored private read as public", data: base.gen.Private},
		{name: "leading white space", data: append([]byte("\r\n  \n"), base.gen.Public...)},
		{name: "revoked", data: armorEntity(t, revoked.entity, false), unusable: "revoked"},
		{name: "no integrity protection feature", data: armorEntity(t, noMDC.entity, false), unusable: "does not announce integrity protection (SEIPD/MDC)"},
		{name: "two keys", data: append(binary(base.gen.Public), binary(other.gen.Public)...), wantErr: ErrMalformed},
		{name: "garbage", data: []byte("hello world"), wantErr: ErrMalformed},
		{name: "empty", data: nil, wantErr: ErrMalformed},
		{name: "armored garbage", data: []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"), wantErr: ErrMalformed},
		{name: "too large", data: bytes.Repeat([]byte{0x99}, MaxKeySize+1), wantErr: ErrMalformed},
		{name: "private key", data: base.gen.Private, private: true},
		{name: "public key as private", data: base.gen.Public, private: true, wantErr: ErrKeyUnusable},
		{name: "locked private key", data: armorEntity(t, locked.entity, true), private: true, wantErr: ErrKeyUnusable},
		{name: "revoked private key", data: armorEntity(t, revoked.entity, true), private: true, wantErr: ErrKeyUnusable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var info KeyInfo
			var err error
			if tc.private {
				var k *PrivateKey
				if k, err = ParsePrivateKey(tc.data, now); err == nil {
					info = k.Info()
				}
			} else {
				var k *PublicKey
				if k, err = ParsePublicKey(tc.data, now); err == nil {
					info = k.Info()
				}
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.private && strings.Contains(tc.name, "private") {
				k, _ := ParsePublicKey(tc.data, now)
				if k.entity.PrivateKey != nil || k.entity.Subkeys[0].PrivateKey != nil {
					t.Error("secret material kept in a public key")
				}
			}
			if info.Fingerprint != base.gen.Fingerprint {
				t.Errorf("fingerprint %s, want %s", info.Fingerprint, base.gen.Fingerprint)
			}
			if info.Unusable != tc.unusable || info.CanEncrypt != (tc.unusable == "") {
				t.Errorf("unusable %q (CanEncrypt %v), want %q", info.Unusable, info.CanEncrypt, tc.unusable)
			}
			if tc.unusable == "revoked" && !info.Revoked {
				t.Error("Revoked not set")
			}
		})
	}
}
