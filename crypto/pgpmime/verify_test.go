package pgpmime

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// signedPart is the entity a partner's client signs: CRLF, 7-bit.
const signedPart = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nDie Rechnung im Anhang.\r\nGr=C3=BC=C3=9Fe, Bob\r\n"

// wrapSigned builds the RFC 3156 multipart/signed body around part and the
// armored detached signature, as Thunderbird or Enigmail write it.
func wrapSigned(part string, sig []byte) (contentType string, body []byte) {
	var b bytes.Buffer
	b.WriteString("This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n--sig-b\r\n")
	b.WriteString(part)
	b.WriteString("\r\n--sig-b\r\nContent-Type: application/pgp-signature; name=\"OpenPGP_signature.asc\"\r\n")
	b.WriteString("Content-Description: OpenPGP digital signature\r\nContent-Disposition: attachment; filename=\"OpenPGP_signature.asc\"\r\n\r\n")
	b.Write(sig)
	b.WriteString("\r\n--sig-b--\r\n")
	return `multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature"; boundary="sig-b"`, b.Bytes()
}

// gpgKey makes a key in g and returns its parsed public half.
func gpgKey(t *testing.T, g *gnupg, uid, algo, expire string) *PublicKey {
	t.Helper()
	g.must(nil, "--quick-gen-key", uid, algo, "sign", expire)
	k, err := ParsePublicKey(g.must(nil, "--armor", "--export", uid), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestVerifyGPGSignatures: messages signed by the real gpg --detach-sign over the
// part's CRLF bytes, and every way such a message can fail.
func TestVerifyGPGSignatures(t *testing.T) {
	g := newGnuPG(t)
	bob := gpgKey(t, g, "Bob <bob@partner.example>", "ed25519", "never")
	other := getKey(t, "mallory@corp.example", Curve25519)
	sign := func(uid, part string, extra ...string) []byte {
		args := append([]string{"--armor", "--detach-sign", "--local-user", uid}, extra...)
		return g.must([]byte(part), args...)
	}
	sig := sign("bob@partner.example", signedPart)
	ct, body := wrapSigned(signedPart, sig)

	t.Run("valid", func(t *testing.T) {
		v, err := Verify(ct, body, []*PublicKey{other.pub, bob})
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != SignatureGood || v.Fingerprint != bob.Info().Fingerprint || v.Signer != "Bob <bob@partner.example>" ||
			v.Created.IsZero() || v.Digest != "SHA-256" || v.MicAlg != "pgp-sha256" || string(v.Content) != signedPart {
			t.Errorf("got %+v, want good by Bob", v)
		}
	})
	t.Run("LF line ends", func(t *testing.T) {
		// An MTA or mailbox stored it with LF: verified after CRLF again.
		v, err := Verify(ct, bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")), []*PublicKey{bob})
		if err != nil || v.Status != SignatureGood {
			t.Errorf("got %+v, %v, want good", v, err)
		}
	})
	for _, tc := range []struct {
		name string
		body []byte
		keys []*PublicKey
		want SignatureStatus
	}{
		{"tampered content", bytes.Replace(body, []byte("Rechnung"), []byte("Rechnunh"), 1), []*PublicKey{bob}, SignatureBad},
		{"tampered header", bytes.Replace(body, []byte("charset=utf-8"), []byte("charset=latin1"), 1), []*PublicKey{bob}, SignatureBad},
		{"trailing white space added", bytes.Replace(body, []byte("Anhang.\r\n"), []byte("Anhang. \r\n"), 1), []*PublicKey{bob}, SignatureBad},
		{"unknown key", body, []*PublicKey{other.pub}, UnknownSigner},
		{"no keys", body, nil, UnknownSigner},
		{"nil key", body, []*PublicKey{nil}, UnknownSigner},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Verify(ct, tc.body, tc.keys)
			if err != nil {
				t.Fatal(err)
			}
			if v.Status != tc.want || v.Problem == "" || v.KeyID == "" {
				t.Errorf("status %v (%q, key %q), want %v", v.Status, v.Problem, v.KeyID, tc.want)
			}
		})
	}

	t.Run("weak digest", func(t *testing.T) {
		ct, body := wrapSigned(signedPart, sign("bob@partner.example", signedPart, "--digest-algo", "SHA1"))
		v, err := Verify(ct, body, []*PublicKey{bob})
		if err != nil || v.Status != SignatureWeak || v.Digest != "SHA-1" {
			t.Errorf("got %+v, %v, want weak", v, err)
		}
	})
	t.Run("weak key", func(t *testing.T) {
		small := gpgKey(t, g, "Small <small@partner.example>", "rsa1024", "never")
		ct, body := wrapSigned(signedPart, sign("small@partner.example", signedPart))
		v, err := Verify(ct, body, []*PublicKey{small})
		if err != nil || v.Status != SignatureWeak || !strings.Contains(v.Problem, "rsa1024") {
			t.Errorf("got %+v, %v, want weak", v, err)
		}
	})
	t.Run("expired key", func(t *testing.T) {
		carol := gpgKey(t, g, "Carol <carol@partner.example>", "ed25519", "1d")
		ct, body := wrapSigned(signedPart, sign("carol@partner.example", signedPart))
		if v, err := Verify(ct, body, []*PublicKey{carol}); err != nil || v.Status != SignatureGood {
			t.Fatalf("today: %+v, %v, want good", v, err)
		}
		v, err := VerifyAt(ct, body, []*PublicKey{carol}, time.Now().Add(72*time.Hour))
		if err != nil || v.Status != SignatureKeyExpired {
			t.Errorf("in three days: %+v, %v, want key expired", v, err)
		}
	})
	t.Run("revoked key", func(t *testing.T) {
		dave := gpgKey(t, g, "Dave <dave@partner.example>", "ed25519", "never")
		ct, body := wrapSigned(signedPart, sign("dave@partner.example", signedPart))
		// gpg keeps a revocation certificate for every new key; importing it
		// (its first line is masked with ':') revokes the key.
		rev, err := os.ReadFile(filepath.Join(g.home, "openpgp-revocs.d", dave.Info().Fingerprint+".rev"))
		if err != nil {
			t.Fatal(err)
		}
		g.must(bytes.Replace(rev, []byte(":-----BEGIN"), []byte("-----BEGIN"), 1), "--import")
		revoked, err := ParsePublicKey(g.must(nil, "--armor", "--export", "dave@partner.example"), time.Now())
		if err != nil || !revoked.Info().Revoked {
			t.Fatalf("revoked key: %v, %+v", err, revoked)
		}
		v, err := Verify(ct, body, []*PublicKey{revoked})
		if err != nil || v.Status != SignatureKeyRevoked {
			t.Errorf("got %+v, %v, want key revoked", v, err)
		}
	})
}

// TestVerifyRefusesWhatIsNotPGPMIME: other kinds of message are not PGP/MIME
// signatures (ErrNotPGPMIME); broken ones are ErrMalformed, never a verdict.
func TestVerifyRefusesWhatIsNotPGPMIME(t *testing.T) {
	g := newGnuPG(t)
	bob := gpgKey(t, g, "Bob <bob@partner.example>", "ed25519", "never")
	sig := g.must([]byte(signedPart), "--armor", "--detach-sign", "--local-user", "bob@partner.example")
	ct, body := wrapSigned(signedPart, sig)
	inline := g.must([]byte("Die Rechnung.\n"), "--clearsign", "--local-user", "bob@partner.example")
	sigPart := "Content-Type: application/pgp-signature\r\n\r\n" + string(sig)
	for _, tc := range []struct {
		name, ct, body string
		want           error
	}{
		{"inline signed text", "text/plain; charset=utf-8", string(inline), ErrNotPGPMIME},
		{"S/MIME multipart/signed", `multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="sig-b"`, string(body), ErrNotPGPMIME},
		{"PGP/MIME encrypted", `multipart/encrypted; protocol="application/pgp-encrypted"; boundary="sig-b"`, string(body), ErrNotPGPMIME},
		{"broken content type", `multipart/signed; protocol="application/pgp-signature`, string(body), ErrNotPGPMIME},
		{"no boundary", `multipart/signed; protocol="application/pgp-signature"`, string(body), ErrMalformed},
		{"wrong boundary", strings.Replace(ct, "sig-b", "nope", 1), string(body), ErrMalformed},
		{"one part", ct, "--sig-b\r\n" + signedPart + "\r\n--sig-b--\r\n", ErrMalformed},
		{"three parts", ct, "--sig-b\r\n" + signedPart + "\r\n--sig-b\r\n" + signedPart + "\r\n--sig-b\r\n" + sigPart + "\r\n--sig-b--\r\n", ErrMalformed},
		{"no close delimiter", ct, "--sig-b\r\n" + signedPart + "\r\n--sig-b\r\n" + sigPart, ErrMalformed},
		{"signature part type", ct, "--sig-b\r\n" + signedPart + "\r\n--sig-b\r\nContent-Type: text/plain\r\n\r\n" + string(sig) + "\r\n--sig-b--\r\n", ErrMalformed},
		{"armor type", ct, strings.ReplaceAll(string(body), "PGP SIGNATURE", "PGP MESSAGE"), ErrMalformed},
		{"empty armor", ct, "--sig-b\r\n" + signedPart + "\r\n--sig-b\r\nContent-Type: application/pgp-signature\r\n\r\n-----BEGIN PGP SIGNATURE-----\r\n\r\n-----END PGP SIGNATURE-----\r\n--sig-b--\r\n", ErrMalformed},
		{"key instead of signature", ct, "--sig-b\r\n" + signedPart + "\r\n--sig-b\r\nContent-Type: application/pgp-signature\r\n\r\n" +
			strings.ReplaceAll(string(g.must(nil, "--armor", "--export", "bob@partner.example")), "PUBLIC KEY BLOCK", "SIGNATURE") + "\r\n--sig-b--\r\n", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Verify(tc.ct, []byte(tc.body), []*PublicKey{bob})
			if !errors.Is(err, tc.want) || v != nil {
				t.Errorf("got %+v, err %v, want %v", v, err, tc.want)
			}
		})
	}
	// A signature part in base64 is still read.
	enc := "--sig-b\r\n" + signedPart + "\r\n--sig-b\r\nContent-Type: application/pgp-signature\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		b64Lines(sig) + "--sig-b--\r\n"
	if v, err := Verify(ct, []byte(enc), []*PublicKey{bob}); err != nil || v.Status != SignatureGood {
		t.Errorf("base64 signature part: %+v, %v", v, err)
	}
}
