package certs

import (
	"errors"
	"fmt"
)

// ErrNotFound is returned when a certificate, CA or other record does not exist.
var ErrNotFound = errors.New("certs: not found")

// ErrNoCRL is returned by Manager.CRL when the issuer cannot sign CRLs.
var ErrNoCRL = errors.New("certs: issuer does not publish CRLs")

// temporaryError marks a failure that may go away when retried later
// (issuer unreachable, store busy). Callers map it to a 4xx SMTP reply.
type temporaryError struct{ err error }

func (e *temporaryError) Error() string   { return e.err.Error() }
func (e *temporaryError) Unwrap() error   { return e.err }
func (e *temporaryError) Temporary() bool { return true }

// temporary wraps err so that IsTemporary reports true for it. A nil err stays nil.
func temporary(err error) error {
	if err == nil {
		return nil
	}
	return &temporaryError{err: err}
}

// temporaryf formats an error like fmt.Errorf and marks it temporary.
func temporaryf(format string, args ...any) error {
	return temporary(fmt.Errorf(format, args...))
}

// IsTemporary reports whether err, or any error it wraps, is temporary: the
// operation may succeed when retried later.
func IsTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}
