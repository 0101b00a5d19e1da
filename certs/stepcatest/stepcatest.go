// Package stepcatest runs a real smallstep step-ca on loopback for tests:
// it makes a root and an intermediate CA, a JWK provisioner whose x509
// template issues S/MIME certificates (emailProtection EKU, the e-mail
// SANs), writes ca.json and starts the step-ca binary that
// scripts/deps.d/30-step-ca.sh builds. Test helper only: the keys are made
// fresh and live in the given directory.
package stepcatest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// DefaultBinary is where scripts/deps.d/30-step-ca.sh installs step-ca.
const DefaultBinary = "/var/cache/mailseal-test/bin/step-ca"

// Provisioner is the JWK provisioner's name in ca.json.
const Provisioner = "mailseal"

// Template is the provisioner's x509 template: an S/MIME certificate for
// the token's e-mail SANs, key usage by key kind.
const Template = `{
	"subject": {"commonName": {{ toJson .Subject.CommonName }}},
	"sans": {{ toJson .SANs }},
{{- if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}
	"keyUsage": ["digitalSignature", "keyEncipherment"],
{{- else }}
	"keyUsage": ["digitalSignature", "keyAgreement"],
{{- end }}
	"extKeyUsage": ["emailProtection"],
	"basicConstraints": {"isCA": false}
}`

// Binary finds step-ca: $MAILSEAL_STEP_CA, DefaultBinary, then PATH.
func Binary() (string, error) {
	if p := os.Getenv("MAILSEAL_STEP_CA"); p != "" {
		return p, nil
	}
	if _, err := os.Stat(DefaultBinary); err == nil {
		return DefaultBinary, nil
	}
	if p, err := exec.LookPath("step-ca"); err == nil {
		return p, nil
	}
	return "", errors.New("step-ca not found: run scripts/deps.d/30-step-ca.sh (or set MAILSEAL_STEP_CA)")
}

// Options tune the CA.
type Options struct {
	// MaxDuration is the provisioner's maxTLSCertDuration; default 8760h.
	MaxDuration time.Duration
	// MinDuration is its minTLSCertDuration; default 1m.
	MinDuration time.Duration
}

// CA is one step-ca instance and its files.
type CA struct {
	Dir          string
	URL          string // https://127.0.0.1:PORT
	Root         *x509.Certificate
	RootFile     string // PEM
	KeyFile      string // the provisioner's private JWK, encrypted (JWE)
	PasswordFile string // its password
	PlainKeyFile string // the same key as a plain JWK
	Provisioner  string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	logFile string
}

// New writes a CA into dir (certificates, keys, ca.json) without starting
// it; Start needs the step-ca binary.
func New(dir string, o Options) (*CA, error) {
	if o.MaxDuration <= 0 {
		o.MaxDuration = 8760 * time.Hour
	}
	if o.MinDuration <= 0 {
		o.MinDuration = time.Minute
	}
	c := &CA{Dir: dir, Provisioner: Provisioner, logFile: filepath.Join(dir, "step-ca.log")}
	now := time.Now()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	root, err := makeCA(&x509.Certificate{Subject: pkix.Name{CommonName: "Test step-ca Root", Organization: []string{"mailseal tests"}}, MaxPathLen: 1}, nil, nil, rootKey, now)
	if err != nil {
		return nil, err
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	inter, err := makeCA(&x509.Certificate{Subject: pkix.Name{CommonName: "Test step-ca Intermediate", Organization: []string{"mailseal tests"}}, MaxPathLenZero: true}, root, rootKey, interKey, now)
	if err != nil {
		return nil, err
	}
	c.Root = root
	c.RootFile = filepath.Join(dir, "root.crt")
	interDER, err := x509.MarshalECPrivateKey(interKey)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"root.crt":         pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}),
		"intermediate.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter.Raw}),
		"intermediate.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: interDER}),
	}

	// The provisioner: a P-256 JWK, kid its thumbprint, as `step` makes it.
	provKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	jwk := jose.JSONWebKey{Key: provKey, Algorithm: string(jose.ES256), Use: "sig"}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	priv, err := jwk.MarshalJSON()
	if err != nil {
		return nil, err
	}
	pub, err := jwk.Public().MarshalJSON()
	if err != nil {
		return nil, err
	}
	pwBytes := make([]byte, 12)
	rand.Read(pwBytes)
	password := base64.RawURLEncoding.EncodeToString(pwBytes)
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.PBES2_HS256_A128KW, Key: []byte(password), PBES2Count: 10000},
		(&jose.EncrypterOptions{}).WithContentType("jwk+json"))
	if err != nil {
		return nil, err
	}
	obj, err := enc.Encrypt(priv)
	if err != nil {
		return nil, err
	}
	encrypted, err := obj.CompactSerialize()
	if err != nil {
		return nil, err
	}
	files["provisioner.jwe"] = []byte(encrypted)
	files["provisioner.password"] = []byte(password + "\n")
	files["provisioner.jwk"] = priv
	c.KeyFile = filepath.Join(dir, "provisioner.jwe")
	c.PasswordFile = filepath.Join(dir, "provisioner.password")
	c.PlainKeyFile = filepath.Join(dir, "provisioner.jwk")

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c.URL = "https://127.0.0.1:" + strconv.Itoa(port)
	cfg := map[string]any{
		"root":     filepath.Join(dir, "root.crt"),
		"crt":      filepath.Join(dir, "intermediate.crt"),
		"key":      filepath.Join(dir, "intermediate.key"),
		"address":  "127.0.0.1:" + strconv.Itoa(port),
		"dnsNames": []string{"127.0.0.1", "localhost"},
		"logger":   map[string]any{"format": "text"},
		"db":       map[string]any{"type": "badgerv2", "dataSource": filepath.Join(dir, "db")},
		"authority": map[string]any{
			"provisioners": []any{map[string]any{
				"type":         "JWK",
				"name":         Provisioner,
				"key":          json.RawMessage(pub),
				"encryptedKey": encrypted,
				"claims": map[string]any{
					"minTLSCertDuration":     o.MinDuration.String(),
					"maxTLSCertDuration":     o.MaxDuration.String(),
					"defaultTLSCertDuration": min(24*time.Hour, o.MaxDuration).String(),
				},
				"options": map[string]any{"x509": map[string]any{"template": Template}},
			}},
		},
		"tls": map[string]any{"minVersion": 1.2, "maxVersion": 1.3, "renegotiation": false},
	}
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	files["ca.json"] = js
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func makeCA(tmpl *x509.Certificate, parent *x509.Certificate, parentKey crypto.Signer, key *ecdsa.PrivateKey, now time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(10 * 365 * 24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	tmpl.BasicConstraintsValid = true
	tmpl.IsCA = true
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs step-ca and waits until /health answers (up to timeout).
func (c *CA) Start(timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return nil
	}
	bin, err := Binary()
	if err != nil {
		return err
	}
	log, err := os.OpenFile(c.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, filepath.Join(c.Dir, "ca.json"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "STEPPATH="+filepath.Join(c.Dir, "steppath"))
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start step-ca: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); log.Close(); close(done) }()
	c.cmd, c.done = cmd, done
	if err := c.waitHealthy(timeout, done); err != nil {
		c.stopLocked()
		logData, _ := os.ReadFile(c.logFile)
		return fmt.Errorf("step-ca did not come up: %w\n%s", err, tail(logData, 3000))
	}
	return nil
}

func (c *CA) waitHealthy(timeout time.Duration, done <-chan struct{}) error {
	pool := x509.NewCertPool()
	pool.AddCert(c.Root)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return errors.New("step-ca exited")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/health", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			cancel()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("/health: %s", resp.Status)
		} else {
			cancel()
			last = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("timeout after %s: %v", timeout, last)
}

// Stop ends step-ca (SIGKILL: the tests want it gone at once) and waits.
func (c *CA) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopLocked()
}

func (c *CA) stopLocked() {
	if c.cmd == nil {
		return
	}
	c.cmd.Process.Kill()
	<-c.done
	c.cmd, c.done = nil, nil
}

// Log returns the end of step-ca's log, for failure messages.
func (c *CA) Log() string {
	b, _ := os.ReadFile(c.logFile)
	return tail(b, 4000)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
