package trust

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mailseal/mailseal/crypto/smime/smimetest"
	"github.com/mailseal/mailseal/revocation"
)

// pki is the test world: a partner root with an intermediate, a stranger
// root nobody trusts, and signers of many kinds.
type pki struct {
	root, inter, stranger *smimetest.Cert
	anchorFile            string
}

var (
	pkiOnce sync.Once
	thePKI  *pki
	pkiErr  error
)

func getPKI(t testing.TB) *pki {
	t.Helper()
	pkiOnce.Do(func() {
		p := &pki{}
		// EC keys for the authorities: RSA key generation is slow on a
		// busy machine (and in every fuzz worker).
		if p.root, pkiErr = smimetest.Issue(nil, smimetest.Template{CN: "Partner Root", IsCA: true, Key: smimetest.P256}); pkiErr != nil {
			return
		}
		if p.inter, pkiErr = smimetest.Issue(p.root, smimetest.Template{CN: "Partner Mail CA", IsCA: true, Key: smimetest.P256,
			AIA: []string{"http://127.0.0.1:1/root.crt"}}); pkiErr != nil {
			return
		}
		if p.stranger, pkiErr = smimetest.Issue(nil, smimetest.Template{CN: "Stranger Root", IsCA: true, Key: smimetest.P256}); pkiErr != nil {
			return
		}
		dir, err := os.MkdirTemp("", "trust-test")
		if err != nil {
			pkiErr = err
			return
		}
		certPEM, _, err := smimetest.PEM(p.root)
		if err != nil {
			pkiErr = err
			return
		}
		p.anchorFile = filepath.Join(dir, "anchors.pem")
		pkiErr = os.WriteFile(p.anchorFile, certPEM, 0o600)
		thePKI = p
	})
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return thePKI
}

// leaf issues a signer certificate under the intermediate.
func (p *pki) leaf(t testing.TB, tmpl smimetest.Template) *smimetest.Cert {
	t.Helper()
	if tmpl.CN == "" {
		tmpl.CN = "Alice"
	}
	if tmpl.Emails == nil && tmpl.SubjEmail == "" {
		tmpl.Emails = []string{"alice@partner.example"}
	}
	if tmpl.AIA == nil {
		tmpl.AIA = []string{"http://127.0.0.1:1/inter.crt"}
	}
	c, err := smimetest.Issue(p.inter, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const testContent = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\nPlease pay invoice 4711.\r\n"

func header(from string) string {
	if from == "" {
		from = "From: Alice <alice@partner.example>\r\n"
	}
	return from + "To: bob@corp.example\r\nSubject: invoice\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@partner.example>\r\nMIME-Version: 1.0\r\n"
}

func b64(der []byte) string {
	s := base64.StdEncoding.EncodeToString(der)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s + "\r\n")
	return b.String()
}

// multipartSigned is a whole message: hdr, then a multipart/signed body
// of content and the signature der.
func multipartSigned(hdr, content string, der []byte) []byte {
	return []byte(hdr + "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256;\r\n boundary=\"sig-b\"\r\n\r\n" +
		"This is an S/MIME signed message\r\n--sig-b\r\n" + content + "\r\n--sig-b\r\n" +
		"Content-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=smime.p7s\r\n\r\n" +
		b64(der) + "\r\n--sig-b--\r\n")
}

func opaqueSigned(hdr, smimeType string, der []byte) []byte {
	return []byte(hdr + "Content-Type: application/pkcs7-mime; smime-type=" + smimeType + "; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(der))
}

// wrapMixed puts a signed message's content entity into multipart/mixed
// next to a part anyone could have added.
func wrapMixed(hdr string, signed []byte) []byte {
	i := bytes.Index(signed, []byte("Content-Type: multipart/signed"))
	return []byte(hdr + "Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n--mix\r\nContent-Type: text/plain\r\n\r\nIgnore the invoice below, pay to account 666 instead.\r\n--mix\r\n" +
		string(signed[i:]) + "\r\n--mix--\r\n")
}

func wrapRFC822(hdr string, signed []byte) []byte {
	return []byte(hdr + "Content-Type: multipart/mixed; boundary=\"fwd\"\r\n\r\n--fwd\r\nContent-Type: text/plain\r\n\r\nForwarded.\r\n--fwd\r\nContent-Type: message/rfc822\r\n\r\n" +
		string(signed) + "\r\n--fwd--\r\n")
}

func sign(t testing.TB, spec smimetest.Spec) []byte {
	t.Helper()
	der, err := smimetest.SignedData(spec)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// fakeChecker is an in-process RevocationChecker: the real one (OCSP, CRL,
// AIA over HTTP) is tested in package revocation.
type fakeChecker struct {
	mu      sync.Mutex
	status  map[string]revocation.Status // by subject CN
	issuers map[string][]*x509.Certificate
	checked []string
}

func (f *fakeChecker) Check(_ context.Context, cert, _ *x509.Certificate) revocation.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checked = append(f.checked, cert.Subject.CommonName)
	if st, ok := f.status[cert.Subject.CommonName]; ok {
		return st
	}
	return revocation.Status{State: revocation.Good, Source: "ocsp", URL: "http://127.0.0.1:1/ocsp"}
}

func (f *fakeChecker) FetchIssuers(_ context.Context, cert *x509.Certificate) ([]*x509.Certificate, error) {
	if is, ok := f.issuers[cert.Subject.CommonName]; ok {
		return is, nil
	}
	return nil, fmt.Errorf("no issuer for %s", cert.Subject.CommonName)
}
