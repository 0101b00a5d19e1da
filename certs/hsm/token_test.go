//go:build pkcs11

package hsm_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
	"golang.org/x/crypto/ocsp"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/certs/hsm"
	"github.com/mailseal/mailseal/certs/hsm/softhsmtest"
)

func openToken(t *testing.T, tok *softhsmtest.Token) *hsm.Token {
	t.Helper()
	h, err := hsm.Open(hsm.Config{Module: tok.Module, TokenLabel: tok.Label, Slot: -1, PINFile: tok.PINFile, KeyLabel: "mailseal-ca"})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func openManager(t *testing.T, state string, ks certs.CAKeyStore) (*certs.Manager, error) {
	t.Helper()
	opts := certs.Options{StateDir: state, InternalDomains: []string{"corp.example"}, KeyType: certs.KeyECDSAP256}
	if ks != nil {
		opts.CAKeyStore = ks
	}
	return certs.Open(context.Background(), opts)
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func openssl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	return string(out), err
}

// TestCAKeyInSoftHSM creates the built-in CA with its key generated in a
// SoftHSM2 token, issues a user certificate, revokes another and checks
// with openssl that the certificate and the CRL verify under the CA
// certificate, and that the OCSP answer is signed by the token key too.
// It then checks that the private key cannot be read out of the token and
// that the CA reopens from the token after a restart.
func TestCAKeyInSoftHSM(t *testing.T) {
	ctx := context.Background()
	tok := softhsmtest.New(t, "mailseal-test")
	state := filepath.Join(t.TempDir(), "state")

	h := openToken(t, tok)
	m, err := openManager(t, state, h)
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	if ref := m.CAKeyReference(); ref != "pkcs11:token=mailseal-test;object=mailseal-ca" {
		t.Errorf("CAKeyReference = %q", ref)
	}
	ca := m.CACertificate()
	if _, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Fatalf("CA key %T, want ECDSA", ca.PublicKey)
	}
	id, _, err := m.SigningIdentity(ctx, "alice@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Issue(ctx, "gone@corp.example"); err != nil {
		t.Fatal(err)
	}
	gone, err := m.Show(ctx, "gone@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Revoke(ctx, "gone@corp.example", 1); err != nil {
		t.Fatal(err)
	}
	crl, err := m.CRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ocspReq, err := ocsp.CreateRequest(id.Cert, ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	ocspResp, err := m.OCSPResponse(ctx, ocspReq)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	caPath := writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.Raw)
	leaf := writePEM(t, dir, "alice.pem", "CERTIFICATE", id.Cert.Raw)
	crlPath := writePEM(t, dir, "ca.crl", "X509 CRL", crl)
	if out, err := openssl(t, "verify", "-purpose", "smimesign", "-crl_check", "-CAfile", caPath, "-CRLfile", crlPath, leaf); err != nil || !strings.Contains(out, "OK") {
		t.Errorf("openssl verify: %v\n%s", err, out)
	}
	if out, err := openssl(t, "crl", "-in", crlPath, "-CAfile", caPath, "-noout", "-text"); err != nil || !strings.Contains(out, "verify OK") ||
		!strings.Contains(strings.ToUpper(out), strings.ToUpper(gone.Serial)) {
		t.Errorf("openssl crl -CAfile (signature, revoked serial %s): %v\n%s", gone.Serial, err, out)
	}
	respPath := filepath.Join(dir, "ocsp.der")
	if err := os.WriteFile(respPath, ocspResp, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := openssl(t, "ocsp", "-respin", respPath, "-issuer", caPath, "-cert", leaf, "-CAfile", caPath, "-no_nonce"); err != nil ||
		!strings.Contains(out, "Response verify OK") || !strings.Contains(out, ": good") {
		t.Errorf("openssl ocsp: %v\n%s", err, out)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	checkNotExtractable(t, tok)

	// Without the token the CA refuses to start rather than make a new key.
	if m2, err := openManager(t, state, nil); err == nil {
		m2.Close()
		t.Fatal("the CA opened without its token")
	} else if !strings.Contains(err.Error(), "key is in a PKCS#11 token") {
		t.Errorf("open without token: %v", err)
	}

	// Master key rotation re-seals the CA row (the token reference) too.
	if _, err := certs.RotateMasterKey(ctx, filepath.Join(state, "mailseal.db"), filepath.Join(state, "master.key"), rand.Reader, time.Now()); err != nil {
		t.Fatalf("masterkey rotate: %v", err)
	}

	// After a restart the same CA signs with the same token key.
	h = openToken(t, tok)
	m, err = openManager(t, state, h)
	if err != nil {
		h.Close()
		t.Fatal(err)
	}
	defer func() { m.Close() }() // m is reopened below
	if !bytes.Equal(m.CACertificate().Raw, ca.Raw) {
		t.Fatal("the CA changed after a restart")
	}
	bob, _, err := m.SigningIdentity(ctx, "bob@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.Cert.CheckSignatureFrom(ca); err != nil {
		t.Errorf("certificate issued after restart: %v", err)
	}
	// ca recertify signs the new CA certificate with the token key, and
	// the CA still opens from the token afterwards.
	re, err := m.RecertifyCA(ctx)
	if err != nil {
		t.Fatalf("recertify: %v", err)
	}
	if err := re.CheckSignatureFrom(re); err != nil || !re.PublicKey.(*ecdsa.PublicKey).Equal(ca.PublicKey) {
		t.Errorf("re-certified CA: %v (same key: %v)", err, re.PublicKey.(*ecdsa.PublicKey).Equal(ca.PublicKey))
	}
	m.Close()
	h = openToken(t, tok)
	m, err = openManager(t, state, h)
	if err != nil {
		h.Close()
		t.Fatalf("reopen after recertify: %v", err)
	}
	if !bytes.Equal(m.CACertificate().Raw, re.Raw) {
		t.Error("the re-certified CA is not the one loaded")
	}
}

// checkNotExtractable looks at the CA's private key with plain PKCS#11
// calls: CKA_SENSITIVE true, CKA_EXTRACTABLE false, and reading CKA_VALUE
// (the private scalar) fails with CKR_ATTRIBUTE_SENSITIVE.
func checkNotExtractable(t *testing.T, tok *softhsmtest.Token) {
	t.Helper()
	p := pkcs11.New(tok.Module)
	if p == nil {
		t.Fatalf("cannot load %s", tok.Module)
	}
	defer p.Destroy()
	if err := p.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer p.Finalize()
	slots, err := p.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	var slot uint
	found := false
	for _, s := range slots {
		if ti, err := p.GetTokenInfo(s); err == nil && ti.Label == tok.Label {
			slot, found = s, true
		}
	}
	if !found {
		t.Fatalf("token %s not found", tok.Label)
	}
	sess, err := p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer p.CloseSession(sess)
	if err := p.Login(sess, pkcs11.CKU_USER, tok.PIN); err != nil {
		t.Fatal(err)
	}
	defer p.Logout(sess)
	if err := p.FindObjectsInit(sess, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, "mailseal-ca"),
	}); err != nil {
		t.Fatal(err)
	}
	objs, _, err := p.FindObjects(sess, 10)
	p.FindObjectsFinal(sess)
	if err != nil || len(objs) != 1 {
		t.Fatalf("private key objects labelled mailseal-ca: %d (%v), want 1", len(objs), err)
	}
	attrs, err := p.GetAttributeValue(sess, objs[0], []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []byte{1, 0, 1} {
		if len(attrs[i].Value) != 1 || (attrs[i].Value[0] != 0) != (want == 1) {
			t.Errorf("attribute %#x = %v, want %d", attrs[i].Type, attrs[i].Value, want)
		}
	}
	_, err = p.GetAttributeValue(sess, objs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
	var perr pkcs11.Error
	if !errors.As(err, &perr) || perr != pkcs11.CKR_ATTRIBUTE_SENSITIVE {
		t.Errorf("reading CKA_VALUE of the CA key: %v, want CKR_ATTRIBUTE_SENSITIVE", err)
	}
}

// A CA whose key is sealed in the store is not moved into a token: opening
// it with a token configured is an error, not a new CA.
func TestHSMSealedCAWithTokenRefused(t *testing.T) {
	tok := softhsmtest.New(t, "mailseal-test2")
	state := filepath.Join(t.TempDir(), "state")
	m, err := openManager(t, state, nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	h := openToken(t, tok)
	defer h.Close()
	opts := certs.Options{StateDir: state, InternalDomains: []string{"corp.example"}, CAKeyStore: h}
	if m, err := certs.Open(context.Background(), opts); err == nil {
		m.Close()
		t.Fatal("a CA with its key in the store opened with ca.pkcs11 set")
	} else if !strings.Contains(err.Error(), "keys are generated inside the token, never moved there") {
		t.Errorf("error: %v", err)
	}
}

// A key that was imported into the token (so it existed outside) is not
// accepted as CA key: CKA_ALWAYS_SENSITIVE / CKA_NEVER_EXTRACTABLE are false.
func TestHSMImportedKeyRefused(t *testing.T) {
	tool, err := exec.LookPath("pkcs11-tool")
	if err != nil {
		t.Fatalf("pkcs11-tool (opensc) is required: %v", err)
	}
	tok := softhsmtest.New(t, "mailseal-test3")
	dir := t.TempDir()
	key := filepath.Join(dir, "key.der")
	pub := filepath.Join(dir, "pub.der")
	if out, err := openssl(t, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-outform", "DER", "-out", key); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := openssl(t, "pkey", "-inform", "DER", "-in", key, "-pubout", "-outform", "DER", "-out", pub); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, obj := range []struct{ file, typ string }{{key, "privkey"}, {pub, "pubkey"}} {
		out, err := exec.Command(tool, "--module", tok.Module, "--token-label", tok.Label, "--login", "--pin", tok.PIN,
			"--write-object", obj.file, "--type", obj.typ, "--label", "mailseal-ca", "--id", "42").CombinedOutput()
		if err != nil {
			t.Fatalf("pkcs11-tool --write-object %s: %v\n%s", obj.typ, err, out)
		}
	}
	h := openToken(t, tok)
	defer h.Close()
	if _, err := h.CAKey(true); err == nil || !strings.Contains(err.Error(), "is not kept inside the token") {
		t.Fatalf("imported key: %v, want refusal", err)
	}
}
