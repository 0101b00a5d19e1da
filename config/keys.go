package config

import "github.com/mailseal/mailseal/pdfpass"

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
	{"admin_listen", "127.0.0.1:8892", "host:port", "HTTP listener for /healthz, /metrics, /ca.pem, /ca.crt, /ca.crl and the built-in CA's OCSP responder /ocsp. Empty disables it."},
	{"state_dir", defaultStateDir(), "path", "Directory for the SQLite store (which also holds the built-in CA), the master key and the copy ledger (created 0700; tightened to 0700 when group or others may use it)."},
	{"authserv_id", defaultAuthservID(), "string", "Our identity in Authentication-Results; inbound copies carrying it are removed."},
	{"internal_domains", []string{}, "list of domains", "Senders in these domains (and their subdomains) get personal certificates. Empty: nothing is signed."},
	{"trusted_networks", []string{"127.0.0.0/8", "::1/128"}, "list of CIDRs", "Clients here may send as internal users without SMTP AUTH."},
	{"master_key_file", "", "path", "File with the 32-byte key that encrypts private keys at rest (default STATE_DIR/master.key, created 0600)."},
	{"master_key", "", "base64", "The master key itself (prefer MAILSEAL_MASTER_KEY); wins over master_key_file."},
	{"store.driver", "sqlite", "sqlite|postgres", "Certificate store backend: sqlite (one instance; the store and the copy ledger are files in STATE_DIR) or postgres (several instances share certificates, keys, the partner key directory and the copy ledger in one PostgreSQL database; see docs/operations.md)."},
	{"store.dsn", "", "string", "sqlite: the store file (empty means STATE_DIR/mailseal.db). postgres: the connection string, key=value pairs (`host=db.corp port=5432 user=mailseal dbname=mailseal sslmode=verify-full`) or a postgres:// URL; put a password in store.dsn_file or MAILSEAL_STORE_DSN rather than here."},
	{"store.dsn_file", "", "path", "postgres only: file whose first line is the connection string (keep it 0600, it may hold the password); instead of store.dsn."},
	{"ca.backend", "builtin", "builtin|step", "Who issues user certificates: builtin is an in-process CA created on first start; step is a smallstep step-ca server (ca.step.*) reached over HTTPS through one of its JWK provisioners."},
	{"ca.key_type", "rsa-3072", "rsa-3072|rsa-2048|ecdsa-p256", "Key type of user certificates (one certificate per person signs and receives encrypted mail). rsa-3072 is read by every client; one RSA-3072 signature costs about 2.8 ms of CPU per message, ecdsa-p256 about 0.03 ms (docs/benchmarks.md); check that partners' clients handle ECDSA before choosing it."},
	{"ca.validity", "8760h", "duration", "Lifetime of user certificates."},
	{"ca.renew_before", "720h", "duration", "Re-issue a certificate this long before it expires."},
	{"ca.renew_interval", "1h", "duration", "How often the background renewer looks for certificates to renew."},
	{"ca.crl_url", "", "URL", "CRL distribution point written into user certificates, where partners can fetch it (e.g. a public copy of http://ADMIN_LISTEN/ca.crl). Empty: certificates name no CRL, and serve and config check warn."},
	{"ca.ocsp_url", "", "URL", "OCSP responder written into new user certificates (AIA), where partners ask whether a certificate is revoked: a URL that reaches /ocsp on admin_listen (e.g. through a reverse proxy). Empty: certificates name no OCSP responder (partners use the CRL)."},
	{"ca.step.url", "", "URL", "With ca.backend step: the step-ca server, https://HOST[:PORT]. Tokens name URL/1.0/sign as audience, so HOST must be one of the CA's dnsNames."},
	{"ca.step.root", "", "path", "With ca.backend step: PEM file of step-ca's root certificate. It is the only trust anchor for the HTTPS connection and for the certificates step-ca returns (pinned), and its SHA-256 fingerprint goes into each token."},
	{"ca.step.provisioner", "", "string", "With ca.backend step: name of the JWK provisioner (the tokens' issuer). Its x509 template must issue S/MIME certificates: extKeyUsage emailProtection and the e-mail SANs (docs/operations.md)."},
	{"ca.step.key_file", "", "path", "With ca.backend step: the provisioner's private key, a JWK, or password-encrypted as step writes it (the provisioner's encryptedKey, or the private file of `step crypto jwk create`). Keep it 0600."},
	{"ca.step.password_file", "", "path", "With ca.backend step: file whose first line is the password of an encrypted ca.step.key_file. Empty for a plain JWK."},
	{"ca.subject", "CN=mailseal built-in CA", "distinguished name", "Subject of a new built-in CA, e.g. \"CN=Corp Mail CA,O=Corp,C=DE\" (CN, O, OU, L, ST, C). Used when the CA is created on first start; changing it later does not change an existing CA."},
	{"ca.pkcs11.module", "", "path", "PKCS#11 library of the token (HSM) that holds the built-in CA's private key, e.g. /usr/lib/softhsm/libsofthsm2.so. Empty: the CA key is sealed in the store with the master key. Set: a new CA's key (ECDSA P-384) is generated inside the token, not extractable, and every certificate, CRL and OCSP answer is signed there; an existing CA whose key is in the store is not moved (see docs/operations.md). Needs a mailseal built with -tags pkcs11."},
	{"ca.pkcs11.token_label", "", "string", "Label of the token to use (or ca.pkcs11.slot)."},
	{"ca.pkcs11.slot", -1, "int", "Slot number of the token, instead of ca.pkcs11.token_label; -1: not set."},
	{"ca.pkcs11.pin_file", "", "path", "File whose first line is the token's user PIN; it must not be readable by group or others."},
	{"ca.pkcs11.key_label", "mailseal-ca", "string", "CKA_LABEL of the CA key pair in the token."},
	{"ca.pkcs11.key_id", "", "hex", "CKA_ID of the CA key pair (hex), to tell apart pairs with the same label. Empty: any ID (a random one for a new key)."},
	{"auth.login_maps", "", "path", "File mapping SMTP AUTH logins to the sender addresses each may use (`login  addr1, addr2`; `%u@domain` = login@domain): see docs/policy.md. Re-read on SIGHUP. Empty: a login may send only as itself."},
	{"reinject", "127.0.0.1:10026", "host:port", "Postfix smtpd without milters where mailseal re-injects per-group copies (see postfix-config). Empty: messages that need splitting are tempfailed."},
	{"socketmap_listen", "127.0.0.1:8893", "host:port", "Postfix socketmap for smtp_tls_policy_maps, derived from require_tls rules. Empty disables it."},
	{"policy.sign", "always", "always|confidential|never", "Sign outbound mail of authorised internal senders: always, only confidential mail, or never."},
	{"policy.encrypt", "opportunistic", "required|opportunistic|confidential|never", "Encrypt outbound mail: always (fallback when no key), when a key is known, only confidential mail, or never (confidential mail is still never sent unprotected)."},
	{"policy.methods", []string{}, "list of smime|pgp|pdf", "Encryption methods in order of preference; empty means smime, pgp, pdf (without pdf when fallback is reject)."},
	{"policy.fallback", "pdf", "pdf|reject", "When encryption is required and no key is known: encrypted PDF, or refuse the recipient (550 5.7.1)."},
	{"policy.confidential.subject_tags", []string{"[secure]", "[confidential]", "[vertraulich]"}, "list of strings", "Subject tags (case-insensitive) that mark mail confidential; the tag is removed before delivery."},
	{"policy.confidential.sensitivity", true, "bool", "Sensitivity: Company-Confidential or Private marks mail confidential."},
	{"policy.confidential.headers", []string{}, "list of \"Name\" or \"Name: value\"", "Further headers that mark mail confidential."},
	{"policy.smime_cipher", "auto", "auto|aes256-gcm|aes256-cbc", "Content cipher of S/MIME encrypted mail: AES-256-GCM (S/MIME 4.0 AuthEnvelopedData) when every recipient announced it (auto) or always, or AES-256-CBC, which every S/MIME client reads. Rules may override it (smime_cipher)."},
	{"policy.smime_key_transport", "rsa-pkcs1", "rsa-pkcs1|rsa-oaep", "How the content key reaches RSA recipients: PKCS#1 v1.5 (every client) or RSA-OAEP with SHA-256. EC recipients always get ECDH key agreement. Rules may override it (smime_key_transport)."},
	{"policy.encrypted_subject", "...", "string", "Outer Subject of encrypted mail; the real one travels inside the encrypted part (RFC 9788 header protection). Empty keeps the real subject visible."},
	{"policy.rules", []map[string]any{}, "list of rules", "Per-partner rules, first match wins per recipient: see docs/policy.md."},
	{"policy.unauthorised_internal", "deliver", "deliver|reject", "Mail from an internal-domain sender that cannot be signed because the client is not authorised to send as it (no matching SMTP AUTH, not from trusted_networks): deliver it unsigned, or refuse it with 550 5.7.1."},
	{"pdf.password_delivery", "sender", "sender|sms|fixed", "PDF fallback: how the password of the encrypted PDF travels. sender: a separate mail to the sender (through reinject), who passes it on by phone or in person. sms: a POST to the pdf.sms.url webhook for each recipient, to the number in pdf.sms.numbers_file (a recipient without one is refused with 550 5.7.1). fixed: each recipient's PDF (one per recipient) opens with the password an admin stored with `mailseal pdf set-password`; nothing is sent, and a recipient without one is refused with 550 5.7.1. The PDF is handed over only after the password went out; if that fails the mail is tempfailed."},
	{"pdf.sms.url", "", "URL", "SMS gateway webhook for pdf.password_delivery: sms. https, or http only to a loopback address (a local relay)."},
	{"pdf.sms.body", pdfpass.DefaultBody, "Go template", "Body of the webhook POST. Fields: .Number, .Password, .Sender, .Recipient, .Text (a ready sentence with sender and password); func json writes a value as a quoted JSON string."},
	{"pdf.sms.content_type", "application/json", "string", "Content-Type of the webhook POST."},
	{"pdf.sms.token_file", "", "path", "File holding a token sent as `Authorization: Bearer TOKEN`. Re-read on SIGHUP. Empty: no Authorization header."},
	{"pdf.sms.numbers_file", "", "path", "Mobile numbers of recipients, one `address  +4930123456` per line, `#` comments. Re-read on SIGHUP."},
	{"pdf.sms.timeout", "10s", "duration", "How long one webhook call may take."},
	{"pdf.language", "en", "en|de", "PDF fallback: language of the PDF's labels, the recipient's notice (de: German, then English) and the sender's password mail."},
	{"trust.anchor_files", []string{}, "list of paths", "PEM files with the root (or intermediate) CA certificates of partners whose S/MIME signatures inbound mail is checked against, besides the system roots and our own CA. Each file must exist and hold at least one CA certificate. Re-read on SIGHUP."},
	{"trust.system_roots", true, "bool", "Also trust the operating system's root CAs for inbound S/MIME signatures."},
	{"trust.revocation", "prefer", "require|prefer|off", "Revocation check of inbound signers' certificates (OCSP, then the CRL over HTTP). require: a signature whose revocation status cannot be found out is temperror (mail from require_signature partners is tempfailed 451 4.7.5); prefer: checked when possible, an unknown status is reported but does not fail the signature; off: not checked."},
	{"trust.revocation_timeout", "10s", "duration", "How long one revocation lookup for a partner's certificate may take (an OCSP request, a CRL or missing intermediate download); a responder that does not answer in time is remembered as failed for a minute."},
	{"trust.revocation_cache_max", 10000, "int", "Most OCSP answers (and, separately, CRLs and downloaded intermediates) kept in memory; each is kept until its nextUpdate, at most 24h."},
	{"trust.report", "off", "off|de|en", "Attach a readable signature verification report (German: Signaturpruefbericht.txt, English: signature-report.txt) to signed inbound mail. The message becomes multipart/mixed with the original signed part first, byte for byte, so the recipient's client can still verify it. off: headers only."},
	{"trust.subject_tags.pass", "", "string", "Put this before the Subject of inbound mail whose signature verified (e.g. \"[signed]\"). Empty: no tag. A copy of any configured tag that the sender put there is removed first."},
	{"trust.subject_tags.fail", "", "string", "Put this before the Subject of inbound mail whose signature did not verify (e.g. \"[signature INVALID]\"). Empty: no tag."},
	{"trust.subject_tags.unverified", "[not verified]", "string", "Put this before the Subject of mail from a require_signature: tag sender that is unsigned or whose signature did not verify. Empty: no tag (the headers still say it)."},
	{"milter.spool_memory", "4MiB", "size", "Message bytes kept in memory before spooling to a temporary file."},
	{"milter.max_message_size", "64MiB", "size", "Largest message mailseal processes; larger ones are refused with 552 5.3.4."},
	{"milter.read_timeout", "10m", "duration", "Idle time allowed between two commands from Postfix on one connection."},
	{"milter.write_timeout", "1m", "duration", "Time allowed to send one reply to Postfix."},
	{"milter.shutdown_timeout", "30s", "duration", "On SIGTERM, how long messages in flight may take to finish."},
	{"milter.copy_retention", "120h", "duration", "How long the copy ledger (STATE_DIR/copies.db) remembers each copy handed to the reinject listener, so a retry never sends it twice. Keep it at least Postfix's maximal_queue_lifetime; an identical message sent again within it counts as a retry."},
	{"milter.max_connections", 0, "int", "Most milter connections served at once; more wait in the listen queue. 0: derived from the open-file limit (which serve raises to its hard limit)."},
	{"socketmap.max_connections", 0, "int", "Most socketmap connections served at once; more wait in the listen queue. 0: derived from the open-file limit."},
	{"enroll.ldap.url", "", "URL", "Directory whose members get certificates ahead of their first mail: ldaps://HOST[:PORT] (server certificate checked against the system roots) or ldap://HOST[:PORT] (plain: only on loopback or a trusted network, the bind password travels in clear). Empty: no LDAP enrolment. Used by `mailseal certs enroll --ldap` and, with enroll.ldap.interval, by serve."},
	{"enroll.ldap.ca_file", "", "path", "PEM file with the CA certificate(s) that issued the directory's ldaps:// server certificate, e.g. a company CA. Empty: the system roots."},
	{"enroll.ldap.bind_dn", "", "distinguished name", "DN to bind as, e.g. cn=mailseal,ou=services,dc=corp,dc=example. Empty: anonymous bind."},
	{"enroll.ldap.password_file", "", "path", "File whose first line is the bind password (needed with bind_dn). Read at start and by each `certs enroll --ldap`; serve takes changed enroll.ldap.* keys (and password) only after a restart."},
	{"enroll.ldap.base_dn", "", "distinguished name", "Subtree searched for members, e.g. ou=people,dc=corp,dc=example."},
	{"enroll.ldap.filter", "(objectClass=inetOrgPerson)", "LDAP filter", "Who is enrolled, e.g. (memberOf=cn=staff,ou=groups,dc=corp,dc=example). Entries are read with paged search, 500 a page."},
	{"enroll.ldap.mail_attribute", "mail", "attribute", "Attribute holding a member's address; entries without it are skipped, addresses outside internal_domains are reported as failures."},
	{"enroll.ldap.interval", "0s", "duration", "How often serve enrols new members (and, with revoke_departed, revokes those who left). 0: serve runs no LDAP job. Only one instance per store runs it at a time."},
	{"enroll.ldap.revoke_departed", false, "bool", "Revoke (reason cessationOfOperation) the certificates of internal users the search no longer returns. Never done when the search fails or returns nobody."},
	{"enroll.ldap.timeout", "2m", "duration", "Longest time one directory connection, bind and search may take."},
	{"log.level", "info", "debug|info|warn|error", "Log verbosity."},
	{"log.format", "text", "text|json", "Log format on standard error."},
	{"log.output", "stderr", "stderr|syslog", "Where log lines go: standard error (journald under systemd), or syslog with facility mail, next to Postfix's own lines."},
}

func knownKeys() map[string]Key {
	m := make(map[string]Key, len(Keys))
	for _, k := range Keys {
		m[k.Name] = k
	}
	return m
}
