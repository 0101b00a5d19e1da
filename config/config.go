// Package config loads, validates and documents mailseal's one configuration file.
//
// Every key has an embedded default, can be set in YAML and overridden by a
// MAILSEAL_* environment variable (dots become underscores: ca.validity →
// MAILSEAL_CA_VALIDITY). Load reports every problem at once, each naming its key.
package config

import (
	"time"

	"github.com/mailseal/mailseal/pdfpass"
	"github.com/mailseal/mailseal/policy"
)

// Config is the whole daemon configuration.
type Config struct {
	Listen          string       `mapstructure:"listen"`
	AdminListen     string       `mapstructure:"admin_listen"`
	StateDir        string       `mapstructure:"state_dir"`
	AuthservID      string       `mapstructure:"authserv_id"`
	InternalDomains []string     `mapstructure:"internal_domains"`
	TrustedNetworks []string     `mapstructure:"trusted_networks"`
	MasterKeyFile   string       `mapstructure:"master_key_file"`
	MasterKey       string       `mapstructure:"master_key"`
	Store           StoreConfig  `mapstructure:"store"`
	CA              CAConfig     `mapstructure:"ca"`
	Auth            AuthConfig   `mapstructure:"auth"`
	Reinject        string       `mapstructure:"reinject"`
	SocketmapListen string       `mapstructure:"socketmap_listen"`
	Policy          policy.Spec  `mapstructure:"policy"`
	Milter          MilterConfig `mapstructure:"milter"`
	Log             LogConfig    `mapstructure:"log"`
	Source          string       `mapstructure:"-"` // file the config came from, "" for embedded defaults
	LoadedAt        time.Time    `mapstructure:"-"`

	// Socketmap tunes the socketmap server; its address stays socketmap_listen.
	Socketmap SocketmapConfig `mapstructure:"socketmap"`
	PDF       PDFConfig       `mapstructure:"pdf"`
	Trust     TrustConfig     `mapstructure:"trust"`
	// Enroll configures enrolment ahead of the first mail (LDAP).
	Enroll EnrollConfig `mapstructure:"enroll"`
}

// TrustConfig is how inbound signatures are verified and reported (trust.*).
type TrustConfig struct {
	AnchorFiles []string `mapstructure:"anchor_files"`
	SystemRoots bool     `mapstructure:"system_roots"`
	Revocation  string   `mapstructure:"revocation"`
	// RevocationTimeout bounds one OCSP, CRL or issuer fetch;
	// RevocationCacheMax the answers kept per cache.
	RevocationTimeout  time.Duration `mapstructure:"revocation_timeout"`
	RevocationCacheMax int           `mapstructure:"revocation_cache_max"`
	Report             string        `mapstructure:"report"`
	SubjectTags        SubjectTags   `mapstructure:"subject_tags"`
}

// SubjectTags are the Subject prefixes for inbound verdicts; "" adds none.
type SubjectTags struct {
	Pass       string `mapstructure:"pass"`
	Fail       string `mapstructure:"fail"`
	Unverified string `mapstructure:"unverified"`
}

// StoreConfig selects where certificates and keys live.
type StoreConfig struct {
	Driver  string `mapstructure:"driver"`
	DSN     string `mapstructure:"dsn"`
	DSNFile string `mapstructure:"dsn_file"`
}

// CAConfig selects the certificate issuer and the lifetime of user certificates.
type CAConfig struct {
	Backend       string        `mapstructure:"backend"`
	KeyType       string        `mapstructure:"key_type"`
	Validity      time.Duration `mapstructure:"validity"`
	RenewBefore   time.Duration `mapstructure:"renew_before"`
	RenewInterval time.Duration `mapstructure:"renew_interval"`
	CRLURL        string        `mapstructure:"crl_url"`
	OCSPURL       string        `mapstructure:"ocsp_url"`
	Subject       string        `mapstructure:"subject"`
	Step          StepConfig    `mapstructure:"step"`
	PKCS11        PKCS11Config  `mapstructure:"pkcs11"`
}

// StepConfig reaches a smallstep step-ca (ca.backend: step).
type StepConfig struct {
	URL          string `mapstructure:"url"`
	Root         string `mapstructure:"root"`
	Provisioner  string `mapstructure:"provisioner"`
	KeyFile      string `mapstructure:"key_file"`
	PasswordFile string `mapstructure:"password_file"`
}

// PKCS11Config puts the built-in CA's key in a PKCS#11 token (ca.pkcs11.*).
type PKCS11Config struct {
	Module     string `mapstructure:"module"`
	TokenLabel string `mapstructure:"token_label"`
	Slot       int    `mapstructure:"slot"`
	PINFile    string `mapstructure:"pin_file"`
	KeyLabel   string `mapstructure:"key_label"`
	KeyID      string `mapstructure:"key_id"`
}

// Enabled reports whether the CA key is to be in a token.
func (p PKCS11Config) Enabled() bool { return p.Module != "" }

// AuthConfig says which senders SMTP AUTH logins may use.
type AuthConfig struct {
	LoginMaps string `mapstructure:"login_maps"`
	// LoginMap is the parsed auth.login_maps file, read by Validate (so at
	// start, by config check and at every reload); nil without one.
	LoginMap *policy.LoginMap `mapstructure:"-"`
}

// MilterConfig tunes the milter connection handling.
type MilterConfig struct {
	SpoolMemory     ByteSize      `mapstructure:"spool_memory"`
	MaxMessageSize  ByteSize      `mapstructure:"max_message_size"`
	ReadTimeout     time.Duration `mapstructure:"read_timeout"`
	WriteTimeout    time.Duration `mapstructure:"write_timeout"`
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`

	CopyRetention  time.Duration `mapstructure:"copy_retention"`
	MaxConnections int           `mapstructure:"max_connections"`
}

// SocketmapConfig tunes the socketmap server (its address is socketmap_listen).
type SocketmapConfig struct {
	MaxConnections int `mapstructure:"max_connections"`
}

// LogConfig selects log verbosity and format.
// PDFConfig is the PDF fallback (pdf.*).
type PDFConfig struct {
	PasswordDelivery string    `mapstructure:"password_delivery"`
	Language         string    `mapstructure:"language"`
	SMS              SMSConfig `mapstructure:"sms"`
}

// SMSConfig is the SMS webhook (pdf.sms.*). Validate fills in the parsed
// parts, so they are read at start, by config check and at every reload.
type SMSConfig struct {
	URL         string        `mapstructure:"url"`
	Body        string        `mapstructure:"body"`
	ContentType string        `mapstructure:"content_type"`
	TokenFile   string        `mapstructure:"token_file"`
	NumbersFile string        `mapstructure:"numbers_file"`
	Timeout     time.Duration `mapstructure:"timeout"`

	// Webhook and Numbers are nil unless pdf.password_delivery is sms.
	Webhook *pdfpass.Webhook `mapstructure:"-"`
	Numbers *pdfpass.Numbers `mapstructure:"-"`
}

type LogConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
	Output string `mapstructure:"output"`
}

// ByteSize is a size in bytes that may be written as 4194304, "4MiB" or "4 MB".
type ByteSize int64
