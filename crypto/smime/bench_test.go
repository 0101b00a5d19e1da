package smime

import (
	"bytes"
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
