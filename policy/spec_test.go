package policy

import (
	"reflect"
	"testing"

	"github.com/go-viper/mapstructure/v2"
)

// The config package decodes the YAML policy: block onto DefaultSpec.
func TestSpecDecodes(t *testing.T) {
	raw := map[string]any{
		"sign": "confidential", "encrypt": "required", "methods": []any{"pgp", "smime"}, "fallback": "reject",
		"smime_cipher": "aes256-gcm", "encrypted_subject": "",
		"confidential": map[string]any{"subject_tags": []any{"[secret]"}, "sensitivity": false, "headers": []any{"X-Confidential"}},
		"rules": []any{map[string]any{
			"name": "partner-x", "direction": "outbound", "senders": []any{"*@corp.example"}, "recipients": []any{"*@partner.example"},
			"sign": "never", "encrypt": "opportunistic", "methods": []any{"smime"}, "fallback": "pdf",
			"require_tls": true, "tls_ca_file": "/etc/ca.pem", "require_signature": "",
			"smime_key_transport": "rsa-oaep",
		}},
		"unauthorised_internal": "reject",
	}
	s := DefaultSpec()
	if err := mapstructure.Decode(raw, &s); err != nil {
		t.Fatal(err)
	}
	want := Spec{
		Sign: "confidential", Encrypt: "required", Methods: []string{"pgp", "smime"}, Fallback: "reject",
		Confidential: ConfidentialSpec{SubjectTags: []string{"[secret]"}, Headers: []string{"X-Confidential"}},
		Rules: []RuleSpec{{Name: "partner-x", Direction: "outbound", Senders: []string{"*@corp.example"}, Recipients: []string{"*@partner.example"},
			Sign: "never", Encrypt: "opportunistic", Methods: []string{"smime"}, Fallback: "pdf", RequireTLS: true, TLSCAFile: "/etc/ca.pem", SMIMEKeyTransport: "rsa-oaep"}},
		SMIMECipher: "aes256-gcm", SMIMEKeyTransport: "rsa-pkcs1", EncryptedSubject: "",
		UnauthorisedInternal: "reject",
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("decoded %+v\nwant    %+v", s, want)
	}
	if _, ps := Compile(s); ps != nil {
		t.Fatal(ps)
	}
}
