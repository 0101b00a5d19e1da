package smime

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// decodeBody checks the wire form of an Encrypted body (base64 lines of
// at most 76 characters, CRLF) and returns the DER.
func decodeBody(t testing.TB, e *Encrypted) []byte {
	t.Helper()
	if err := checkWire(e.Body); err != nil {
		t.Fatalf("wire check: %v", err)
	}
	if !bytes.HasSuffix(e.Body, []byte("\r\n")) {
		t.Fatalf("body does not end with CRLF")
	}
	lines := strings.Split(strings.TrimSuffix(string(e.Body), "\r\n"), "\r\n")
	for i, l := range lines {
		if len(l) > 76 || (i < len(lines)-1 && len(l) != 76) {
			t.Fatalf("line %d has %d characters", i, len(l))
		}
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(lines, ""))
	if err != nil {
		t.Fatalf("base64: %v", err)
	}
	return der
}

func TestEncryptRoundTrip(t *testing.T) {
	keys := recipientKeys(t)
	recips := []struct {
		name string
		r    Recipient
	}{
		{"rsa2048-pkcs1", Recipient{Cert: keys["rsa2048"].cert}},
		{"rsa2048-oaep", Recipient{Cert: keys["rsa2048"].cert, KeyTransport: OAEPSHA256}},
		{"rsa3072-ski", Recipient{Cert: keys["rsa3072"].cert, BySKI: true}},
		{"p256", Recipient{Cert: keys["p256"].cert}},
		{"p384-ski", Recipient{Cert: keys["p384"].cert, BySKI: true}},
	}
	sizes := []int{0, 1, 15, 16, 17, 40, 41, 42, 56, 57, 58, 1000, 65537, 200005}
	for _, c := range []Cipher{AES256CBC, AES256GCM} {
		for _, rc := range recips {
			for _, size := range sizes {
				t.Run(fmt.Sprintf("%v/%s/%d", c, rc.name, size), func(t *testing.T) {
					content := bytes.Repeat([]byte("ä\x00\xff\r\n"), size/5+1)[:size]
					enc, err := Encrypt(content, []Recipient{rc.r}, EncryptOptions{Cipher: c})
					if err != nil {
						t.Fatalf("Encrypt: %v", err)
					}
					wantType := contentTypeEnveloped
					if c == AES256GCM {
						wantType = contentTypeAuthEnveloped
					}
					if enc.ContentType != wantType {
						t.Errorf("content type %q", enc.ContentType)
					}
					der := decodeBody(t, enc)
					k := keys[strings.Split(strings.TrimSuffix(rc.name, "-ski"), "-")[0]]
					dec, err := Decrypt(der, k.cert, k.key)
					if err != nil {
						t.Fatalf("Decrypt: %v", err)
					}
					if !bytes.Equal(dec.Content, content) {
						t.Fatalf("content differs: got %d octets, want %d", len(dec.Content), len(content))
					}
					if dec.Cipher != c.String() || dec.Authenticated != (c == AES256GCM) {
						t.Errorf("decrypted %+v", dec)
					}
				})
			}
		}
	}
}

// Every recipient of a group, the sender included, can decrypt the one
// message; the signed entity comes back unchanged.
func TestEncryptSignedManyRecipients(t *testing.T) {
	keys := recipientKeys(t)
	p := getPKI(t)
	signed, err := p.signer(t, "rsa").Sign([]HeaderField{{"Content-Type", "text/plain; charset=utf-8"}}, strings.NewReader(utf8Text))
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte("Content-Type: "+signed.ContentType+"\r\n\r\n"), signed.Body...)
	var rs []Recipient
	for _, name := range []string{"rsa2048", "rsa3072", "p256", "p384", "rsa2048"} { // a duplicate too
		rs = append(rs, Recipient{Cert: keys[name].cert})
	}
	for _, c := range []Cipher{AES256CBC, AES256GCM} {
		enc, err := EncryptSigned(signed, rs, EncryptOptions{Cipher: c})
		if err != nil {
			t.Fatal(err)
		}
		der := decodeBody(t, enc)
		env, err := parseEnvelope(der)
		if err != nil {
			t.Fatal(err)
		}
		if len(env.recipients) != 4 {
			t.Errorf("%v: %d recipient infos, want 4 (duplicate dropped)", c, len(env.recipients))
		}
		for _, name := range []string{"rsa2048", "rsa3072", "p256", "p384"} {
			dec, err := Decrypt(der, keys[name].cert, keys[name].key)
			if err != nil {
				t.Fatalf("%v/%s: %v", c, name, err)
			}
			if !bytes.Equal(dec.Content, want) {
				t.Fatalf("%v/%s: content differs", c, name)
			}
		}
	}
}

func TestEncryptRecipientErrors(t *testing.T) {
	keys := recipientKeys(t)
	p := getPKI(t)
	mk := func(mod func(*x509.Certificate), pub any) *x509.Certificate {
		tmpl := leafTemplate("x@partner.example")
		tmpl.KeyUsage = x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement
		mod(tmpl)
		return issue(t, tmpl, p.inter, pub, p.interKey)
	}
	rsaPub := keys["rsa2048"].key.Public()
	ecPub := keys["p256"].key.Public()
	cases := []struct {
		name string
		rs   []Recipient
		want error
	}{
		{"none", nil, ErrNoRecipients},
		{"nil cert", []Recipient{{}}, ErrRecipient},
		{"expired", []Recipient{{Cert: mk(func(c *x509.Certificate) { c.NotAfter = time.Now().Add(-time.Minute) }, rsaPub)}}, ErrRecipient},
		{"rsa without keyEncipherment", []Recipient{{Cert: mk(func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature }, rsaPub)}}, ErrRecipient},
		{"ec without keyAgreement", []Recipient{{Cert: mk(func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature }, ecPub)}}, ErrRecipient},
		{"server EKU", []Recipient{{Cert: mk(func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} }, rsaPub)}}, ErrRecipient},
		{"rsa 1024", []Recipient{{Cert: mk(func(*x509.Certificate) {}, rsaKey(t, 1024).Public())}}, ErrRecipient},
		{"p224", []Recipient{{Cert: mk(func(*x509.Certificate) {}, ecKey(t, elliptic.P224()).Public())}}, ErrRecipient},
		{"one bad among good", []Recipient{{Cert: keys["p256"].cert}, {Cert: mk(func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature }, rsaPub)}}, ErrRecipient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := Encrypt([]byte("x"), tc.rs, EncryptOptions{})
			if !errors.Is(err, tc.want) || enc != nil {
				t.Fatalf("Encrypt: %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := Encrypt([]byte("x"), []Recipient{{Cert: keys["p256"].cert}}, EncryptOptions{Cipher: 7}); err == nil {
		t.Error("unknown cipher accepted")
	}
	if _, err := Encrypt([]byte("x"), []Recipient{{Cert: keys["rsa2048"].cert, KeyTransport: 9}}, EncryptOptions{}); err == nil {
		t.Error("unknown key transport accepted")
	}
}

// flip returns der with the octet at i changed.
func flip(der []byte, i int) []byte {
	b := bytes.Clone(der)
	b[i] ^= 0x01
	return b
}

func TestDecryptErrors(t *testing.T) {
	keys := recipientKeys(t)
	content := []byte("pay 100 EUR to account 1234\r\n")
	encrypt := func(c Cipher, name string, kt KeyTransport) []byte {
		enc, err := Encrypt(content, []Recipient{{Cert: keys[name].cert, KeyTransport: kt}}, EncryptOptions{Cipher: c})
		if err != nil {
			t.Fatal(err)
		}
		return decodeBody(t, enc)
	}
	gcm := encrypt(AES256GCM, "rsa2048", PKCS1v15)
	cbc := encrypt(AES256CBC, "rsa2048", PKCS1v15)
	oaep := encrypt(AES256CBC, "rsa2048", OAEPSHA256)
	ecdh := encrypt(AES256GCM, "p256", PKCS1v15)
	// The last octets of a GCM message are the tag; of CBC, the padding.
	cases := []struct {
		name string
		der  []byte
		key  string
		want error
		// CBC has no integrity: a wrong content key (implicit rejection)
		// fails the padding check only in about 255 of 256 cases, else it
		// yields garbage.
		mayGarble bool
	}{
		{"gcm tag altered", flip(gcm, len(gcm)-1), "rsa2048", ErrDecrypt, false},
		{"gcm ciphertext altered", flip(gcm, len(gcm)-20), "rsa2048", ErrDecrypt, false},
		// The content is 29 octets, so the padding is 3 3 3; the flip in
		// the block before turns the last octet into 2.
		{"cbc padding altered", flip(cbc, len(cbc)-17), "rsa2048", ErrDecrypt, false},
		{"rsa key block altered", flip(cbc, 300), "rsa2048", ErrDecrypt, true},
		{"oaep key block altered", flip(oaep, 320), "rsa2048", ErrDecrypt, false},
		{"ecdh wrapped key altered", flip(ecdh, bytes.Index(ecdh, []byte{0x04, 40})+10), "p256", ErrDecrypt, false},
		{"not for us", cbc, "p256", ErrNotForUs, false},
		{"not for us (ec)", ecdh, "rsa2048", ErrNotForUs, false},
		{"truncated", cbc[:len(cbc)-3], "rsa2048", ErrMalformed, false},
		{"trailing garbage", append(bytes.Clone(cbc), 0), "rsa2048", ErrMalformed, false},
		{"empty", nil, "rsa2048", ErrMalformed, false},
		{"signed data", tlv(tagSequence, derOID(oidSignedData), tlv(0xa0, tlv(tagSequence))), "rsa2048", ErrUnsupported, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dec, err := Decrypt(tc.der, keys[tc.key].cert, keys[tc.key].key)
			if tc.mayGarble && err == nil && !bytes.Equal(dec.Content, content) {
				return
			}
			if !errors.Is(err, tc.want) || dec != nil {
				t.Fatalf("Decrypt: %v, want %v", err, tc.want)
			}
		})
	}
	// An EC key cannot open an RSA recipient info, even when the
	// certificate matches: a usage error, not a decryption failure.
	if _, err := Decrypt(cbc, keys["rsa2048"].cert, keys["p256"].key); !errors.Is(err, ErrKeyType) {
		t.Errorf("EC key for RSA recipient: %v", err)
	}
}

func TestUnpad(t *testing.T) {
	block := func(tail ...byte) []byte {
		b := bytes.Repeat([]byte{0xaa}, 32-len(tail))
		return append(b, tail...)
	}
	cases := []struct {
		b    []byte
		n    int
		good bool
	}{
		{block(1), 31, true},
		{block(2, 2), 30, true},
		{bytes.Repeat([]byte{16}, 32), 16, true},
		{block(0), 0, false},
		{block(17), 0, false},
		{block(0xff), 0, false},
		{block(1, 2), 0, false},
		{block(3, 2, 3), 0, false},
	}
	for i, tc := range cases {
		n, ok := unpad(tc.b)
		if ok != tc.good || (ok && n != tc.n) {
			t.Errorf("case %d: unpad = %d, %v; want %d, %v", i, n, ok, tc.n, tc.good)
		}
	}
}

func TestKeyWrapRFC3394(t *testing.T) {
	// RFC 3394 4.6: 256-bit key data with a 256-bit KEK.
	kek := mustHex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
	key := mustHex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F")
	want := mustHex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21")
	got, err := aesKeyWrap(kek, key)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("wrap = %X, %v", got, err)
	}
	back, err := aesKeyUnwrap(kek, got)
	if err != nil || !bytes.Equal(back, key) {
		t.Fatalf("unwrap = %X, %v", back, err)
	}
	if _, err := aesKeyUnwrap(kek, flip(got, 5)); err == nil {
		t.Fatal("altered wrapped key accepted")
	}
}

func mustHex(s string) []byte {
	var b []byte
	for i := 0; i+1 < len(s); i += 2 {
		var v byte
		fmt.Sscanf(s[i:i+2], "%02X", &v)
		b = append(b, v)
	}
	return b
}

// Keys of the wrong type for a certificate are refused cleanly.
func TestDecryptKeyTypes(t *testing.T) {
	keys := recipientKeys(t)
	enc, err := Encrypt([]byte("x"), []Recipient{{Cert: keys["p256"].cert}}, EncryptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	der := decodeBody(t, enc)
	ec := keys["p256"].key.(*ecdsa.PrivateKey)
	ecdhKey, err := ec.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	if dec, err := Decrypt(der, keys["p256"].cert, ecdhKey); err != nil || string(dec.Content) != "x" {
		t.Errorf("*ecdh.PrivateKey: %v", err)
	}
	if _, err := Decrypt(der, keys["p256"].cert, keys["rsa2048"].key.(*rsa.PrivateKey)); !errors.Is(err, ErrKeyType) {
		t.Error("RSA key for an ECDH recipient accepted")
	}
	if _, err := Decrypt(der, nil, ec); err == nil {
		t.Error("nil certificate accepted")
	}
}

// The ciphertext is base64-encoded out of the same buffer the text goes
// into: every content length (over four base64 lines' worth) with either
// prefix length (one or three recipients) must decrypt intact, and the
// text must be laid out as plain base64 lines.
func TestEncryptInPlaceEncoding(t *testing.T) {
	keys := recipientKeys(t)
	groups := [][]Recipient{
		{{Cert: keys["p256"].cert}},
		{{Cert: keys["p256"].cert}, {Cert: keys["p384"].cert}, {Cert: keys["rsa2048"].cert}},
	}
	k := keys["p256"]
	for _, c := range []Cipher{AES256CBC, AES256GCM} {
		for gi, g := range groups {
			for n := 0; n <= 240; n++ {
				content := bytes.Repeat([]byte{byte(n)}, n)
				enc, err := Encrypt(content, g, EncryptOptions{Cipher: c})
				if err != nil {
					t.Fatal(err)
				}
				der := decodeBody(t, enc)
				var want bytes.Buffer
				b64 := base64.StdEncoding.EncodeToString(der)
				for len(b64) > 0 {
					l := min(76, len(b64))
					want.WriteString(b64[:l] + "\r\n")
					b64 = b64[l:]
				}
				if !bytes.Equal(enc.Body, want.Bytes()) {
					t.Fatalf("%v/group %d/%d octets: text differs from plain base64", c, gi, n)
				}
				dec, err := Decrypt(der, k.cert, k.key)
				if err != nil || !bytes.Equal(dec.Content, content) {
					t.Fatalf("%v/group %d/%d octets: %v", c, gi, n, err)
				}
			}
		}
	}
}
