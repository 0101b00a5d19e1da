package smime

import (
	"bytes"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
)

// FuzzSign feeds random content header values and bodies through Sign. It
// must never panic, and every result must be wire safe, mbox safe (no line
// starting "From "), well formed and verifiable.
func FuzzSign(f *testing.F) {
	for _, tc := range msgCases {
		var ct, cte string
		for _, fl := range tc.fields {
			switch fl.Name {
			case "Content-Type":
				ct = fl.Value
			case "Content-Transfer-Encoding":
				cte = fl.Value
			}
		}
		f.Add(ct, cte, "", []byte(tc.body))
	}
	f.Add("multipart/digest; boundary=d", "binary", "inline; filename=\"ä\"",
		[]byte("--d\n\nFrom: ä\n\nx\xff\n--d\nContent-Type: text/plain\n\n\x00\r\r--d--"))
	f.Add("message/rfc822", "8bit", "", []byte("Subject: \xff\nContent-Type: multipart/mixed; boundary=q\n\n--q\n\n\xfe\n--q--"))
	f.Add("text/plain", "quoted-printable", "", []byte("=\xff=4\n=="))
	f.Add("application/x; name*=utf-8''%C3", "base64", "\n\tx", []byte("QUJD\xff\n===="))

	p := getPKI(f)
	s := p.signer(f, "ecdsa", WithMaxSize(1<<20))
	roots := x509.NewCertPool()
	roots.AddCert(p.root)
	f.Fuzz(func(t *testing.T, ct, cte, disp string, body []byte) {
		var fields []HeaderField
		if ct != "" {
			fields = append(fields, HeaderField{"Content-Type", ct})
		}
		if cte != "" {
			fields = append(fields, HeaderField{"Content-Transfer-Encoding", cte})
		}
		if disp != "" {
			fields = append(fields, HeaderField{"Content-Disposition", disp})
		}
		signed, err := s.Sign(fields, bytes.NewReader(body))
		if err != nil {
			if errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) {
				return
			}
			t.Fatalf("Sign: %v", err)
		}
		if err := checkWire(signed.Body); err != nil {
			t.Fatalf("wire check: %v", err)
		}
		if bytes.HasPrefix(signed.Body, []byte("From ")) || bytes.Contains(signed.Body, []byte("\nFrom ")) {
			t.Fatalf("a line starts with \"From \" (mbox delivery would quote it)")
		}
		content, der, err := splitSigned(signed)
		if err != nil {
			t.Fatalf("split: %v", err)
		}
		if !bytes.HasSuffix(signed.Body, []byte("--\r\n")) || len(content) == 0 {
			t.Fatalf("malformed result")
		}
		p7, err := pkcs7.Parse(der)
		if err != nil {
			t.Fatalf("parse signature: %v", err)
		}
		p7.Content = content
		if err := p7.VerifyWithChainAtTime(roots, time.Now()); err != nil {
			t.Fatalf("verify: %v", err)
		}
	})
}
