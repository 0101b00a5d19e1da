package trust

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/crypto/smime/smimetest"
	"github.com/mailseal/mailseal/revocation"
)

// TestVerifyMessage is the table of honest and hostile messages: each
// builds its message with its own certificates and signatures and states
// the verdict a gateway must give.
func TestVerifyMessage(t *testing.T) {
	p := getPKI(t)
	alice := p.leaf(t, smimetest.Template{})
	aliceEC := p.leaf(t, smimetest.Template{CN: "Alice EC", Key: smimetest.P256})
	aliceEd := p.leaf(t, smimetest.Template{CN: "Alice Ed", Key: smimetest.Ed25519})
	mallory := p.leaf(t, smimetest.Template{CN: "Mallory", Emails: []string{"mallory@evil.example"}})
	bob := p.leaf(t, smimetest.Template{CN: "Bob", Emails: []string{"bob@partner.example"}})
	subjOnly := p.leaf(t, smimetest.Template{CN: "Alice Subject", SubjEmail: "Alice@Partner.Example"})
	idn := p.leaf(t, smimetest.Template{CN: "Jörg", Emails: []string{"joerg@xn--bcher-kva.example"}})
	now := time.Now()
	expired := p.leaf(t, smimetest.Template{CN: "Expired", NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	future := p.leaf(t, smimetest.Template{CN: "Future", NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(48 * time.Hour)})
	stranger, err := smimetest.Issue(p.stranger, smimetest.Template{CN: "Alice elsewhere", Emails: []string{"alice@partner.example"}})
	if err != nil {
		t.Fatal(err)
	}
	serverEKU := p.leaf(t, smimetest.Template{CN: "TLS", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	noEKU := p.leaf(t, smimetest.Template{CN: "No EKU", NoEKU: true})
	anyEKU := p.leaf(t, smimetest.Template{CN: "Any EKU", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	encOnly := p.leaf(t, smimetest.Template{CN: "Encrypt only", KeyUsage: x509.KeyUsageKeyEncipherment})
	nonRep := p.leaf(t, smimetest.Template{CN: "NonRep", KeyUsage: x509.KeyUsageContentCommitment})
	rsa1024 := p.leaf(t, smimetest.Template{CN: "Small", Key: smimetest.RSA1024})
	revoked := p.leaf(t, smimetest.Template{CN: "Revoked"})
	unknown := p.leaf(t, smimetest.Template{CN: "Unknown"})
	// An intermediate that expired, and a leaf under it that has not.
	oldInter, err := smimetest.Issue(p.root, smimetest.Template{CN: "Old Mail CA", IsCA: true, NotBefore: now.Add(-72 * time.Hour), NotAfter: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	underOld, err := smimetest.Issue(oldInter, smimetest.Template{CN: "Under old", Emails: []string{"alice@partner.example"}, NotBefore: now.Add(-48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}

	hdr := header("")
	chainOf := func(c *smimetest.Cert) []*x509.Certificate { return []*x509.Certificate{c.Cert, p.inter.Cert} }
	detached := func(signers ...smimetest.Signer) []byte {
		var certs []*x509.Certificate
		for _, s := range signers {
			certs = append(certs, s.Cert.Cert)
		}
		return multipartSigned(hdr, testContent, sign(t, smimetest.Spec{Content: []byte(testContent), Detached: true,
			Certs: certs, Extra: []*x509.Certificate{p.inter.Cert}, Signers: signers}))
	}
	signedBy := func(c *smimetest.Cert) []byte { return detached(smimetest.Signer{Cert: c}) }
	withFrom := func(from string, c *smimetest.Cert) []byte {
		return multipartSigned(header(from), testContent, sign(t, smimetest.Spec{Content: []byte(testContent), Detached: true,
			Certs: chainOf(c), Signers: []smimetest.Signer{{Cert: c}}}))
	}
	good := signedBy(alice)

	checker := &fakeChecker{status: map[string]revocation.Status{
		"Revoked": {State: revocation.Revoked, Source: "crl", RevokedAt: now.Add(-time.Hour), Reason: 1},
		"Unknown": {State: revocation.Unknown, Problem: "OCSP responder did not answer"},
	}}

	tests := []struct {
		name    string
		msg     []byte
		mode    Mode
		result  Result
		code    string
		partial bool
		kind    string
	}{
		{name: "valid rsa", msg: good, result: Pass, kind: KindMultipartSigned},
		{name: "valid with LF line ends", msg: bytes.ReplaceAll(good, []byte("\r\n"), []byte("\n")), result: Pass, kind: KindMultipartSigned},
		{name: "valid rsa-pss", msg: detached(smimetest.Signer{Cert: alice, PSS: true}), result: Pass},
		{name: "valid ecdsa sha384", msg: detached(smimetest.Signer{Cert: aliceEC, Hash: crypto.SHA384}), result: Pass},
		{name: "valid ed25519", msg: detached(smimetest.Signer{Cert: aliceEd}), result: Pass},
		{name: "valid opaque", msg: opaqueSigned(hdr, "signed-data", sign(t, smimetest.Spec{Content: []byte(testContent), Certs: chainOf(alice), Signers: []smimetest.Signer{{Cert: alice}}})), result: Pass, kind: KindSignedData},
		{name: "valid opaque x-pkcs7-mime without smime-type", msg: []byte(strings.Replace(string(opaqueSigned(hdr, "signed-data", sign(t, smimetest.Spec{Content: []byte(testContent), Certs: chainOf(alice), Signers: []smimetest.Signer{{Cert: alice}}}))), "application/pkcs7-mime; smime-type=signed-data;", "application/x-pkcs7-mime;", 1)), result: Pass, kind: KindSignedData},
		{name: "subject email only", msg: signedBy(subjOnly), result: Pass},
		{name: "nonRepudiation key usage", msg: signedBy(nonRep), result: Pass},
		{name: "tampered content", msg: bytes.Replace(good, []byte("invoice 4711"), []byte("invoice 4712"), 1), result: Fail, code: "bad-signature"},
		{name: "embedded content differs from detached", msg: multipartSigned(hdr, testContent, sign(t, smimetest.Spec{Content: []byte(testContent), Embed: []byte("Content-Type: text/plain\r\n\r\nother\r\n"), Certs: chainOf(alice), Signers: []smimetest.Signer{{Cert: alice}}})), result: Fail, code: "content-mismatch"},
		{name: "embedded content equal to detached", msg: multipartSigned(hdr, testContent, sign(t, smimetest.Spec{Content: []byte(testContent), Certs: chainOf(alice), Signers: []smimetest.Signer{{Cert: alice}}})), result: Pass},
		{name: "empty signer infos", msg: multipartSigned(hdr, testContent, sign(t, smimetest.Spec{Content: []byte(testContent), Detached: true, Certs: chainOf(alice)})), result: Fail, code: "no-signer"},
		{name: "one good one bad signer", msg: detached(smimetest.Signer{Cert: alice}, smimetest.Signer{Cert: bob, Corrupt: true}), result: Fail, code: "bad-signature"},
		{name: "one good one untrusted signer", msg: detached(smimetest.Signer{Cert: alice}, smimetest.Signer{Cert: stranger}), result: Fail, code: "untrusted"},
		{name: "two good signers, one is From", msg: detached(smimetest.Signer{Cert: bob}, smimetest.Signer{Cert: alice}), result: Pass},
		{name: "two good signers, none is From", msg: detached(smimetest.Signer{Cert: bob}, smimetest.Signer{Cert: mallory}), result: Fail, code: "from-mismatch"},
		{name: "smime-type enveloped-data holding signed data", msg: opaqueSigned(hdr, "enveloped-data", sign(t, smimetest.Spec{Content: []byte(testContent), Certs: chainOf(alice), Signers: []smimetest.Signer{{Cert: alice}}})), result: PermError, code: "type-mismatch"},
		{name: "smime-type certs-only holding a signature", msg: opaqueSigned(hdr, "certs-only", sign(t, smimetest.Spec{Content: []byte(testContent), Certs: chainOf(alice), Signers: []smimetest.Signer{{Cert: alice}}})), result: PermError, code: "type-mismatch"},
		{name: "signed-data without content", msg: opaqueSigned(hdr, "signed-data", sign(t, smimetest.Spec{Content: []byte(testContent), Detached: true, Certs: chainOf(alice), Signers: []smimetest.Signer{{Cert: alice}}})), result: PermError, code: "malformed"},
		{name: "content type not data", msg: multipartSigned(hdr, testContent, sign(t, smimetest.Spec{Content: []byte(testContent), Detached: true, ContentType: smimetest.OIDEnvelopedData, Certs: chainOf(alice), Signers: []smimetest.Signer{{Cert: alice}}})), result: PermError, code: "type-mismatch"},
		{name: "signature part of another type", msg: bytes.Replace(good, []byte("Content-Type: application/pkcs7-signature; name=smime.p7s"), []byte("Content-Type: text/plain"), 1), result: PermError, code: "type-mismatch"},
		{name: "lone signature part", msg: []byte(hdr + "Content-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(sign(t, smimetest.Spec{Content: []byte(testContent), Certs: chainOf(alice), Signers: []smimetest.Signer{{Cert: alice}}}))), result: PermError, code: "type-mismatch"},
		{name: "expired", msg: signedBy(expired), result: Fail, code: "expired"},
		{name: "backdated signingTime does not rescue an expired certificate", msg: detached(smimetest.Signer{Cert: expired, SigningTime: now.Add(-36 * time.Hour)}), result: Fail, code: "expired"},
		{name: "expired intermediate", msg: multipartSigned(hdr, testContent, sign(t, smimetest.Spec{Content: []byte(testContent), Detached: true, Certs: []*x509.Certificate{underOld.Cert, oldInter.Cert}, Signers: []smimetest.Signer{{Cert: underOld, SigningTime: now.Add(-2 * time.Hour)}}})), result: Fail, code: "expired"},
		{name: "not yet valid", msg: signedBy(future), result: Fail, code: "not-yet-valid"},
		{name: "untrusted root", msg: multipartSigned(hdr, testContent, sign(t, smimetest.Spec{Content: []byte(testContent), Detached: true, Certs: []*x509.Certificate{stranger.Cert, p.stranger.Cert}, Signers: []smimetest.Signer{{Cert: stranger}}})), result: Fail, code: "untrusted"},
		{name: "signer certificate missing", msg: multipartSigned(hdr, testContent, sign(t, smimetest.Spec{Content: []byte(testContent), Detached: true, Certs: []*x509.Certificate{p.inter.Cert}, Signers: []smimetest.Signer{{Cert: alice}}})), result: Fail, code: "untrusted"},
		{name: "server auth EKU", msg: signedBy(serverEKU), result: Fail, code: "wrong-eku"},
		{name: "no EKU", msg: signedBy(noEKU), result: Fail, code: "wrong-eku"},
		{name: "anyExtendedKeyUsage only", msg: signedBy(anyEKU), result: Fail, code: "wrong-eku"},
		{name: "key usage without signature", msg: signedBy(encOnly), result: Fail, code: "key-usage"},
		{name: "sha-1 digest", msg: detached(smimetest.Signer{Cert: alice, Hash: crypto.SHA1}), result: Fail, code: "weak-digest"},
		{name: "md5 digest", msg: detached(smimetest.Signer{Cert: alice, Hash: crypto.MD5}), result: Fail, code: "weak-digest"},
		{name: "rsa 1024", msg: signedBy(rsa1024), result: Fail, code: "weak-key"},
		{name: "revoked", msg: signedBy(revoked), result: Fail, code: "revoked"},
		{name: "revoked, revocation off", msg: signedBy(revoked), mode: RevocationOff, result: Pass},
		{name: "revocation unknown, require", msg: signedBy(unknown), mode: RevocationRequire, result: TempError, code: "revocation-unknown"},
		{name: "revocation unknown, prefer", msg: signedBy(unknown), mode: RevocationPrefer, result: Pass},
		{name: "wrapped in multipart/mixed", msg: wrapMixed(hdr, good), result: Neutral, code: "partial", partial: true},
		{name: "wrapped in message/rfc822", msg: wrapRFC822(header("From: Eve <alice@partner.example>\r\n"), good), result: Neutral, code: "partial", partial: true},
		{name: "wrapped opaque", msg: wrapRFC822(hdr, opaqueSigned(hdr, "signed-data", sign(t, smimetest.Spec{Content: []byte(testContent), Certs: chainOf(alice), Signers: []smimetest.Signer{{Cert: alice}}}))), result: Neutral, code: "partial", partial: true},
		{name: "wrapped invalid", msg: wrapMixed(hdr, bytes.Replace(good, []byte("4711"), []byte("4712"), 1)), result: Neutral, code: "partial", partial: true},
		{name: "From case differs", msg: withFrom("From: ALICE@Partner.EXAMPLE\r\n", alice), result: Pass},
		{name: "From IDN unicode vs punycode certificate", msg: withFrom("From: Jörg <joerg@bücher.example>\r\n", idn), result: Pass},
		{name: "From IDN punycode", msg: withFrom("From: joerg@XN--BCHER-KVA.example\r\n", idn), result: Pass},
		{name: "From other address", msg: withFrom("From: mallory@evil.example\r\n", alice), result: Fail, code: "from-mismatch"},
		{name: "display name looks like the address", msg: withFrom("From: \"alice@partner.example\" <mallory@evil.example>\r\n", alice), result: Fail, code: "from-mismatch"},
		{name: "unquoted display name address", msg: withFrom("From: alice@partner.example <mallory@evil.example>\r\n", alice), result: Fail, code: "from-mismatch"},
		{name: "encoded word display name", msg: withFrom("From: =?utf-8?q?alice=40partner=2Eexample?= <mallory@evil.example>\r\n", alice), result: Fail, code: "from-mismatch"},
		{name: "encoded word display name, right address", msg: withFrom("From: =?utf-8?q?Al=C3=AFce?= <alice@partner.example>\r\n", alice), result: Pass},
		{name: "encoded word as address", msg: withFrom("From: =?utf-8?q?alice=40partner.example?=\r\n", alice), result: Fail, code: "from-mismatch"},
		{name: "comment looks like the address", msg: withFrom("From: mallory@evil.example (alice@partner.example)\r\n", alice), result: Fail, code: "from-mismatch"},
		{name: "two From fields", msg: withFrom("From: alice@partner.example\r\nFrom: mallory@evil.example\r\n", alice), result: Fail, code: "from-mismatch"},
		{name: "two addresses in From", msg: withFrom("From: alice@partner.example, mallory@evil.example\r\n", alice), result: Fail, code: "from-mismatch"},
		{name: "no From", msg: withFrom("Sender: alice@partner.example\r\n", alice), result: Fail, code: "from-mismatch"},
		{name: "Sender is the signer, From is not", msg: withFrom("Sender: alice@partner.example\r\nFrom: mallory@evil.example\r\n", alice), result: Fail, code: "from-mismatch"},
		{name: "Sender differs, From is the signer", msg: withFrom("Sender: mallory@evil.example\r\nFrom: alice@partner.example\r\n", alice), result: Pass},
		{name: "kelvin sign look-alike", msg: withFrom("From: \u212Aate@partner.example\r\n", p.leaf(t, smimetest.Template{CN: "Kate", Emails: []string{"kate@partner.example"}})), result: Fail, code: "from-mismatch"},
		{name: "unsigned", msg: []byte(hdr + testContent), result: None, code: "unsigned"},
		{name: "pgp signed", msg: []byte(hdr + "Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n"), result: None, code: "not-smime"},
		{name: "bad base64", msg: bytes.Replace(good, []byte("Content-Disposition: attachment; filename=smime.p7s\r\n\r\n"), []byte("Content-Disposition: attachment; filename=smime.p7s\r\n\r\n!!!!"), 1), result: PermError, code: "malformed"},
		{name: "garbage signature", msg: multipartSigned(hdr, testContent, []byte("not a signature")), result: PermError, code: "malformed"},
		{name: "no closing delimiter", msg: good[:bytes.LastIndex(good, []byte("--sig-b--"))], result: PermError, code: "malformed"},
		{name: "three parts", msg: bytes.Replace(good, []byte("--sig-b--"), []byte("--sig-b\r\nContent-Type: text/plain\r\n\r\nadded\r\n--sig-b--"), 1), result: PermError, code: "malformed"},
		{name: "two Content-Type fields", msg: []byte("Content-Type: text/plain\r\n" + string(good)), result: PermError, code: "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mode := tc.mode
			if mode == "" {
				mode = RevocationPrefer
			}
			v, err := New(Options{AnchorFiles: []string{p.anchorFile}, Revocation: mode, Checker: checker})
			if err != nil {
				t.Fatal(err)
			}
			vd := v.VerifyMessage(context.Background(), tc.msg)
			if vd.Result != tc.result || vd.Code != tc.code || vd.Partial != tc.partial {
				t.Fatalf("verdict %s/%q partial=%v (%s), want %s/%q partial=%v", vd.Result, vd.Code, vd.Partial, vd.Reason, tc.result, tc.code, tc.partial)
			}
			if tc.kind != "" && vd.Kind != tc.kind {
				t.Errorf("kind %q, want %q", vd.Kind, tc.kind)
			}
			if vd.Result != Pass && vd.Reason == "" {
				t.Error("no reason")
			}
			if vd.Result == Pass {
				s := vd.Signers[0]
				if vd.From == "" || len(s.Chain) < 2 || s.Digest == "" || s.Algorithm == "" || s.SigningTime.IsZero() || len(s.Capabilities) == 0 {
					t.Errorf("pass without details: from %q, signer %+v", vd.From, s)
				}
				if !s.Chain[len(s.Chain)-1].Equal(p.root.Cert) {
					t.Errorf("chain ends at %s", s.Chain[len(s.Chain)-1].Subject)
				}
				if mode != RevocationOff && s.Revocation.State == revocation.Unknown && s.Revocation.Problem == "" {
					t.Error("unknown revocation without the problem")
				}
			}
			if vd.Kind == KindSignedData && vd.Result == Pass && !bytes.Equal(vd.Content, []byte(testContent)) {
				t.Errorf("opaque content %q", vd.Content)
			}
			if vd.Kind == KindMultipartSigned && vd.Content != nil {
				t.Error("content for a detached signature")
			}
		})
	}
}
