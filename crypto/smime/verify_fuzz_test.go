package smime

import (
	"crypto"
	"errors"
	"testing"

	"github.com/mailseal/mailseal/crypto/smime/smimetest"
)

// FuzzParseSignedData feeds arbitrary BER to ParseSignedData and, when it
// parses, verifies every signer over the content and over other bytes.
// It must never panic (a recovered panic shows as ErrInternal) and must
// fail only with its documented errors.
func FuzzParseSignedData(f *testing.F) {
	ca := mustIssue(f, nil, smimetest.Template{CN: "Fuzz CA", IsCA: true, Key: smimetest.P256})
	rsaLeaf := mustIssue(f, ca, smimetest.Template{CN: "a", Emails: []string{"a@x.example"}})
	ecLeaf := mustIssue(f, ca, smimetest.Template{CN: "b", Emails: []string{"b@x.example"}, Key: smimetest.P256})
	edLeaf := mustIssue(f, ca, smimetest.Template{CN: "c", Emails: []string{"c@x.example"}, Key: smimetest.Ed25519})
	content := []byte("Content-Type: text/plain\r\n\r\nfuzz\r\n")
	for _, spec := range []smimetest.Spec{
		{Content: content, Signers: []smimetest.Signer{{Cert: rsaLeaf}}},
		{Content: content, Detached: true, Signers: []smimetest.Signer{{Cert: rsaLeaf, PSS: true, Hash: crypto.SHA384}}},
		{Content: content, Signers: []smimetest.Signer{{Cert: ecLeaf, BySKI: true}, {Cert: edLeaf}}},
		{Content: content, Signers: []smimetest.Signer{{Cert: edLeaf, NoAttributes: true}}},
		{Content: content, Signers: []smimetest.Signer{{Cert: rsaLeaf, Hash: crypto.SHA1}}},
		{Content: content, Signers: []smimetest.Signer{{Cert: ecLeaf, BERAttributes: true}}},
		{Content: content},
	} {
		der, err := smimetest.SignedData(spec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x80, 0x30, 0x80, 0x02, 0x01, 0x01, 0x31, 0x00, 0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01, 0, 0, 0x31, 0x00, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, der []byte) {
		sd, err := ParseSignedData(der)
		if err != nil {
			if errors.Is(err, ErrInternal) {
				t.Fatalf("ParseSignedData panicked: %v", err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		for i := range sd.Signers {
			for _, c := range [][]byte{nil, content} {
				if err := sd.VerifySigner(i, c); errors.Is(err, ErrInternal) {
					t.Fatalf("VerifySigner panicked: %v", err)
				}
			}
		}
	})
}
