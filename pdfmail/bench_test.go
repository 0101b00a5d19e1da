package pdfmail

import (
	"crypto/rand"
	"strings"
	"testing"
)

func BenchmarkRender10KB(b *testing.B) {
	msg := textMail(strings.Repeat(sampleDE+" "+sampleEL+" "+sampleRU+"\n", 60)[:10<<10])
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := Render(msg, Options{Now: testNow}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuild10KB(b *testing.B) {
	msg := textMail(strings.Repeat(sampleDE+" "+sampleEL+" "+sampleRU+"\n", 60)[:10<<10])
	pw, _ := NewPassword(rand.Reader)
	owner, _ := NewOwnerPassword(rand.Reader)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := Build(msg, Options{Now: testNow}, pw, owner); err != nil {
			b.Fatal(err)
		}
	}
}

// bigMail is a message of about size bytes: a text body and one random binary
// attachment (base64) making up the rest, the shape of a large real mail.
func bigMail(tb testing.TB, size int) []byte {
	blob := make([]byte, (size-4096)*3/4*76/78)
	if _, err := rand.Read(blob); err != nil {
		tb.Fatal(err)
	}
	return multipart(tb, strings.Repeat(sampleDE+"\n", 40), []part{{name: "scan.bin", ctype: "application/octet-stream", data: blob}})
}

// BenchmarkBuild25MB reports B/op (all allocations of one Build) and the peak RSS
// divided by the message size, each measured in a fresh child process that only
// builds the PDF:
//   - peakRSS/msg:        Build: the message read into memory, the PDF returned as []byte
//   - stream-peakRSS/msg: RenderFrom the message file + EncryptTo into a file
func BenchmarkBuild25MB(b *testing.B) {
	msg := bigMail(b, 25<<20)
	_, path := writeTemp(b, "big.eml", msg)
	peak := childPeakRSS(b, path, false)
	stream := childPeakRSS(b, path, true)
	pw, _ := NewPassword(rand.Reader)
	owner, _ := NewOwnerPassword(rand.Reader)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Build(msg, Options{Now: testNow}, pw, owner); err != nil {
			b.Fatal(err)
		}
	}
	m := float64(len(msg))
	b.ReportMetric(float64(peak)/m, "peakRSS/msg")
	b.ReportMetric(float64(stream)/m, "stream-peakRSS/msg")
}
