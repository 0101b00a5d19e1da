package config

// Key documents one configuration key. The table below is the single source
// for defaults, the unknown-key check, `config example` and docs/configuration.md.
type Key struct {
	Name    string // dotted path, e.g. ca.validity
	Default any
	Type    string
	Doc     string
}

// Keys lists every key mailseal understands, in documentation order.
var Keys = []Key{
	{"listen", "inet:127.0.0.1:8891", "socket", "Milter socket Postfix connects to: inet:HOST:PORT or unix:/path."},
	{"admin_listen", "127.0.0.1:8892", "host:port", "HTTP listener for /healthz, /metrics, /ca.pem and /ca.crl. Empty disables it."},
	{"state_dir", defaultStateDir(), "path", "Directory for the SQLite store (which also holds the built-in CA) and the master key (created 0700)."},
	{"authserv_id", defaultAuthservID(), "string", "Our identity in Authentication-Results; inbound copies carrying it are removed."},
	{"internal_domains", []string{}, "list of domains", "Senders in these domains (and their subdomains) get personal certificates. Empty: nothing is signed."},
	{"trusted_networks", []string{"127.0.0.0/8", "::1/128"}, "list of CIDRs", "Clients here may send as internal users without SMTP AUTH."},
	{"master_key_file", "", "path", "File with the 32-byte key that encrypts private keys at rest (default STATE_DIR/master.key, created 0600)."},
	{"master_key", "", "base64", "The master key itself (prefer MAILSEAL_MASTER_KEY); wins over master_key_file."},
	{"store.driver", "sqlite", "sqlite", "Certificate store backend."},
	{"store.dsn", "", "string", "Store location; empty means STATE_DIR/mailseal.db."},
	{"ca.backend", "builtin", "builtin", "Who issues user certificates; builtin is an in-process CA created on first start."},
	{"ca.key_type", "rsa-3072", "rsa-3072|rsa-2048|ecdsa-p256", "Key type of user certificates."},
	{"ca.validity", "8760h", "duration", "Lifetime of user certificates."},
	{"ca.renew_before", "720h", "duration", "Re-issue a certificate this long before it expires."},
	{"ca.renew_interval", "1h", "duration", "How often the background renewer looks for certificates to renew."},
	{"ca.crl_url", "", "URL", "CRL distribution point written into user certificates; default http://ADMIN_LISTEN/ca.crl."},
	{"policy.sign", "always", "always|never", "Sign outbound mail of authorised internal senders."},
	{"milter.spool_memory", "4MiB", "size", "Message bytes kept in memory before spooling to a temporary file."},
	{"milter.max_message_size", "64MiB", "size", "Largest message mailseal processes; larger ones are refused with 552 5.3.4."},
	{"milter.read_timeout", "10m", "duration", "Idle time allowed between two commands from Postfix on one connection."},
	{"milter.write_timeout", "1m", "duration", "Time allowed to send one reply to Postfix."},
	{"milter.shutdown_timeout", "30s", "duration", "On SIGTERM, how long messages in flight may take to finish."},
	{"log.level", "info", "debug|info|warn|error", "Log verbosity."},
	{"log.format", "text", "text|json", "Log format on standard error."},
}

func knownKeys() map[string]Key {
	m := make(map[string]Key, len(Keys))
	for _, k := range Keys {
		m[k.Name] = k
	}
	return m
}
