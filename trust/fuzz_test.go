package trust

import (
	"bytes"
	"context"
	"crypto/x509"
	"testing"

	"github.com/mailseal/mailseal/crypto/smime/smimetest"
)

// FuzzVerifyMessage feeds arbitrary messages to VerifyMessage. It must
// never panic (a recovered panic shows as Code "internal"), always give a
// result, and never call a partial or unsigned message pass.
func FuzzVerifyMessage(f *testing.F) {
	p := getPKI(f)
	alice := p.leaf(f, smimetest.Template{CN: "Fuzz Alice", Key: smimetest.P256})
	certs := []*x509.Certificate{alice.Cert, p.inter.Cert}
	hdr := header("")
	detached := multipartSigned(hdr, testContent, sign(f, smimetest.Spec{Content: []byte(testContent), Detached: true, Certs: certs, Signers: []smimetest.Signer{{Cert: alice}}}))
	opaque := opaqueSigned(hdr, "signed-data", sign(f, smimetest.Spec{Content: []byte(testContent), Certs: certs, Signers: []smimetest.Signer{{Cert: alice}}}))
	for _, seed := range [][]byte{
		detached,
		opaque,
		bytes.ReplaceAll(detached, []byte("\r\n"), []byte("\n")),
		wrapMixed(hdr, detached),
		wrapRFC822(hdr, opaque),
		[]byte(hdr + testContent),
		[]byte("From: a@b\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=x\r\n\r\n--x\r\n\r\n--x\r\nContent-Type: application/pkcs7-signature\r\n\r\n0\x80\r\n--x--\r\n"),
		[]byte("Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"),
	} {
		f.Add(seed)
	}
	v, err := New(Options{AnchorFiles: []string{p.anchorFile}, Revocation: RevocationRequire, Checker: &fakeChecker{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		vd := v.VerifyMessage(context.Background(), msg)
		if vd == nil || vd.Result == "" {
			t.Fatal("no verdict")
		}
		if vd.Code == "internal" {
			t.Fatalf("internal error: %s", vd.Reason)
		}
		if vd.Result == Pass && (vd.Partial || vd.Code != "" || len(vd.Signers) == 0) {
			t.Fatalf("pass with partial=%v code=%q signers=%d", vd.Partial, vd.Code, len(vd.Signers))
		}
		if vd.Partial && vd.Result != Neutral {
			t.Fatalf("partial with %s", vd.Result)
		}
	})
}
