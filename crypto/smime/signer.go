package smime

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// DefaultMaxSize is the default limit for the body passed to Sign.
const DefaultMaxSize = 100 << 20

// Signer signs messages with one key and certificate. It is safe for
// concurrent use by multiple goroutines.
type Signer struct {
	key     crypto.Signer
	cert    *x509.Certificate
	chain   []*x509.Certificate
	now     func() time.Time
	rand    *lockedReader
	maxSize int64
}

// SignerOption configures a Signer.
type SignerOption func(*Signer)

// WithClock sets the clock used for the signingTime attribute and the
// certificate validity check (default time.Now).
func WithClock(now func() time.Time) SignerOption {
	return func(s *Signer) {
		if now != nil {
			s.now = now
		}
	}
}

// WithRand sets the randomness used for MIME boundaries (default
// crypto/rand.Reader). Calls are serialised, so r need not be safe for
// concurrent use. Signature randomness comes from the key's Sign method.
func WithRand(r io.Reader) SignerOption {
	return func(s *Signer) {
		if r != nil {
			s.rand = &lockedReader{r: r}
		}
	}
}

// WithMaxSize limits the size of the body Sign accepts (default
// DefaultMaxSize); n <= 0 means no limit.
func WithMaxSize(n int64) SignerOption {
	return func(s *Signer) { s.maxSize = n }
}

type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// NewSigner returns a Signer after checking everything that can be checked
// up front: the key matches the certificate; the key is RSA of at least
// 2048 bits or ECDSA on P-256 or P-384; the certificate may be used for
// S/MIME signing (extended key usage emailProtection or anyExtendedKeyUsage
// or none at all; key usage, if present, includes digitalSignature or
// nonRepudiation) and is valid now; chain (the issuing CA certificates,
// intermediates first, root last, may be empty) is in order, each
// certificate signed by the next.
func NewSigner(key crypto.Signer, cert *x509.Certificate, chain []*x509.Certificate, opts ...SignerOption) (*Signer, error) {
	if key == nil || cert == nil {
		return nil, errors.New("smime: key and certificate are required")
	}
	s := &Signer{
		key:     key,
		cert:    cert,
		chain:   slices.Clone(chain),
		now:     time.Now,
		rand:    &lockedReader{r: rand.Reader},
		maxSize: DefaultMaxSize,
	}
	for _, o := range opts {
		o(s)
	}
	if err := checkKey(key, cert); err != nil {
		return nil, err
	}
	if err := checkUsage(cert); err != nil {
		return nil, err
	}
	if err := s.checkValidity(s.now()); err != nil {
		return nil, err
	}
	issued := cert
	for i, ca := range s.chain {
		if ca == nil {
			return nil, fmt.Errorf("smime: chain certificate %d is nil", i)
		}
		if err := issued.CheckSignatureFrom(ca); err != nil {
			return nil, fmt.Errorf("smime: chain certificate %d (%q) did not issue %q: %w",
				i, ca.Subject.CommonName, issued.Subject.CommonName, err)
		}
		issued = ca
	}
	return s, nil
}

func checkKey(key crypto.Signer, cert *x509.Certificate) error {
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return errors.New("smime: private key does not match the certificate")
	}
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("smime: RSA key has %d bits, need at least 2048", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return fmt.Errorf("smime: ECDSA curve %s not supported, use P-256 or P-384", k.Curve.Params().Name)
		}
	default:
		return fmt.Errorf("smime: key type %T not supported, use RSA or ECDSA", cert.PublicKey)
	}
	return nil
}

func checkUsage(cert *x509.Certificate) error {
	if len(cert.ExtKeyUsage) > 0 || len(cert.UnknownExtKeyUsage) > 0 {
		if !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageEmailProtection) &&
			!slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageAny) {
			return errors.New("smime: certificate lacks the emailProtection extended key usage")
		}
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return errors.New("smime: certificate key usage allows neither digitalSignature nor nonRepudiation")
	}
	return nil
}

func (s *Signer) checkValidity(now time.Time) error {
	if now.Before(s.cert.NotBefore) || now.After(s.cert.NotAfter) {
		return fmt.Errorf("%w: %q valid %s to %s, now %s", ErrCertificateNotValid, s.cert.Subject.CommonName,
			s.cert.NotBefore.UTC().Format(time.RFC3339), s.cert.NotAfter.UTC().Format(time.RFC3339),
			now.UTC().Format(time.RFC3339))
	}
	return nil
}

// Certificate returns the signer certificate.
func (s *Signer) Certificate() *x509.Certificate { return s.cert }
