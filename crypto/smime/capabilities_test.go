package smime

import (
	"encoding/asn1"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func capsDER(ids ...asn1.ObjectIdentifier) []byte {
	var list [][]byte
	for _, id := range ids {
		list = append(list, tlv(tagSequence, derOID(id)))
	}
	return tlv(tagSequence, list...)
}

func TestParseSMIMECapabilities(t *testing.T) {
	rc2 := tlv(tagSequence, derOID(asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 2}), derInt(128))
	cases := []struct {
		name    string
		der     []byte
		want    []string
		wantErr bool
	}{
		{"ours", smimeCapabilities, []string{"2.16.840.1.101.3.4.1.42", "2.16.840.1.101.3.4.1.22", "2.16.840.1.101.3.4.1.2"}, false},
		{"gcm first", capsDER(oidAES256GCM, oidAES256CBC), []string{"2.16.840.1.101.3.4.1.46", "2.16.840.1.101.3.4.1.42"}, false},
		{"attribute value set", tlv(tagSet, capsDER(oidAES256GCM)), []string{"2.16.840.1.101.3.4.1.46"}, false},
		{"with parameters", tlv(tagSequence, rc2), []string{"1.2.840.113549.3.2"}, false},
		{"empty list", tlv(tagSequence), nil, false},
		{"empty set", tlv(tagSet), nil, true},
		{"not a sequence", derOID(oidAES256GCM), nil, true},
		{"entry without OID", tlv(tagSequence, tlv(tagSequence)), nil, true},
		{"entry with three fields", tlv(tagSequence, tlv(tagSequence, derOID(oidData), derInt(1), derInt(2))), nil, true},
		{"truncated", capsDER(oidAES256GCM)[:5], nil, true},
		{"garbage", []byte{0xff, 0xff, 0xff}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			caps, err := ParseSMIMECapabilities(tc.der)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			var got []string
			for _, c := range caps {
				got = append(got, c.ID.String())
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	caps, _ := ParseSMIMECapabilities(tlv(tagSequence, rc2))
	if len(caps) != 1 || string(caps[0].Params) != string(derInt(128)) {
		t.Errorf("parameters %x", caps[0].Params)
	}
}

func TestChooseCipher(t *testing.T) {
	gcm := []Capability{{ID: oidAES256CBC}, {ID: OIDAES256GCM}}
	cbc := []Capability{{ID: oidAES256CBC}}
	cases := []struct {
		setting string
		caps    [][]Capability
		want    Cipher
		wantErr bool
	}{
		{"auto", [][]Capability{gcm, gcm}, AES256GCM, false},
		{"", [][]Capability{gcm}, AES256GCM, false},
		{"auto", [][]Capability{gcm, cbc}, AES256CBC, false},
		{"auto", [][]Capability{gcm, nil}, AES256CBC, false},
		{"auto", nil, AES256CBC, false},
		{"aes256-gcm", [][]Capability{cbc}, AES256GCM, false},
		{"aes256-cbc", [][]Capability{gcm}, AES256CBC, false},
		{"AES256-GCM", nil, 0, true},
		{"des3", nil, 0, true},
	}
	for _, tc := range cases {
		got, err := ChooseCipher(tc.setting, tc.caps)
		if (err != nil) != tc.wantErr || (err == nil && got != tc.want) {
			t.Errorf("ChooseCipher(%q, %d lists) = %v, %v; want %v, error %v", tc.setting, len(tc.caps), got, err, tc.want, tc.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "smime_cipher") {
			t.Errorf("error %q does not name the setting", err)
		}
	}
}

// TestParseSignerCapabilities reads the capabilities our Signer announces
// and those `openssl cms -sign` writes.
func TestParseSignerCapabilities(t *testing.T) {
	p := getPKI(t)
	s := p.signer(t, "ecdsa")
	signed, err := s.Sign(nil, strings.NewReader("hello\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, der, err := splitSigned(signed)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseSignerCapabilities(der)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Matches(s.Certificate()) || got[0].Matches(p.rsaCert) {
		t.Fatalf("signer capabilities %+v", got)
	}
	if len(got[0].Capabilities) != 3 || !got[0].Capabilities[0].ID.Equal(oidAES256CBC) {
		t.Errorf("capabilities %+v", got[0].Capabilities)
	}

	openssl := opensslPath(t)
	dir := t.TempDir()
	k := recipientKeys(t)["p256"]
	certFile, keyFile := writeKeyPair(t, dir, k)
	in := filepath.Join(dir, "in.txt")
	os.WriteFile(in, []byte("hello\r\n"), 0o600)
	for _, extra := range [][]string{nil, {"-keyid"}} {
		out := filepath.Join(dir, "sig.der")
		args := append([]string{"cms", "-sign", "-in", in, "-signer", certFile, "-inkey", keyFile, "-outform", "DER", "-out", out}, extra...)
		if res, err := runTool(t, nil, openssl, args...); err != nil {
			t.Fatalf("openssl cms -sign: %v\n%s", err, res)
		}
		der, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseSignerCapabilities(der)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !got[0].Matches(k.cert) {
			t.Fatalf("%v: signer capabilities %+v", extra, got)
		}
		if (extra != nil) != (got[0].SubjectKeyID != nil) {
			t.Errorf("%v: subject key identifier %x", extra, got[0].SubjectKeyID)
		}
		var ids []string
		for _, c := range got[0].Capabilities {
			ids = append(ids, c.ID.String())
		}
		if !strings.Contains(strings.Join(ids, ","), oidAES256CBC.String()) {
			t.Errorf("%v: openssl capabilities %v lack AES-256-CBC", extra, ids)
		}
	}
	if _, err := ParseSignerCapabilities(smimeCapabilities); err == nil {
		t.Error("capabilities accepted as SignedData")
	}
}

func TestNames(t *testing.T) {
	for got, want := range map[string]string{
		AES256CBC.String(): "aes256-cbc", AES256GCM.String(): "aes256-gcm", Cipher(9).String(): "Cipher(9)",
		PKCS1v15.String(): "rsa-pkcs1v15", OAEPSHA256.String(): "rsa-oaep-sha256", KeyTransport(5).String(): "KeyTransport(5)",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
