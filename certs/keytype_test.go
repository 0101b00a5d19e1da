package certs

import (
	"crypto/rand"
	"testing"
)

func TestParseKeyType(t *testing.T) {
	tests := []struct {
		in      string
		want    KeyType
		wantErr bool
	}{
		{"", KeyRSA3072, false},
		{"rsa-3072", KeyRSA3072, false},
		{"RSA-2048", KeyRSA2048, false},
		{" ecdsa-p256 ", KeyECDSAP256, false},
		{"rsa-1024", "", true},
		{"ed25519", "", true},
	}
	for _, tt := range tests {
		got, err := ParseKeyType(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseKeyType(%q) = %q, %v; want %q, err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestKeyTypeGenerate(t *testing.T) {
	for _, kt := range []KeyType{KeyRSA2048, KeyECDSAP256} {
		key, err := kt.generate(rand.Reader)
		if err != nil {
			t.Fatalf("%s: %v", kt, err)
		}
		if got := keyTypeName(key.Public()); got != string(kt) {
			t.Errorf("keyTypeName = %q, want %q", got, kt)
		}
	}
	if _, err := KeyType("dsa").generate(rand.Reader); err == nil {
		t.Error("unknown key type generated a key")
	}
}
