package smime

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/smallstep/pkcs7"
)

// checkWire asserts the transport invariants of a signed body: 7-bit, no
// NUL, CRLF only, no line over 998 octets.
func checkWire(b []byte) error {
	lineLen := 0
	for i, c := range b {
		switch {
		case c >= 0x80 || c == 0:
			return fmt.Errorf("byte 0x%02x at %d", c, i)
		case c == '\r':
			if i+1 >= len(b) || b[i+1] != '\n' {
				return fmt.Errorf("bare CR at %d", i)
			}
		case c == '\n':
			if i == 0 || b[i-1] != '\r' {
				return fmt.Errorf("bare LF at %d", i)
			}
			lineLen = 0
		default:
			lineLen++
			if lineLen > 998 {
				return fmt.Errorf("line over 998 octets at %d", i)
			}
		}
	}
	return nil
}

// splitSigned returns the signed first part (exact bytes between the
// boundaries) and the DER signature of a multipart/signed result.
func splitSigned(s *Signed) (content, der []byte, err error) {
	mt, params, err := mime.ParseMediaType(s.ContentType)
	if err != nil {
		return nil, nil, fmt.Errorf("parse content type: %v", err)
	}
	if mt != "multipart/signed" || params["protocol"] != "application/pkcs7-signature" || params["micalg"] != "sha-256" {
		return nil, nil, fmt.Errorf("content type %q", s.ContentType)
	}
	b := params["boundary"]
	open := []byte("\r\n--" + b + "\r\n")
	body := append([]byte("\r\n"), s.Body...) // a delimiter may start the body
	i := bytes.Index(body, open)
	if i < 0 {
		return nil, nil, fmt.Errorf("no first delimiter")
	}
	rest := body[i+len(open):]
	j := bytes.Index(rest, open)
	if j < 0 {
		return nil, nil, fmt.Errorf("no second delimiter")
	}
	content, sigPart := rest[:j], rest[j+len(open):]
	k := bytes.Index(sigPart, []byte("\r\n--"+b+"--"))
	if k < 0 {
		return nil, nil, fmt.Errorf("no close delimiter")
	}
	sigPart = sigPart[:k]
	hdrEnd := bytes.Index(sigPart, []byte("\r\n\r\n"))
	if hdrEnd < 0 {
		return nil, nil, fmt.Errorf("signature part has no header end")
	}
	hdr := string(sigPart[:hdrEnd])
	for _, want := range []string{
		`Content-Type: application/pkcs7-signature; name="smime.p7s"`,
		"Content-Transfer-Encoding: base64",
		`Content-Disposition: attachment; filename="smime.p7s"`,
	} {
		if !strings.Contains(hdr, want) {
			return nil, nil, fmt.Errorf("signature part header lacks %q:\n%s", want, hdr)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(string(sigPart[hdrEnd+4:])), "\r\n") {
		if len(l) > 76 {
			return nil, nil, fmt.Errorf("base64 line of %d characters", len(l))
		}
	}
	der, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(sigPart[hdrEnd+4:])), ""))
	if err != nil {
		return nil, nil, fmt.Errorf("decode signature: %v", err)
	}
	return content, der, nil
}

// verifyGo checks a signed result with pkcs7 against the test root and
// returns the parsed signature and the signed content.
func verifyGo(t testing.TB, p *testPKI, s *Signed, wantTime time.Time) (*pkcs7.PKCS7, []byte) {
	t.Helper()
	if err := checkWire(s.Body); err != nil {
		t.Fatalf("wire check: %v", err)
	}
	content, der, err := splitSigned(s)
	if err != nil {
		t.Fatalf("split: %v\n%s", err, s.Body)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		t.Fatalf("pkcs7 parse: %v", err)
	}
	if len(p7.Content) != 0 {
		t.Fatalf("signature is not detached")
	}
	p7.Content = content
	roots := x509.NewCertPool()
	roots.AddCert(p.root)
	if err := p7.VerifyWithChainAtTime(roots, time.Now()); err != nil {
		t.Fatalf("pkcs7 verify: %v", err)
	}
	if len(p7.Signers) != 1 || !p7.Signers[0].DigestAlgorithm.Algorithm.Equal(pkcs7.OIDDigestAlgorithmSHA256) {
		t.Fatalf("digest algorithm %v, want SHA-256", p7.Signers[0].DigestAlgorithm.Algorithm)
	}
	if len(p7.Certificates) != 3 {
		t.Errorf("%d certificates embedded, want signer + 2 CAs", len(p7.Certificates))
	}
	var st time.Time
	if err := p7.UnmarshalSignedAttribute(pkcs7.OIDAttributeSigningTime, &st); err != nil {
		t.Fatalf("signingTime: %v", err)
	}
	if !wantTime.IsZero() && !st.Equal(wantTime.Truncate(time.Second)) {
		t.Errorf("signingTime %v, want %v", st, wantTime)
	}
	var caps []struct{ ID asn1.ObjectIdentifier }
	if err := p7.UnmarshalSignedAttribute(oidSMIMECapabilities, &caps); err != nil {
		t.Fatalf("SMIMECapabilities: %v", err)
	}
	if len(caps) < 3 || !caps[0].ID.Equal(oidAES256CBC) {
		t.Errorf("SMIMECapabilities %v", caps)
	}
	// pkcs7 does not check the content digest against the data it was
	// given when the content was swapped in; flip a byte to be sure.
	bad := bytes.Clone(content)
	bad[len(bad)/2] ^= 1
	p7.Content = bad
	if err := p7.VerifyWithChainAtTime(roots, time.Now()); err == nil {
		t.Fatalf("verification of altered content succeeded")
	}
	return p7, content
}

// decodeEntity parses a MIME entity with go-message (an independent
// parser) and returns the decoded text of every leaf, in order.
func decodeEntity(t testing.TB, raw []byte) []string {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		t.Fatalf("go-message read: %v\n%s", err, raw)
	}
	var out []string
	err = e.Walk(func(path []int, part *message.Entity, err error) error {
		if err != nil {
			return err
		}
		if part.MultipartReader() != nil {
			return nil
		}
		b, err := io.ReadAll(part.Body)
		if err != nil {
			return err
		}
		out = append(out, string(b))
		return nil
	})
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	return out
}
