package certs

import (
	"fmt"
	"time"
)

// MaxKeyFileSize bounds a key or certificate file given to an import.
const MaxKeyFileSize = 4 << 20

// ImportOptions say where imported keys come from and how far they are
// trusted. Zero values mean ProvenanceImported and TrustUnverified.
type ImportOptions struct {
	Provenance Provenance
	Trust      TrustLevel
}

func (o ImportOptions) withDefaults() ImportOptions {
	if o.Provenance == "" {
		o.Provenance = ProvenanceImported
	}
	if o.Trust == "" {
		o.Trust = TrustUnverified
	}
	return o
}

// ImportedKey is one certificate or key an import stored.
type ImportedKey struct {
	Fingerprint string
	Emails      []string
	NotAfter    time.Time // zero: does not expire
}

// ImportResult tells what an import of one file did. Rejected holds one
// *ImportError per certificate or key refused (or one for the whole file).
type ImportResult struct {
	Stored   []ImportedKey
	Skipped  []string // notes on what was left out on purpose (CA certificates)
	Rejected []*ImportError
}

// ImportError says which file (and which certificate or key in it) was
// refused, and why.
type ImportError struct {
	File   string
	Item   string // the certificate's subject or the key's fingerprint; "" for the whole file
	Reason string
}

func (e *ImportError) Error() string {
	if e.Item == "" {
		return fmt.Sprintf("certs: import %s: %s", e.File, e.Reason)
	}
	return fmt.Sprintf("certs: import %s: %s: %s", e.File, e.Item, e.Reason)
}

func (r *ImportResult) reject(file, item, format string, args ...any) {
	r.Rejected = append(r.Rejected, &ImportError{File: file, Item: item, Reason: fmt.Sprintf(format, args...)})
}
