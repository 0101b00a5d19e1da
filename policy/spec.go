package policy

// SignConfidential signs outbound mail only when it is marked confidential.
// It is accepted by Compile (policy.sign and rules[].sign); Decide treats it
// like SignAlways, so Decide's Sign answers "may this sender be signed for".
const SignConfidential SignMode = "confidential"

// EncryptMode is policy.encrypt.
type EncryptMode string

const (
	// EncryptRequired encrypts every message; without a key the fallback applies.
	EncryptRequired EncryptMode = "required"
	// EncryptOpportunistic encrypts when a certificate or key is known, else sends
	// the message signed or plain.
	EncryptOpportunistic EncryptMode = "opportunistic"
	// EncryptConfidential behaves like EncryptRequired for mail marked
	// confidential and like EncryptNever for all other mail.
	EncryptConfidential EncryptMode = "confidential"
	// EncryptNever does not encrypt, except mail marked confidential, which is
	// never delivered unprotected.
	EncryptNever EncryptMode = "never"
)

// Method is one way of protecting a message for a recipient.
type Method string

const (
	MethodSMIME Method = "smime"
	MethodPGP   Method = "pgp"
	MethodPDF   Method = "pdf" // password-protected PDF; needs no recipient key
)

// Fallback is what happens when encryption is required and no method applies.
type Fallback string

const (
	FallbackPDF    Fallback = "pdf"
	FallbackReject Fallback = "reject"
)

// Spec is the `policy:` block of the configuration as decoded from YAML.
// Decode onto DefaultSpec(); Compile also treats empty strings and empty
// lists as "use the default" (booleans cannot be told apart from unset).
type Spec struct {
	Sign         string           `mapstructure:"sign"`     // always|confidential|never (default always)
	Encrypt      string           `mapstructure:"encrypt"`  // required|opportunistic|confidential|never (default opportunistic)
	Methods      []string         `mapstructure:"methods"`  // preference order of smime|pgp|pdf (default [smime, pgp, pdf])
	Fallback     string           `mapstructure:"fallback"` // pdf|reject (default pdf)
	Confidential ConfidentialSpec `mapstructure:"confidential"`
	Rules        []RuleSpec       `mapstructure:"rules"`
	// SMIMECipher and SMIMEKeyTransport shape S/MIME encrypted copies
	// (defaults auto and rsa-pkcs1).
	SMIMECipher       string `mapstructure:"smime_cipher"`
	SMIMEKeyTransport string `mapstructure:"smime_key_transport"`
	// EncryptedSubject replaces the outer Subject of encrypted copies; the
	// real one travels inside the encrypted part. Empty keeps the subject
	// visible. Carried verbatim (empty is meaningful here).
	EncryptedSubject string `mapstructure:"encrypted_subject"`
	// UnauthorisedInternal is deliver|reject (default deliver): what happens
	// to mail from an internal-domain sender that cannot be signed because
	// the client is not authorised to send as it.
	UnauthorisedInternal string `mapstructure:"unauthorised_internal"`
}

// UnauthorisedMode is policy.unauthorised_internal.
type UnauthorisedMode string

const (
	// UnauthorisedDeliver lets such mail pass unsigned, like inbound mail.
	UnauthorisedDeliver UnauthorisedMode = "deliver"
	// UnauthorisedReject refuses it with 550 5.7.1.
	UnauthorisedReject UnauthorisedMode = "reject"
)

// ConfidentialSpec says how a message is marked confidential.
type ConfidentialSpec struct {
	// SubjectTags are matched anywhere in the (RFC 2047 decoded) subject,
	// case-insensitively, and removed. nil means the defaults; an empty,
	// non-nil list means no subject tags.
	SubjectTags []string `mapstructure:"subject_tags"`
	// Sensitivity marks mail with "Sensitivity: Company-Confidential" or "Private".
	Sensitivity bool `mapstructure:"sensitivity"`
	// Headers are extra markers: "X-Classification: secret" (name and value,
	// both case-insensitive) or "X-Confidential" (present at all).
	Headers []string `mapstructure:"headers"`
}

// RuleSpec is one entry of policy.rules. Empty fields inherit the global value.
type RuleSpec struct {
	Name              string   `mapstructure:"name"`      // required, unique
	Direction         string   `mapstructure:"direction"` // inbound|outbound|"" (both)
	Senders           []string `mapstructure:"senders"`   // address patterns, see matchPattern
	Recipients        []string `mapstructure:"recipients"`
	Sign              string   `mapstructure:"sign"`
	Encrypt           string   `mapstructure:"encrypt"`
	Methods           []string `mapstructure:"methods"`
	Fallback          string   `mapstructure:"fallback"`
	RequireTLS        bool     `mapstructure:"require_tls"`
	TLSCAFile         string   `mapstructure:"tls_ca_file"`         // outbound, with require_tls: verify the peer against this CA
	RequireSignature  string   `mapstructure:"require_signature"`   // inbound: ""|reject|tag (carried, enforced elsewhere)
	SMIMECipher       string   `mapstructure:"smime_cipher"`        // outbound: auto|aes256-gcm|aes256-cbc
	SMIMEKeyTransport string   `mapstructure:"smime_key_transport"` // outbound: rsa-pkcs1|rsa-oaep
}

// DefaultEncryptedSubject is the outer Subject of encrypted copies, as
// RFC 9788 suggests.
const DefaultEncryptedSubject = "..."

// DefaultSubjectTags are the subject markers used when none are configured.
var defaultSubjectTags = []string{"[secure]", "[confidential]", "[vertraulich]"}

// DefaultSpec returns the built-in policy: sign always, encrypt
// opportunistically (S/MIME, then PGP, then PDF), fall back to PDF.
func DefaultSpec() Spec {
	return Spec{
		Sign:                 string(SignAlways),
		Encrypt:              string(EncryptOpportunistic),
		Methods:              []string{string(MethodSMIME), string(MethodPGP), string(MethodPDF)},
		Fallback:             string(FallbackPDF),
		SMIMECipher:          string(CipherAuto),
		SMIMEKeyTransport:    string(KeyTransportPKCS1),
		EncryptedSubject:     DefaultEncryptedSubject,
		UnauthorisedInternal: string(UnauthorisedDeliver),
		Confidential: ConfidentialSpec{
			SubjectTags: append([]string(nil), defaultSubjectTags...),
			Sensitivity: true,
		},
	}
}

// Problem is one invalid setting, named by its YAML key path.
type Problem struct{ Key, Message string }

func (p Problem) String() string { return p.Key + ": " + p.Message }
