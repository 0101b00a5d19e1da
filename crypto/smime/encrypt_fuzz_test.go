package smime

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzDecrypt feeds arbitrary BER to Decrypt with an RSA and an EC key.
// It must never panic (a recovered panic shows as ErrInternal) and must
// fail with one of its documented errors or return content.
func FuzzDecrypt(f *testing.F) {
	keys := recipientKeys(f)
	for _, c := range []Cipher{AES256CBC, AES256GCM} {
		for _, r := range []Recipient{
			{Cert: keys["rsa2048"].cert},
			{Cert: keys["rsa2048"].cert, KeyTransport: OAEPSHA256, BySKI: true},
			{Cert: keys["p256"].cert},
			{Cert: keys["p256"].cert, BySKI: true},
		} {
			enc, err := Encrypt([]byte("Content-Type: text/plain\r\n\r\nhi\r\n"), []Recipient{r}, EncryptOptions{Cipher: c})
			if err != nil {
				f.Fatal(err)
			}
			f.Add(decodeBody(f, enc))
		}
	}
	// BER forms: an indefinite length and a chunked OCTET STRING.
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03, 0xa0, 0x80, 0x30, 0x80, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x24, 0x80, 0x04, 0x01, 0x41, 0x24, 0x03, 0x04, 0x01, 0x42, 0, 0})
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, der []byte) {
		for _, name := range []string{"rsa2048", "p256"} {
			k := keys[name]
			dec, err := Decrypt(der, k.cert, k.key)
			if err == nil {
				if dec == nil {
					t.Fatal("no error and no result")
				}
				continue
			}
			if errors.Is(err, ErrInternal) {
				t.Fatalf("Decrypt panicked: %v", err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotForUs) && !errors.Is(err, ErrDecrypt) &&
				!errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrKeyType) {
				t.Fatalf("undocumented error: %v", err)
			}
		}
	})
}

// FuzzParseSMIMECapabilities: never panics; what it returns re-encodes.
func FuzzParseSMIMECapabilities(f *testing.F) {
	f.Add(smimeCapabilities)
	f.Add(tlv(tagSet, capsDER(oidAES256GCM, oidAES256CBC)))
	f.Add(tlv(tagSequence, tlv(tagSequence, derOID(oidData), derInt(128))))
	f.Add([]byte{0x30, 0x80, 0x30, 0x80, 0x06, 0x01, 0x2a, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, der []byte) {
		caps, err := ParseSMIMECapabilities(der)
		if errors.Is(err, ErrInternal) {
			t.Fatalf("panicked: %v", err)
		}
		for _, c := range caps {
			if len(c.ID) < 2 {
				t.Fatalf("capability with OID %v", c.ID)
			}
		}
	})
}

// FuzzParseSignerCapabilities: never panics on any SignedData-like input.
func FuzzParseSignerCapabilities(f *testing.F) {
	p := getPKI(f)
	for _, kind := range []string{"rsa", "ecdsa"} {
		signed, err := p.signer(f, kind).Sign(nil, strings.NewReader("x\n"))
		if err != nil {
			f.Fatal(err)
		}
		_, der, err := splitSigned(signed)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		out, err := ParseSignerCapabilities(der)
		if errors.Is(err, ErrInternal) {
			t.Fatalf("panicked: %v", err)
		}
		for _, s := range out {
			if s.Serial == nil && s.SubjectKeyID == nil {
				t.Fatal("signer without identifier")
			}
		}
	})
}

// FuzzBER checks the BER reader directly: any element it accepts lies
// within the input, and re-reading its full encoding gives the same
// element.
func FuzzBER(f *testing.F) {
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x05})
	f.Add([]byte{0x30, 0x80, 0x04, 0x00, 0, 0})
	f.Add([]byte{0x1f, 0x81, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := parseBER(b)
		if err != nil {
			return
		}
		if !bytes.Equal(e.full, b) {
			t.Fatalf("full encoding %x, input %x", e.full, b)
		}
		if e.compound {
			if _, err := children(e); err != nil {
				return
			}
		}
		if _, err := octets(e); err != nil {
			return
		}
	})
}
