package pgpmime

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// keySeeds are valid keys in every form the parsers accept, and a few
// broken ones.
func keySeeds(f *testing.F) {
	k := getKey(f, "fuzz@corp.example", Curve25519)
	pub, _ := ParsePublicKey(k.gen.Public, time.Now())
	var bin bytes.Buffer
	if err := pub.entity.Serialize(&bin); err != nil {
		f.Fatal(err)
	}
	f.Add(k.gen.Public)
	f.Add(k.gen.Private)
	f.Add(bin.Bytes())
	f.Add(bin.Bytes()[:len(bin.Bytes())/2])
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQ==\n=AAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Add([]byte{0x99, 0x00, 0x01, 0x04})
}

// FuzzParsePublicKey: outside key material (uploads, WKD, harvested keys)
// must never panic the parser; what it accepts is fully described.
func FuzzParsePublicKey(f *testing.F) {
	keySeeds(f)
	now := time.Now()
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePublicKey(data, now)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		info := k.Info()
		if len(info.Fingerprint) != 40 && len(info.Fingerprint) != 64 {
			t.Fatalf("fingerprint %q", info.Fingerprint)
		}
		if info.CanEncrypt != (info.Unusable == "") {
			t.Fatalf("CanEncrypt %v with Unusable %q", info.CanEncrypt, info.Unusable)
		}
		if _, err := k.Armored(); err != nil {
			t.Fatalf("accepted key cannot be exported: %v", err)
		}
	})
}

// FuzzParsePrivateKey: sealed keys come back from storage, which could be
// corrupted; the parser must not panic on it.
func FuzzParsePrivateKey(f *testing.F) {
	keySeeds(f)
	now := time.Now()
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePrivateKey(data, now)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrKeyUnusable) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if !k.Info().CanSign {
			t.Fatalf("accepted a private key that cannot sign: %+v", k.Info())
		}
	})
}

// FuzzDecrypt: inbound PGP/MIME bodies are outside data.
func FuzzDecrypt(f *testing.F) {
	k := getKey(f, "fuzz@corp.example", Curve25519)
	enc, err := Encrypt([]byte("Content-Type: text/plain\r\n\r\nhello\r\n"), k.priv, []*PublicKey{k.pub})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc.ContentType, enc.Body)
	ct, body := wrapRFC3156([]byte("-----BEGIN PGP MESSAGE-----\n\nwcBMA\n-----END PGP MESSAGE-----\n"))
	f.Add(ct, body)
	f.Add(`multipart/encrypted; protocol="application/pgp-encrypted"; boundary=b`, []byte("--b\r\n\r\nVersion: 1\r\n--b--"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		d, err := Decrypt(ct, body, k.priv, []*PublicKey{k.pub}, DecryptOptions{MaxSize: 1 << 20})
		if err != nil {
			return
		}
		if d.Signature == SignatureGood && d.SignerFingerprint != k.gen.Fingerprint {
			t.Fatalf("good signature by %s", d.SignerFingerprint)
		}
	})
}

// FuzzVerify: inbound multipart/signed bodies are outside data. Only the
// trusted key may make a good signature, and only over the exact content.
func FuzzVerify(f *testing.F) {
	k := getKey(f, "fuzz-signer@corp.example", Curve25519)
	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, k.priv.entity, strings.NewReader(signedPart), nil); err != nil {
		f.Fatal(err)
	}
	ct, body := wrapSigned(signedPart, sig.Bytes())
	f.Add(ct, body)
	f.Add(ct, bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")))
	f.Add(ct, []byte("--sig-b\r\n\r\n--sig-b\r\nContent-Type: application/pgp-signature\r\n\r\n-----BEGIN PGP SIGNATURE-----\r\n\r\nwnUEARYKAB0WIQ\r\n-----END PGP SIGNATURE-----\r\n--sig-b--\r\n"))
	f.Add(`multipart/signed; protocol="application/pgp-signature"; boundary=b`, []byte("--b\n--b\nContent-Transfer-Encoding: base64\nContent-Type: application/pgp-signature\n\n!!\n--b--"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		v, err := Verify(ct, body, []*PublicKey{k.pub})
		if err != nil {
			if v != nil {
				t.Fatal("a verdict and an error")
			}
			return
		}
		if v.Status == SignatureGood {
			if v.Fingerprint != k.gen.Fingerprint {
				t.Fatalf("good signature by %s", v.Fingerprint)
			}
			if string(v.Content) != signedPart {
				t.Fatalf("good signature over other content %q", v.Content)
			}
		}
	})
}
