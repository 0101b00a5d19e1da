package pgpmime

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func TestEncryptDecryptRoundTrip(t *testing.T) {
	alice := getKey(t, "alice@corp.example", Curve25519)
	bob := getKey(t, "bob@partner.example", Curve25519)
	entity := testMessage(t, "Hallo", 10<<10)
	enc, err := Encrypt(entity, alice.priv, []*PublicKey{bob.pub, alice.pub, bob.pub})
	if err != nil {
		t.Fatal(err)
	}
	armoredPart(t, enc)
	if strings.Contains(string(enc.Body), "\n") && strings.Count(string(enc.Body), "\n") != strings.Count(string(enc.Body), "\r\n") {
		t.Error("body has bare LF")
	}
	for _, reader := range []*testKey{alice, bob} {
		d, err := Decrypt(enc.ContentType, enc.Body, reader.priv, []*PublicKey{alice.pub}, DecryptOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(d.Entity, entity) || d.Signature != SignatureGood || d.SignerFingerprint != alice.gen.Fingerprint {
			t.Errorf("%s: entity equal %v, signature %v by %s", reader.gen.Fingerprint, bytes.Equal(d.Entity, entity), d.Signature, d.SignerFingerprint)
		}
	}
	// Each recipient once: two session key packets, not three.
	if ids := encryptedTo(t, enc); len(ids) != 2 {
		t.Errorf("encrypted to %d keys, want 2", len(ids))
	}
}

// encryptedTo lists the key IDs of the session key packets.
func encryptedTo(t *testing.T, enc *Encrypted) []uint64 {
	t.Helper()
	armored, err := encryptedPart(enc.ContentType, enc.Body)
	if err != nil {
		t.Fatal(err)
	}
	bin := unarmor(t, armored)
	var ids []uint64
	r := packet.NewReader(bytes.NewReader(bin))
	for {
		p, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		ek, ok := p.(*packet.EncryptedKey)
		if !ok {
			return ids
		}
		ids = append(ids, ek.KeyId)
	}
}

func TestEncryptCanonicalisesLineEnds(t *testing.T) {
	alice := getKey(t, "alice@corp.example", Curve25519)
	enc, err := Encrypt([]byte("Content-Type: text/plain\n\nline\nline\r\n"), alice.priv, []*PublicKey{alice.pub})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decrypt(enc.ContentType, enc.Body, alice.priv, []*PublicKey{alice.pub}, DecryptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Entity) != "Content-Type: text/plain\r\n\r\nline\r\nline\r\n" {
		t.Errorf("entity %q", d.Entity)
	}
}

func TestEncryptRefusesUnusableKeys(t *testing.T) {
	alice := getKey(t, "alice@corp.example", Curve25519)
	past := time.Now().Add(-48 * time.Hour)
	expired, err := GenerateKey("Old", "old@partner.example", KeyOptions{
		Algorithm: Curve25519, Lifetime: 24 * time.Hour, Now: func() time.Time { return past },
	})
	if err != nil {
		t.Fatal(err)
	}
	// Parsed while still valid: Encrypt checks again at its own time.
	expiredPub, err := ParsePublicKey(expired.Public, past.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	expiredPriv, err := ParsePrivateKey(expired.Private, past.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	revoked, _ := ParsePrivateKey(getKey(t, "revoked@partner.example", Curve25519).gen.Private, time.Now())
	if err := revoked.entity.RevokeKey(packet.KeyCompromised, "lost", nil); err != nil {
		t.Fatal(err)
	}
	noMDC, _ := ParsePrivateKey(getKey(t, "nomdc@partner.example", Curve25519).gen.Private, time.Now())
	for _, id := range noMDC.entity.Identities {
		id.SelfSignature.SEIPDv1 = false
	}
	if err := noMDC.entity.SerializePrivate(new(bytes.Buffer), nil); err != nil { // re-signs
		t.Fatal(err)
	}

	entity := []byte("Content-Type: text/plain\r\n\r\nx\r\n")
	for _, tc := range []struct {
		name       string
		signer     *PrivateKey
		recipients []*PublicKey
		want       error
		mention    string
	}{
		{"expired recipient", alice.priv, []*PublicKey{alice.pub, expiredPub}, ErrKeyUnusable, "expired"},
		{"revoked recipient", alice.priv, []*PublicKey{revoked.Public()}, ErrKeyUnusable, "revoked"},
		{"recipient without SEIPD", alice.priv, []*PublicKey{noMDC.Public()}, ErrKeyUnusable, "integrity"},
		{"expired signer", expiredPriv, []*PublicKey{alice.pub}, ErrKeyUnusable, "signing key"},
		{"revoked signer", revoked, []*PublicKey{alice.pub}, ErrKeyUnusable, "signing key"},
		{"no recipients", alice.priv, nil, nil, "no recipients"},
		{"nil recipient", alice.priv, []*PublicKey{nil}, nil, "nil recipient"},
		{"no signer", nil, []*PublicKey{alice.pub}, nil, "no signing key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := Encrypt(entity, tc.signer, tc.recipients)
			if err == nil || enc != nil {
				t.Fatalf("Encrypt succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) || !strings.HasPrefix(err.Error(), "pgpmime: ") {
				t.Errorf("err %q does not mention %q", err, tc.mention)
			}
		})
	}
}

func TestDecryptRefusesAlteredAndMalformed(t *testing.T) {
	alice := getKey(t, "alice@corp.example", Curve25519)
	entity := testMessage(t, "x", 1000)
	enc, err := Encrypt(entity, alice.priv, []*PublicKey{alice.pub})
	if err != nil {
		t.Fatal(err)
	}
	armored, err := encryptedPart(enc.ContentType, enc.Body)
	if err != nil {
		t.Fatal(err)
	}
	bin := unarmor(t, armored)
	// Flip one bit near the end of the encrypted data: the MDC catches it.
	altered := append([]byte(nil), bin...)
	altered[len(altered)-30] ^= 0x01
	ct, alteredBody := wrapRFC3156(armorMessage(t, altered))

	good := string(enc.Body)
	for _, tc := range []struct {
		name string
		ct   string
		body string
		want error
	}{
		{"altered ciphertext", ct, string(alteredBody), ErrDecrypt},
		{"not multipart/encrypted", "multipart/mixed; boundary=x", good, ErrMalformed},
		{"S/MIME protocol", `multipart/encrypted; protocol="application/pkcs7-mime"; boundary=x`, good, ErrMalformed},
		{"unparsable content type", `multipart/encrypted; protocol="application/pgp-encrypted`, good, ErrMalformed},
		{"no boundary", `multipart/encrypted; protocol="application/pgp-encrypted"`, good, ErrMalformed},
		{"wrong boundary", `multipart/encrypted; protocol="application/pgp-encrypted"; boundary=nope`, good, ErrMalformed},
		{"version part missing", enc.ContentType, strings.Replace(good, "Version: 1", "Version: 2", 1), ErrMalformed},
		{"armor type", enc.ContentType, strings.ReplaceAll(good, "PGP MESSAGE", "PGP SIGNATURE"), ErrMalformed},
		{"empty armor", ct, "--xyz\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--xyz\r\nContent-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\n-----END PGP MESSAGE-----\r\n--xyz--\r\n", ErrNotEncrypted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decrypt(tc.ct, []byte(tc.body), alice.priv, []*PublicKey{alice.pub}, DecryptOptions{})
			if !errors.Is(err, tc.want) || d != nil {
				t.Errorf("err %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := Decrypt(enc.ContentType, enc.Body, nil, nil, DecryptOptions{}); err == nil {
		t.Error("Decrypt without a key succeeded")
	}
}

// TestDecryptRefusesTruncated: encrypted data cut anywhere (in the key packet, in
// the integrity-protected data, just before its MDC) is refused with an error,
// never decrypted in part and never a panic.
func TestDecryptRefusesTruncated(t *testing.T) {
	alice := getKey(t, "alice@corp.example", Curve25519)
	enc, err := Encrypt(testMessage(t, "x", 5000), alice.priv, []*PublicKey{alice.pub})
	if err != nil {
		t.Fatal(err)
	}
	armored, err := encryptedPart(enc.ContentType, enc.Body)
	if err != nil {
		t.Fatal(err)
	}
	bin := unarmor(t, armored)
	for _, n := range []int{1, 20, 60, len(bin) / 2, len(bin) - 23, len(bin) - 1} {
		ct, body := wrapRFC3156(armorMessage(t, bin[:n]))
		d, err := Decrypt(ct, body, alice.priv, []*PublicKey{alice.pub}, DecryptOptions{})
		if err == nil || d != nil {
			t.Errorf("cut to %d of %d bytes: decrypted (%v)", n, len(bin), err)
		}
		if !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotEncrypted) {
			t.Errorf("cut to %d of %d bytes: err %v, want ErrDecrypt or ErrMalformed", n, len(bin), err)
		}
	}
}
