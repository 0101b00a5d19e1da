package smime

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// interopContent is the content of the interop tests: UTF-8 text and a
// 3 MB random binary attachment, made once.
var interopContent = sync.OnceValue(func() []byte {
	// Random bytes, not a pattern: a pattern could hide a misplaced block.
	bin := make([]byte, 3<<20)
	rand.Read(bin)
	return buildEntity(utf8Text, bin)
})

func runTool(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// writeMessage writes enc as a complete message a client would receive.
func writeMessage(t *testing.T, path string, enc *Encrypted) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("From: a@corp.example\r\nTo: b@partner.example\r\nSubject: test\r\nMIME-Version: 1.0\r\n")
	for _, f := range enc.Header() {
		b.WriteString(f.Name + ": " + f.Value + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(enc.Body)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestEncryptOpenSSLDecrypt: what we encrypt, `openssl cms -decrypt`
// decrypts to the same bytes, for every cipher and recipient kind; the
// parameters it prints are the ones the RFCs ask for.
func TestEncryptOpenSSLDecrypt(t *testing.T) {
	openssl := opensslPath(t)
	keys := recipientKeys(t)
	content := interopContent()
	dir := t.TempDir()
	cases := []struct {
		name   string
		cipher Cipher
		key    string
		kt     KeyTransport
		bySKI  bool
		dump   []string // in `openssl cms -cmsout -print`
	}{
		{"cbc-rsa-pkcs1", AES256CBC, "rsa2048", PKCS1v15, false, []string{"pkcs7-envelopedData", "rsaEncryption", "aes-256-cbc"}},
		{"cbc-rsa-oaep", AES256CBC, "rsa2048", OAEPSHA256, false, []string{"rsaesOaep", "cont [ 0 ] SEQUENCE OBJECT :sha256 cont [ 1 ] SEQUENCE OBJECT :mgf1 SEQUENCE OBJECT :sha256"}},
		{"gcm-rsa-pkcs1", AES256GCM, "rsa3072", PKCS1v15, true, []string{"id-smime-ct-authEnvelopedData", "aes-256-gcm", "OCTET STRING [HEX DUMP]:", "INTEGER :10"}},
		{"gcm-rsa-oaep", AES256GCM, "rsa2048", OAEPSHA256, false, []string{"rsaesOaep", "aes-256-gcm"}},
		{"cbc-ecdh-p256", AES256CBC, "p256", 0, false, []string{"dhSinglePass-stdDH-sha256kdf-scheme", "id-aes256-wrap"}},
		{"gcm-ecdh-p256", AES256GCM, "p256", 0, true, []string{"dhSinglePass-stdDH-sha256kdf-scheme", "aes-256-gcm"}},
		{"cbc-ecdh-p384", AES256CBC, "p384", 0, true, []string{"dhSinglePass-stdDH-sha384kdf-scheme"}},
		{"gcm-ecdh-p384", AES256GCM, "p384", 0, false, []string{"dhSinglePass-stdDH-sha384kdf-scheme", "aes-256-gcm"}},
		{"gcm-ecdh-p521", AES256GCM, "p521", 0, false, []string{"dhSinglePass-stdDH-sha512kdf-scheme", "aes-256-gcm"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := keys[tc.key]
			// A second recipient in the group, so openssl must pick its own.
			other := keys["p256"]
			if tc.key == "p256" {
				other = keys["rsa2048"]
			}
			enc, err := Encrypt(content, []Recipient{{Cert: other.cert}, {Cert: k.cert, KeyTransport: tc.kt, BySKI: tc.bySKI}},
				EncryptOptions{Cipher: tc.cipher})
			if err != nil {
				t.Fatal(err)
			}
			certFile, keyFile := writeKeyPair(t, dir, k)
			eml := filepath.Join(dir, tc.name+".eml")
			writeMessage(t, eml, enc)
			out := eml + ".out"
			if res, err := runTool(t, nil, openssl, "cms", "-decrypt", "-in", eml, "-recip", certFile, "-inkey", keyFile, "-out", out); err != nil {
				t.Fatalf("openssl cms -decrypt: %v\n%s", err, res)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, content) {
				t.Fatalf("openssl output differs: %d octets, want %d", len(got), len(content))
			}
			// The parameters, printed for a small message of the same kind
			// (a dump of 3 MB is slow to print and to read).
			small, err := Encrypt([]byte("x"), []Recipient{{Cert: other.cert}, {Cert: k.cert, KeyTransport: tc.kt, BySKI: tc.bySKI}},
				EncryptOptions{Cipher: tc.cipher})
			if err != nil {
				t.Fatal(err)
			}
			writeMessage(t, eml+".small", small)
			dump, err := runTool(t, nil, openssl, "cms", "-cmsout", "-print", "-in", eml+".small")
			if err != nil {
				t.Fatalf("openssl cms -cmsout -print: %v\n%s", err, dump)
			}
			// Positions and lengths vary; compare the words.
			flat := strings.Join(strings.Fields(regexp.MustCompile(`(?m)^ *\d+:d=\d+ +hl=\d+ +l= *\d+ (cons|prim):`).ReplaceAllString(dump, "")), " ")
			for _, want := range tc.dump {
				if !strings.Contains(flat, want) {
					t.Errorf("cms dump lacks %q:\n%s", want, dumpText(dump))
				}
			}
		})
	}
}

// TestDecryptOpenSSLEncrypted: what `openssl cms -encrypt` writes, Decrypt
// reads, byte for byte, including streamed BER (indefinite lengths,
// chunked content) and key identifiers.
func TestDecryptOpenSSLEncrypted(t *testing.T) {
	openssl := opensslPath(t)
	keys := recipientKeys(t)
	content := interopContent()
	dir := t.TempDir()
	in := filepath.Join(dir, "content.eml")
	if err := os.WriteFile(in, content, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		key    string
		args   []string
		cipher string
	}{
		{"cbc-rsa", "rsa2048", []string{"-aes256"}, "aes256-cbc"},
		{"cbc128-rsa", "rsa3072", []string{"-aes128"}, "aes128-cbc"},
		{"gcm-rsa", "rsa2048", []string{"-aes-256-gcm"}, "aes256-gcm"},
		{"gcm128-rsa-ski", "rsa3072", []string{"-aes-128-gcm", "-keyid"}, "aes128-gcm"},
		{"oaep-sha256", "rsa2048", []string{"-aes256", "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"}, "aes256-cbc"},
		{"oaep-sha1", "rsa3072", []string{"-aes-256-gcm", "-keyopt", "rsa_padding_mode:oaep"}, "aes256-gcm"},
		{"oaep-sha384-mgf1-sha1-label", "rsa2048", []string{"-aes256", "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha384",
			"-keyopt", "rsa_mgf1_md:sha1", "-keyopt", "rsa_oaep_label:6d61696c7365616c"}, "aes256-cbc"},
		{"ecdh-p256", "p256", []string{"-aes256"}, "aes256-cbc"},
		{"ecdh-p256-sha256kdf", "p256", []string{"-aes256", "-keyopt", "ecdh_kdf_md:sha256"}, "aes256-cbc"},
		{"ecdh-p384-gcm-ski", "p384", []string{"-aes-256-gcm", "-keyid"}, "aes256-gcm"},
		{"ber-stream-cbc", "rsa2048", []string{"-aes256", "-stream"}, "aes256-cbc"},
		{"ber-stream-gcm-ecdh", "p384", []string{"-aes-256-gcm", "-stream"}, "aes256-gcm"},
		{"ecdh-p521-sha512kdf", "p521", []string{"-aes-192-gcm", "-keyopt", "ecdh_kdf_md:sha512"}, "aes192-gcm"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := keys[tc.key]
			certFile, _ := writeKeyPair(t, dir, k)
			out := filepath.Join(dir, tc.name+".der")
			// -keyopt applies to the -recip before it.
			args := append([]string{"cms", "-encrypt", "-binary", "-in", in, "-outform", "DER", "-out", out, "-recip", certFile}, tc.args...)
			if res, err := runTool(t, nil, openssl, args...); err != nil {
				t.Fatalf("openssl cms -encrypt: %v\n%s", err, res)
			}
			der, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := Decrypt(der, k.cert, k.key)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if !bytes.Equal(dec.Content, content) {
				t.Fatalf("content differs: %d octets, want %d", len(dec.Content), len(content))
			}
			if dec.Cipher != tc.cipher {
				t.Errorf("cipher %q, want %q", dec.Cipher, tc.cipher)
			}
		})
	}
}

// TestEncryptGpgsmDecrypt: `gpgsm --decrypt` (GnuPG, what KMail and
// Kleopatra use) reads our AES-256-CBC messages to RSA recipients.
func TestEncryptGpgsmDecrypt(t *testing.T) {
	openssl := opensslPath(t)
	if _, err := exec.LookPath("gpgsm"); err != nil {
		t.Fatalf("gpgsm not found (required): %v", err)
	}
	keys := recipientKeys(t)
	p := getPKI(t)
	content := interopContent()
	for _, tc := range []struct {
		name string
		key  string
	}{{"rsa2048", "rsa2048"}, {"rsa3072", "rsa3072"}} {
		t.Run(tc.name, func(t *testing.T) {
			k := keys[tc.key]
			home := t.TempDir()
			if err := os.Chmod(home, 0o700); err != nil {
				t.Fatal(err)
			}
			env := []string{"GNUPGHOME=" + home}
			t.Cleanup(func() { exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run() })
			if err := os.WriteFile(filepath.Join(home, "gpg-agent.conf"), []byte("allow-loopback-pinentry\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			certFile, keyFile := writeKeyPair(t, home, k)
			chainFile := filepath.Join(home, "chain.pem")
			os.WriteFile(chainFile, append(pemCert(p.inter), pemCert(p.root)...), 0o600)
			// gpgsm 2.2 reads only the old PKCS #12 encryption (3DES, SHA-1 MAC).
			p12 := filepath.Join(home, "key.p12")
			export := func() {
				if res, err := runTool(t, nil, openssl, "pkcs12", "-export", "-inkey", keyFile, "-in", certFile, "-certfile", chainFile,
					"-out", p12, "-passout", "pass:test", "-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1"); err != nil {
					t.Fatalf("openssl pkcs12: %v\n%s", err, res)
				}
			}
			export()
			gpgsm := func(stdin string, args ...string) (string, error) {
				cmd := exec.Command("gpgsm", append([]string{"--batch", "--pinentry-mode", "loopback", "--passphrase-fd", "0",
					"--disable-crl-checks", "--disable-policy-checks"}, args...)...)
				cmd.Env = append(os.Environ(), env...)
				cmd.Stdin = strings.NewReader(stdin)
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			// Now and then gpgsm fails on one export ("encryptedData error
			// at outer.outer.seq"); a fresh export (new salt) reads.
			res, err := gpgsm("test\n", "--import", p12)
			for try := 1; try < 3 && (err != nil || !strings.Contains(res, "secret keys imported: 1")); try++ {
				export()
				res, err = gpgsm("test\n", "--import", p12)
			}
			if err != nil || !strings.Contains(res, "secret keys imported: 1") {
				t.Fatalf("gpgsm --import: %v\n%s", err, res)
			}
			enc, err := Encrypt(content, []Recipient{{Cert: keys["p256"].cert}, {Cert: k.cert}}, EncryptOptions{})
			if err != nil {
				t.Fatal(err)
			}
			der := filepath.Join(home, "msg.p7m")
			if err := os.WriteFile(der, decodeBody(t, enc), 0o600); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(home, "out")
			if res, err := gpgsm("test\n", "--output", out, "--decrypt", der); err != nil {
				t.Fatalf("gpgsm --decrypt: %v\n%s", err, res)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, content) {
				t.Fatalf("gpgsm output differs: %d octets, want %d", len(got), len(content))
			}

			// And the reverse: what gpgsm encrypts, Decrypt reads.
			trust := sha1Colon(p.root.Raw) + " S relax\n"
			if err := os.WriteFile(filepath.Join(home, "trustlist.txt"), []byte(trust), 0o600); err != nil {
				t.Fatal(err)
			}
			in := filepath.Join(home, "content")
			os.WriteFile(in, content, 0o600)
			p7m := filepath.Join(home, "gpgsm.p7m")
			if res, err := gpgsm("", "--output", p7m, "--recipient", k.cert.EmailAddresses[0], "--encrypt", in); err != nil {
				t.Fatalf("gpgsm --encrypt: %v\n%s", err, res)
			}
			der2, err := os.ReadFile(p7m)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := Decrypt(der2, k.cert, k.key)
			if err != nil {
				t.Fatalf("Decrypt of gpgsm's message: %v", err)
			}
			if !bytes.Equal(dec.Content, content) {
				t.Fatalf("gpgsm message decrypts to %d octets, want %d", len(dec.Content), len(content))
			}
			t.Logf("gpgsm encrypted with %s", dec.Cipher)
		})
	}
}

// sha1Colon is a certificate fingerprint as gpgsm's trustlist.txt wants it.
func sha1Colon(der []byte) string {
	h := sha1.Sum(der)
	parts := make([]string, len(h))
	for i, b := range h {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// dumpText drops the hex lines of an openssl dump.
func dumpText(dump string) string {
	var keep []string
	for _, l := range strings.Split(dump, "\n") {
		if !strings.Contains(l, " - ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
