package smime

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/crypto/smime/smimetest"
)

func mustIssue(t testing.TB, parent *smimetest.Cert, tmpl smimetest.Template) *smimetest.Cert {
	t.Helper()
	c, err := smimetest.Issue(parent, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestVerifySigner(t *testing.T) {
	ca := mustIssue(t, nil, smimetest.Template{CN: "Test CA", IsCA: true})
	rsaLeaf := mustIssue(t, ca, smimetest.Template{CN: "alice", Emails: []string{"alice@partner.example"}})
	ecLeaf := mustIssue(t, ca, smimetest.Template{CN: "bob", Emails: []string{"bob@partner.example"}, Key: smimetest.P256})
	edLeaf := mustIssue(t, ca, smimetest.Template{CN: "carol", Emails: []string{"carol@partner.example"}, Key: smimetest.Ed25519})
	content := []byte("Content-Type: text/plain\r\n\r\nhello\r\n")
	other := []byte("Content-Type: text/plain\r\n\r\nhellO\r\n")
	signedAt := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

	tests := []struct {
		name      string
		spec      smimetest.Spec
		detached  []byte // passed to VerifySigner
		wantErr   error
		algorithm string
		digest    string
		weak      bool
	}{
		{name: "rsa pkcs1 sha256 detached", spec: smimetest.Spec{Content: content, Detached: true, Signers: []smimetest.Signer{{Cert: rsaLeaf, SigningTime: signedAt}}}, detached: content, algorithm: "RSA PKCS#1 v1.5", digest: "SHA-256"},
		{name: "rsa pkcs1 sha512 embedded", spec: smimetest.Spec{Content: content, Signers: []smimetest.Signer{{Cert: rsaLeaf, Hash: crypto.SHA512}}}, algorithm: "RSA PKCS#1 v1.5", digest: "SHA-512"},
		{name: "rsa pss sha256", spec: smimetest.Spec{Content: content, Signers: []smimetest.Signer{{Cert: rsaLeaf, PSS: true}}}, algorithm: "RSA-PSS", digest: "SHA-256"},
		{name: "rsa pss sha384", spec: smimetest.Spec{Content: content, Signers: []smimetest.Signer{{Cert: rsaLeaf, PSS: true, Hash: crypto.SHA384}}}, algorithm: "RSA-PSS", digest: "SHA-384"},
		{name: "ecdsa sha384", spec: smimetest.Spec{Content: content, Signers: []smimetest.Signer{{Cert: ecLeaf, Hash: crypto.SHA384}}}, algorithm: "ECDSA", digest: "SHA-384"},
		{name: "ed25519", spec: smimetest.Spec{Content: content, Signers: []smimetest.Signer{{Cert: edLeaf}}}, algorithm: "Ed25519", digest: "SHA-512"},
		{name: "ed25519 no attributes", spec: smimetest.Spec{Content: content, Signers: []smimetest.Signer{{Cert: edLeaf, NoAttributes: true}}}, algorithm: "Ed25519", digest: "SHA-512"},
		{name: "rsa no attributes", spec: smimetest.Spec{Content: content, Signers: []smimetest.Signer{{Cert: rsaLeaf, NoAttributes: true}}}, algorithm: "RSA PKCS#1 v1.5", digest: "SHA-256"},
		{name: "signed attributes in BER", spec: smimetest.Spec{Content: content, Signers: []smimetest.Signer{{Cert: rsaLeaf, BERAttributes: true}}}, algorithm: "RSA PKCS#1 v1.5", digest: "SHA-256"},
		{name: "signed attributes in BER, content changed", spec: smimetest.Spec{Content: content, Embed: other, Signers: []smimetest.Signer{{Cert: ecLeaf, BERAttributes: true}}}, wantErr: ErrBadSignature, algorithm: "ECDSA", digest: "SHA-256"},
		{name: "signed attributes in BER, corrupt", spec: smimetest.Spec{Content: content, Signers: []smimetest.Signer{{Cert: edLeaf, BERAttributes: true, Corrupt: true}}}, wantErr: ErrBadSignature, algorithm: "Ed25519", digest: "SHA-512"},
		{name: "by subject key id", spec: smimetest.Spec{Content: content, Signers: []smimetest.Signer{{Cert: ecLeaf, BySKI: true}}}, algorithm: "ECDSA", digest: "SHA-256"},
		{name: "sha1 verifies but is weak", spec: smimetest.Spec{Content: content, Signers: []smimetest.Signer{{Cert: rsaLeaf, Hash: crypto.SHA1}}}, algorithm: "RSA PKCS#1 v1.5", digest: "SHA-1", weak: true},
		{name: "md5 verifies but is weak", spec: smimetest.Spec{Content: content, Signers: []smimetest.Signer{{Cert: rsaLeaf, Hash: crypto.MD5}}}, algorithm: "RSA PKCS#1 v1.5", digest: "MD5", weak: true},
		{name: "detached content changed", spec: smimetest.Spec{Content: content, Detached: true, Signers: []smimetest.Signer{{Cert: rsaLeaf}}}, detached: other, wantErr: ErrBadSignature, algorithm: "RSA PKCS#1 v1.5", digest: "SHA-256"},
		{name: "embedded content differs from signed", spec: smimetest.Spec{Content: content, Embed: other, Signers: []smimetest.Signer{{Cert: rsaLeaf}}}, wantErr: ErrBadSignature, algorithm: "RSA PKCS#1 v1.5", digest: "SHA-256"},
		{name: "no attributes content changed", spec: smimetest.Spec{Content: content, Embed: other, Signers: []smimetest.Signer{{Cert: ecLeaf, NoAttributes: true}}}, wantErr: ErrBadSignature, algorithm: "ECDSA", digest: "SHA-256"},
		{name: "lying message digest", spec: smimetest.Spec{Content: content, Signers: []smimetest.Signer{{Cert: rsaLeaf, MessageDigest: make([]byte, 32)}}}, wantErr: ErrBadSignature, algorithm: "RSA PKCS#1 v1.5", digest: "SHA-256"},
		{name: "content-type attribute differs", spec: smimetest.Spec{Content: content, Signers: []smimetest.Signer{{Cert: rsaLeaf, ContentType: smimetest.OIDEnvelopedData}}}, wantErr: ErrBadSignature, algorithm: "RSA PKCS#1 v1.5", digest: "SHA-256"},
		{name: "corrupt rsa", spec: smimetest.Spec{Content: content, Signers: []smimetest.Signer{{Cert: rsaLeaf, Corrupt: true}}}, wantErr: ErrBadSignature, algorithm: "RSA PKCS#1 v1.5", digest: "SHA-256"},
		{name: "corrupt pss", spec: smimetest.Spec{Content: content, Signers: []smimetest.Signer{{Cert: rsaLeaf, PSS: true, Corrupt: true}}}, wantErr: ErrBadSignature, algorithm: "RSA-PSS", digest: "SHA-256"},
		{name: "corrupt ecdsa", spec: smimetest.Spec{Content: content, Signers: []smimetest.Signer{{Cert: ecLeaf, Corrupt: true}}}, wantErr: ErrBadSignature, algorithm: "ECDSA", digest: "SHA-256"},
		{name: "corrupt ed25519", spec: smimetest.Spec{Content: content, Signers: []smimetest.Signer{{Cert: edLeaf, Corrupt: true}}}, wantErr: ErrBadSignature, algorithm: "Ed25519", digest: "SHA-512"},
		{name: "certificate not included", spec: smimetest.Spec{Content: content, Certs: []*x509.Certificate{ecLeaf.Cert}, Signers: []smimetest.Signer{{Cert: rsaLeaf}}}, wantErr: ErrNoSignerCertificate, algorithm: "RSA PKCS#1 v1.5", digest: "SHA-256"},
		{name: "other signer's certificate", spec: smimetest.Spec{Content: content, Certs: []*x509.Certificate{ecLeaf.Cert}, Signers: []smimetest.Signer{{Cert: &smimetest.Cert{Cert: ecLeaf.Cert, Key: rsaLeaf.Key}}}}, wantErr: ErrBadSignature, algorithm: "RSA PKCS#1 v1.5", digest: "SHA-256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			der, err := smimetest.SignedData(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			sd, err := ParseSignedData(der)
			if err != nil {
				t.Fatalf("ParseSignedData: %v", err)
			}
			if sd.Detached != tc.spec.Detached || !sd.IsData() || len(sd.Signers) != 1 {
				t.Fatalf("detached %v, data %v, %d signers", sd.Detached, sd.IsData(), len(sd.Signers))
			}
			si := sd.Signers[0]
			if si.Algorithm != tc.algorithm || si.Digest != tc.digest || si.WeakDigest() != tc.weak {
				t.Errorf("algorithm %q digest %q weak %v", si.Algorithm, si.Digest, si.WeakDigest())
			}
			err = sd.VerifySigner(0, tc.detached)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("VerifySigner = %v, want %v", err, tc.wantErr)
			}
			if tc.name == "rsa pkcs1 sha256 detached" {
				if !si.SigningTime.Equal(signedAt) || len(si.Capabilities) != 1 || si.Cert != rsaLeaf.Cert && !si.Cert.Equal(rsaLeaf.Cert) {
					t.Errorf("signing time %v, %d capabilities, cert %v", si.SigningTime, len(si.Capabilities), si.Cert.Subject)
				}
			}
		})
	}
}

func TestParseSignedDataRefuses(t *testing.T) {
	ca := mustIssue(t, nil, smimetest.Template{CN: "Test CA", IsCA: true})
	content := []byte("x")
	empty, err := smimetest.SignedData(smimetest.Spec{Content: content, Certs: []*x509.Certificate{ca.Cert}})
	if err != nil {
		t.Fatal(err)
	}
	sd, err := ParseSignedData(empty)
	if err != nil || len(sd.Signers) != 0 {
		t.Fatalf("no signers: %v, %v", sd, err)
	}
	if sd.VerifySigner(0, nil) == nil {
		t.Error("VerifySigner of a missing signer succeeded")
	}
	for name, in := range map[string][]byte{
		"empty":       nil,
		"garbage":     []byte("hello"),
		"truncated":   empty[:len(empty)-3],
		"not signed":  must(asn1.Marshal(struct{ A asn1.ObjectIdentifier }{smimetest.OIDEnvelopedData})),
		"data":        must(asn1.Marshal(struct{ A asn1.ObjectIdentifier }{smimetest.OIDData})),
		"deep":        bytes.Repeat([]byte{0x30, 0x80}, 10000),
		"huge length": {0x30, 0x84, 0xff, 0xff, 0xff, 0xff},
	} {
		if _, err := ParseSignedData(in); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestVerifyOpenSSLSigned verifies what `openssl cms -sign` writes with each
// signature algorithm RFC 8551 asks receivers to verify, detached and
// opaque, DER and streamed BER. Ed25519 is not among them: OpenSSL 3.0
// cannot sign CMS with it ("no default digest"); TestVerifySigner covers
// it with RFC 8419 signatures of our own.
func TestVerifyOpenSSLSigned(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl not found (required): %v", err)
	}
	ca := mustIssue(t, nil, smimetest.Template{CN: "Test CA", IsCA: true})
	dir := t.TempDir()
	content := []byte("Content-Type: text/plain\r\n\r\nsigned by openssl\r\n")
	if err := os.WriteFile(filepath.Join(dir, "content"), content, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, algorithm string
		key             smimetest.KeyType
		args            []string
	}{
		{"rsa", "RSA PKCS#1 v1.5", smimetest.RSA2048, nil},
		{"rsa-pss", "RSA-PSS", smimetest.RSA2048, []string{"-keyopt", "rsa_padding_mode:pss"}},
		{"ecdsa", "ECDSA", smimetest.P256, []string{"-md", "sha384"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaf := mustIssue(t, ca, smimetest.Template{CN: tc.name, Emails: []string{tc.name + "@partner.example"}, Key: tc.key})
			certFile, keyFile := writePEM(t, dir, tc.name, leaf)
			for _, mode := range []struct {
				name  string
				extra []string
			}{{"detached", nil}, {"opaque", []string{"-nodetach"}}, {"streamed", []string{"-nodetach", "-stream", "-indef"}}} {
				if tc.name == "rsa-pss" && mode.name == "streamed" {
					continue // OpenSSL 3.0 fails to stream RSA-PSS ("illegal zero content")
				}
				out := filepath.Join(dir, tc.name+mode.name+".p7s")
				args := append([]string{"cms", "-sign", "-binary", "-in", filepath.Join(dir, "content"), "-signer", certFile, "-inkey", keyFile, "-outform", "DER", "-out", out}, tc.args...)
				args = append(args, mode.extra...)
				if res, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
					t.Fatalf("openssl %v: %v\n%s", args, err, res)
				}
				der, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				sd, err := ParseSignedData(der)
				if err != nil {
					t.Fatalf("%s: %v", mode.name, err)
				}
				var detached []byte
				if mode.name == "detached" {
					detached = content
				} else if !bytes.Equal(sd.Content, content) {
					t.Fatalf("%s: content %q", mode.name, sd.Content)
				}
				if len(sd.Signers) != 1 || sd.Signers[0].Algorithm != tc.algorithm {
					t.Fatalf("%s: signers %+v", mode.name, sd.Signers)
				}
				if err := sd.VerifySigner(0, detached); err != nil {
					t.Fatalf("%s: %v", mode.name, err)
				}
				if mode.name == "detached" {
					if err := sd.VerifySigner(0, []byte(strings.Replace(string(content), "signed", "signeD", 1))); !errors.Is(err, ErrBadSignature) {
						t.Fatalf("tampered: %v", err)
					}
				}
			}
		})
	}
}

func writePEM(t *testing.T, dir, name string, c *smimetest.Cert) (certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM, err := smimetest.PEM(c)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
