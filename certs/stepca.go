package certs

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// StepCAConfig configures an issuer backed by smallstep step-ca and one of
// its JWK provisioners.
type StepCAConfig struct {
	// URL of the CA, e.g. https://ca.corp.example:9000 (no path).
	URL string
	// Root is step-ca's root certificate. It is the only trust anchor of the
	// HTTPS connection (pinned) and of the certificates step-ca returns.
	Root *x509.Certificate
	// Provisioner is the JWK provisioner's name (the token's issuer).
	Provisioner string
	// Key is the provisioner's private JWK (see LoadStepCAKey).
	Key *jose.JSONWebKey
	// TokenLifetime is how long a one-time token is valid; default 5m.
	TokenLifetime time.Duration
	// Timeout of one HTTP exchange; default 30s.
	Timeout time.Duration
	// Now and Rand default to time.Now and crypto/rand.
	Now  func() time.Time
	Rand io.Reader
}

// StepCA issues certificates through step-ca's sign API: for each request it
// mints a one-time token (a JWT signed with the provisioner key, audience
// URL/1.0/sign, subject and SAN the address, sha the root's fingerprint)
// and posts the CSR with it. The provisioner's x509 template decides the
// certificate's contents; the Manager checks the result (key, address) and
// this issuer the chain up to the pinned root and the emailProtection EKU.
type StepCA struct {
	cfg     StepCAConfig
	base    *url.URL
	signer  jose.Signer
	client  *http.Client
	roots   *x509.CertPool
	rootSHA string
}

var (
	_ Issuer      = (*StepCA)(nil)
	_ CACertifier = (*StepCA)(nil)
)

// NewStepCA checks cfg and returns the issuer. It does not contact the CA:
// the daemon starts (and keeps signing for users with certificates) while
// the CA is down.
func NewStepCA(cfg StepCAConfig) (*StepCA, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("certs: step-ca URL %q: want https://HOST[:PORT]", cfg.URL)
	}
	u.Path = ""
	if cfg.Root == nil {
		return nil, errors.New("certs: step-ca needs its root certificate")
	}
	if !cfg.Root.IsCA {
		return nil, errors.New("certs: the step-ca root certificate is not a CA certificate")
	}
	if cfg.Provisioner == "" {
		return nil, errors.New("certs: step-ca needs the JWK provisioner's name")
	}
	if cfg.Key == nil || cfg.Key.IsPublic() || !cfg.Key.Valid() {
		return nil, errors.New("certs: step-ca needs the provisioner's private JWK")
	}
	alg, err := jwkAlgorithm(cfg.Key)
	if err != nil {
		return nil, err
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = 5 * time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", cfg.Key.KeyID)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: cfg.Key.Key}, opts)
	if err != nil {
		return nil, fmt.Errorf("certs: step-ca provisioner key: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cfg.Root)
	sum := sha256.Sum256(cfg.Root.Raw)
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: cfg.Timeout,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	return &StepCA{
		cfg:     cfg,
		base:    u,
		signer:  signer,
		client:  &http.Client{Transport: tr, Timeout: cfg.Timeout},
		roots:   roots,
		rootSHA: hex.EncodeToString(sum[:]),
	}, nil
}

// CACertificate returns step-ca's root.
func (s *StepCA) CACertificate() *x509.Certificate { return s.cfg.Root }

// stepClaims are the one-time token's claims step-ca's JWK provisioner reads.
type stepClaims struct {
	jwt.Claims
	SANs []string `json:"sans,omitempty"`
	SHA  string   `json:"sha,omitempty"`
}

// token mints a one-time token for the API path (sign, revoke).
func (s *StepCA) token(subject, path string, sans []string) (string, error) {
	jti := make([]byte, 16)
	if _, err := io.ReadFull(s.rand(), jti); err != nil {
		return "", fmt.Errorf("certs: step-ca token id: %w", err)
	}
	now := s.cfg.Now()
	c := stepClaims{
		Claims: jwt.Claims{
			Issuer:    s.cfg.Provisioner,
			Subject:   subject,
			Audience:  jwt.Audience{s.base.String() + path},
			NotBefore: jwt.NewNumericDate(now.Add(-30 * time.Second)),
			IssuedAt:  jwt.NewNumericDate(now),
			Expiry:    jwt.NewNumericDate(now.Add(s.cfg.TokenLifetime)),
			ID:        hex.EncodeToString(jti),
		},
		SANs: sans,
		SHA:  s.rootSHA,
	}
	tok, err := jwt.Signed(s.signer).Claims(c).Serialize()
	if err != nil {
		return "", fmt.Errorf("certs: step-ca token: %w", err)
	}
	return tok, nil
}

func (s *StepCA) rand() io.Reader {
	if s.cfg.Rand != nil {
		return s.cfg.Rand
	}
	return rand.Reader
}

// stepSignResponse is the part of step-ca's sign answer we use.
type stepSignResponse struct {
	Crt       string   `json:"crt"`
	CA        string   `json:"ca"`
	CertChain []string `json:"certChain"`
}

// Issue has step-ca sign req.CSR.
func (s *StepCA) Issue(ctx context.Context, req *IssueRequest) (*IssueResponse, error) {
	if req == nil || req.Email == "" || req.CSR == nil {
		return nil, errors.New("certs: step-ca: incomplete issue request (a CSR is required)")
	}
	resp, err := s.sign(ctx, req, !req.NotAfter.IsZero())
	var he *stepHTTPError
	if errors.As(err, &he) && he.code == http.StatusForbidden && strings.Contains(he.msg, "authorized maximum") {
		// ca.validity is longer than the provisioner allows: the
		// provisioner's default duration applies (an issuer may shorten
		// the validity; renewal follows the certificate's own lifetime).
		resp, err = s.sign(ctx, req, false)
	}
	if err != nil {
		return nil, err
	}
	certs, err := stepAnswerCerts(resp)
	if err != nil {
		return nil, err
	}
	leaf := certs[0]
	inter := x509.NewCertPool()
	var chain []*x509.Certificate
	for _, c := range certs[1:] {
		if c.Equal(s.cfg.Root) {
			continue
		}
		inter.AddCert(c)
		chain = append(chain, c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: s.roots, Intermediates: inter, CurrentTime: s.cfg.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}); err != nil {
		return nil, fmt.Errorf("certs: step-ca issued a certificate for %s that is not for e-mail under the configured root "+
			"(does the provisioner's x509 template set extKeyUsage emailProtection?): %w", req.Email, err)
	}
	chain = append(chain, s.cfg.Root)
	return &IssueResponse{Certificate: leaf, Chain: chain}, nil
}

// sign posts req's CSR with a fresh one-time token (a token is used once,
// so a retry needs a new one).
func (s *StepCA) sign(ctx context.Context, req *IssueRequest, withNotAfter bool) (*stepSignResponse, error) {
	tok, err := s.token(req.Email, "/1.0/sign", []string{req.Email})
	if err != nil {
		return nil, err
	}
	body := map[string]any{
		"csr": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: req.CSR.Raw})),
		"ott": tok,
	}
	// Only the end: step-ca backdates the start itself, and refuses a
	// duration above the provisioner's maxTLSCertDuration (+ backdate).
	if withNotAfter {
		body["notAfter"] = req.NotAfter.UTC().Format(time.RFC3339)
	}
	var resp stepSignResponse
	if err := s.post(ctx, "/1.0/sign", body, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// stepAnswerCerts decodes the leaf and the chain of a sign answer.
func stepAnswerCerts(resp *stepSignResponse) (certs []*x509.Certificate, err error) {
	defer func() {
		if r := recover(); r != nil {
			certs, err = nil, fmt.Errorf("certs: step-ca answer: malformed (%v)", r)
		}
	}()
	pems := resp.CertChain
	if len(pems) == 0 {
		pems = []string{resp.Crt, resp.CA}
	}
	if len(pems) > 8 {
		return nil, fmt.Errorf("certs: step-ca answer: %d certificates in the chain", len(pems))
	}
	for _, p := range pems {
		c, err := parsePEMCert(p)
		if err != nil {
			return nil, fmt.Errorf("certs: step-ca answer: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("certs: step-ca answer holds no certificate")
	}
	return certs, nil
}

// stepHTTPError is a non-2xx answer of step-ca.
type stepHTTPError struct {
	path, status string
	code         int
	msg          string
}

func (e *stepHTTPError) Error() string {
	return fmt.Sprintf("certs: step-ca %s answered %s: %s", e.path, e.status, e.msg)
}

// Revoke asks step-ca to revoke the certificate (passive revocation: step-ca
// records it in its database and refuses to renew it).
func (s *StepCA) Revoke(ctx context.Context, req *RevokeRequest) error {
	if req == nil || (req.Serial == nil && req.Certificate == nil) {
		return errors.New("certs: step-ca: incomplete revoke request")
	}
	serial := req.Serial
	if serial == nil {
		serial = req.Certificate.SerialNumber
	}
	tok, err := s.token(serial.String(), "/1.0/revoke", nil)
	if err != nil {
		return err
	}
	body := map[string]any{"serial": serial.String(), "ott": tok, "reasonCode": req.Reason, "passive": true}
	return s.post(ctx, "/1.0/revoke", body, nil)
}

// maxStepAnswer bounds what we read from step-ca (a chain is a few KB).
const maxStepAnswer = 1 << 20

// post sends body as JSON and decodes a 2xx answer into out.
func (s *StepCA) post(ctx context.Context, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base.String()+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("certs: step-ca at %s unreachable: %w", s.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxStepAnswer))
	if err != nil {
		return fmt.Errorf("certs: step-ca at %s: read answer: %w", s.base, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Message string `json:"message"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			msg = e.Message
		}
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		return &stepHTTPError{path: path, status: resp.Status, code: resp.StatusCode, msg: msg}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("certs: step-ca %s: malformed answer: %w", path, err)
	}
	return nil
}

func parsePEMCert(s string) (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

// jwkAlgorithm is the JWS algorithm for a provisioner key: its own "alg"
// or the usual one for its kind (what `step ca provisioner add` makes).
func jwkAlgorithm(k *jose.JSONWebKey) (jose.SignatureAlgorithm, error) {
	if k.Algorithm != "" {
		return jose.SignatureAlgorithm(k.Algorithm), nil
	}
	switch key := k.Key.(type) {
	case *ecdsa.PrivateKey:
		switch key.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		case elliptic.P521():
			return jose.ES512, nil
		}
	case *rsa.PrivateKey:
		return jose.RS256, nil
	case ed25519.PrivateKey:
		return jose.EdDSA, nil
	}
	return "", fmt.Errorf("certs: step-ca provisioner key of type %T is not supported", k.Key)
}

// LoadStepCAKey reads a provisioner's private key: a JWK (JSON), or a JWE
// holding one, encrypted with a password as `step` writes it (the
// provisioner's encryptedKey, or `step crypto jwk create`'s private file;
// PBES2 key wrapping). password may be nil for a plain JWK.
func LoadStepCAKey(data, password []byte) (key *jose.JSONWebKey, err error) {
	defer func() {
		if r := recover(); r != nil {
			key, err = nil, fmt.Errorf("certs: step-ca provisioner key: malformed (%v)", r)
		}
	}()
	data = bytes.TrimSpace(data)
	var probe map[string]json.RawMessage
	isJSON := json.Unmarshal(data, &probe) == nil
	if _, jwe := probe["ciphertext"]; !isJSON || jwe {
		if len(password) == 0 {
			return nil, errors.New("certs: the step-ca provisioner key is encrypted: a password is needed")
		}
		enc, err := jose.ParseEncrypted(string(data),
			[]jose.KeyAlgorithm{jose.PBES2_HS256_A128KW, jose.PBES2_HS384_A192KW, jose.PBES2_HS512_A256KW},
			[]jose.ContentEncryption{jose.A128GCM, jose.A192GCM, jose.A256GCM, jose.A128CBC_HS256, jose.A192CBC_HS384, jose.A256CBC_HS512})
		if err != nil {
			return nil, fmt.Errorf("certs: step-ca provisioner key: neither a JWK nor a password-encrypted JWE: %w", err)
		}
		if data, err = enc.Decrypt(password); err != nil {
			return nil, fmt.Errorf("certs: step-ca provisioner key: cannot decrypt (wrong password?): %w", err)
		}
	}
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("certs: step-ca provisioner key: %w", err)
	}
	if k.IsPublic() {
		return nil, errors.New("certs: step-ca provisioner key is a public key: the private key is needed to sign tokens")
	}
	if _, ok := k.Key.(crypto.Signer); !ok {
		return nil, fmt.Errorf("certs: step-ca provisioner key of type %T cannot sign", k.Key)
	}
	return &k, nil
}

// LoadStepCAKeyFile reads LoadStepCAKey's input from keyFile, with the
// password (first line) from passwordFile when that is not empty.
func LoadStepCAKeyFile(keyFile, passwordFile string) (*jose.JSONWebKey, error) {
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("certs: step-ca provisioner key: %w", err)
	}
	var pw []byte
	if passwordFile != "" {
		b, err := os.ReadFile(passwordFile)
		if err != nil {
			return nil, fmt.Errorf("certs: step-ca password: %w", err)
		}
		pw, _, _ = bytes.Cut(b, []byte("\n"))
		pw = bytes.TrimSuffix(pw, []byte("\r"))
	}
	return LoadStepCAKey(data, pw)
}

// LoadPEMCertificate reads the first certificate of a PEM file.
func LoadPEMCertificate(file string) (*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("%s holds no PEM certificate", file)
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}
