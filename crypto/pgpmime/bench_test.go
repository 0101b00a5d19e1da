package pgpmime

import (
	"testing"
)

// benchmarkEncrypt signs and encrypts an entity of about size bytes (a
// text part and a base64 attachment) with an RSA-3072 sender key to two
// recipients (the partner and the sender), the default setup.
func benchmarkEncrypt(b *testing.B, size int) {
	alice := getKey(b, "alice@corp.example", RSA3072)
	bob := getKey(b, "bob@partner.example", Curve25519)
	entity := testMessage(b, "Benchmark", size*3/4)
	recipients := []*PublicKey{bob.pub, alice.pub}
	b.ReportAllocs()
	b.SetBytes(int64(len(entity)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Encrypt(entity, alice.priv, recipients); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncrypt10KB(b *testing.B) { benchmarkEncrypt(b, 10<<10) }
func BenchmarkEncrypt10MB(b *testing.B) { benchmarkEncrypt(b, 10<<20) }
