package revocation

import (
	"context"
	"encoding/base64"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestFetchIssuers(t *testing.T) {
	p := newTestPKI(t, "Partner CA")
	pemCA := []byte("-----BEGIN CERTIFICATE-----\n" + b64(p.ca.Raw) + "\n-----END CERTIFICATE-----\n")
	cases := []struct {
		name string
		body func(t *testing.T) []byte
		err  string
	}{
		{"DER", func(*testing.T) []byte { return p.ca.Raw }, ""},
		{"PEM", func(*testing.T) []byte { return pemCA }, ""},
		{"PKCS#7 from openssl crl2pkcs7", func(t *testing.T) []byte {
			if _, err := exec.LookPath("openssl"); err != nil {
				t.Skip("openssl not installed: it makes the PKCS#7 bundle")
			}
			out, err := exec.Command("openssl", "crl2pkcs7", "-nocrl", "-certfile", p.writePEM("ca.pem", p.ca), "-outform", "DER").Output()
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, ""},
		{"garbage", func(*testing.T) []byte { return []byte("\x30\x80garbage") }, "neither a DER certificate nor a PKCS#7 bundle"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := serveBytes(t, tc.body(t))
			leaf := p.leaf("a@partner.example", nil, nil, []string{srv.URL + "/ca.der"})
			c := NewChecker(Options{})
			for range 2 {
				got, err := c.FetchIssuers(context.Background(), leaf)
				if tc.err != "" {
					if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), srv.URL) {
						t.Fatalf("err %v, want %q", err, tc.err)
					}
					continue
				}
				if err != nil || len(got) != 1 || !got[0].Equal(p.ca) {
					t.Fatalf("got %d certificates, %v", len(got), err)
				}
				if err := leaf.CheckSignatureFrom(got[0]); err != nil {
					t.Fatal(err)
				}
			}
			if n := srv.hits.Load(); n != 1 {
				t.Errorf("fetched %d times, want once (cached)", n)
			}
		})
	}
	if _, err := NewChecker(Options{}).FetchIssuers(context.Background(), p.leaf("b@partner.example", nil, nil, nil)); !errors.Is(err, ErrNoIssuerURL) {
		t.Errorf("no AIA: %v", err)
	}
	big := serveBytes(t, make([]byte, 2048))
	_, err := NewChecker(Options{MaxIssuerSize: 1000}).FetchIssuers(context.Background(), p.leaf("c@partner.example", nil, nil, []string{big.URL}))
	if err == nil || !strings.Contains(err.Error(), "larger than the limit") {
		t.Errorf("oversized: %v", err)
	}
}
