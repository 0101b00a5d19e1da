package smime

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"testing"
)

func benchmarkSign(b *testing.B, size int, kind string) {
	p := getPKI(b)
	s := p.signer(b, kind)
	// A realistic mix: 8-bit text that needs quoted-printable.
	line := "Grüße aus Köln, dies ist eine Testnachricht mit Umlauten äöü.\n"
	body := []byte(strings.Repeat(line, size/len(line)+1)[:size])
	fields := []HeaderField{{"Content-Type", "text/plain; charset=utf-8"}, {"Content-Transfer-Encoding", "8bit"}}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Sign(fields, bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
}

// RSA-3072 is the default key type; ECDSA P-256 shows the cost of
// everything but the private-key operation.
func BenchmarkSign10KB(b *testing.B)      { benchmarkSign(b, 10<<10, "rsa") }
func BenchmarkSign1MB(b *testing.B)       { benchmarkSign(b, 1<<20, "rsa") }
func BenchmarkSign10KBECDSA(b *testing.B) { benchmarkSign(b, 10<<10, "ecdsa") }
func BenchmarkSign1MBECDSA(b *testing.B)  { benchmarkSign(b, 1<<20, "ecdsa") }

// benchmarkKeyOp times the private-key operation alone, the one part of
// signing no per-message engineering can share or shrink: it bounds how
// close signing throughput can come to a milter that does nothing
// (docs/benchmarks.md).
func benchmarkKeyOp(b *testing.B, kind string) {
	s := getPKI(b).signer(b, kind)
	digest := sha256.Sum256([]byte("signed attributes"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.key.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKeyOpRSA3072(b *testing.B)   { benchmarkKeyOp(b, "rsa") }
func BenchmarkKeyOpECDSAP256(b *testing.B) { benchmarkKeyOp(b, "ecdsa") }
