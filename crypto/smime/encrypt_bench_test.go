package smime

import (
	"bytes"
	"runtime"
	"testing"
)

// benchMessage is a message of about size octets as a client sends it:
// UTF-8 text and a random binary attachment in base64. fields and body
// are what the milter hands to Sign.
func benchMessage(b testing.TB, size int) (fields []HeaderField, body []byte) {
	entity := testContent(b, size*3/4) // base64 makes it size again
	i := bytes.Index(entity, []byte("\r\n\r\n"))
	return []HeaderField{{"Content-Type", `multipart/mixed; boundary="b1"`}}, entity[i+4:]
}

// reportAllocRatio prints the bytes allocated per operation as a multiple
// of the message size (alloc/msg), the number the memory goal is stated
// in.
func reportAllocRatio(b *testing.B, before runtime.MemStats, size int) {
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/float64(size), "alloc/msg")
}

func benchmarkEncrypt(b *testing.B, size int, c Cipher, recipient string) {
	keys := recipientKeys(b)
	entity := testContent(b, size)
	rs := []Recipient{{Cert: keys[recipient].cert}, {Cert: keys["rsa3072"].cert}} // partner and sender
	b.ReportAllocs()
	b.SetBytes(int64(len(entity)))
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Encrypt(entity, rs, EncryptOptions{Cipher: c}); err != nil {
			b.Fatal(err)
		}
	}
	reportAllocRatio(b, before, len(entity))
}

func BenchmarkEncrypt10KB(b *testing.B)     { benchmarkEncrypt(b, 10<<10, AES256CBC, "rsa2048") }
func BenchmarkEncrypt10MB(b *testing.B)     { benchmarkEncrypt(b, 10<<20, AES256CBC, "rsa2048") }
func BenchmarkEncrypt10KBGCM(b *testing.B)  { benchmarkEncrypt(b, 10<<10, AES256GCM, "rsa2048") }
func BenchmarkEncrypt10MBGCM(b *testing.B)  { benchmarkEncrypt(b, 10<<20, AES256GCM, "rsa2048") }
func BenchmarkEncrypt10KBECDH(b *testing.B) { benchmarkEncrypt(b, 10<<10, AES256GCM, "p256") }

// benchmarkSignEncrypt is the outbound S/MIME treatment: sign with the
// sender's RSA-3072 key, then encrypt to a partner and the sender.
func benchmarkSignEncrypt(b *testing.B, size int, c Cipher) {
	keys := recipientKeys(b)
	s := getPKI(b).signer(b, "rsa")
	fields, body := benchMessage(b, size)
	rs := []Recipient{{Cert: keys["rsa2048"].cert}, {Cert: keys["rsa3072"].cert}}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		signed, err := s.Sign(fields, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := EncryptSigned(signed, rs, EncryptOptions{Cipher: c}); err != nil {
			b.Fatal(err)
		}
	}
	reportAllocRatio(b, before, len(body))
}

func BenchmarkSignEncrypt10KB(b *testing.B)    { benchmarkSignEncrypt(b, 10<<10, AES256CBC) }
func BenchmarkSignEncrypt10MB(b *testing.B)    { benchmarkSignEncrypt(b, 10<<20, AES256CBC) }
func BenchmarkSignEncrypt25MB(b *testing.B)    { benchmarkSignEncrypt(b, 25<<20, AES256CBC) }
func BenchmarkSignEncrypt25MBGCM(b *testing.B) { benchmarkSignEncrypt(b, 25<<20, AES256GCM) }

// BenchmarkDecrypt10MB is the inbound side (and the sender's own copy).
func BenchmarkDecrypt10MB(b *testing.B) {
	keys := recipientKeys(b)
	entity := testContent(b, 10<<20)
	enc, err := Encrypt(entity, []Recipient{{Cert: keys["rsa2048"].cert}}, EncryptOptions{Cipher: AES256GCM})
	if err != nil {
		b.Fatal(err)
	}
	der := decodeBody(b, enc)
	b.ReportAllocs()
	b.SetBytes(int64(len(entity)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Decrypt(der, keys["rsa2048"].cert, keys["rsa2048"].key); err != nil {
			b.Fatal(err)
		}
	}
}
