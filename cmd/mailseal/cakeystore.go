package main

import (
	"io"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/certs/hsm"
	"github.com/mailseal/mailseal/config"
)

// openCAKeyStore opens the PKCS#11 token of ca.pkcs11.*, or returns nil
// when the CA key is sealed in the store. In a build without the pkcs11 tag
// config validation has already refused ca.pkcs11.module (exit 2).
func openCAKeyStore(cfg *config.Config) (certs.CAKeyStore, error) {
	p := cfg.CA.PKCS11
	if !p.Enabled() {
		return nil, nil
	}
	tok, err := hsm.Open(hsm.Config{
		Module: p.Module, TokenLabel: p.TokenLabel, Slot: p.Slot,
		PINFile: p.PINFile, KeyLabel: p.KeyLabel, KeyID: p.KeyID,
	})
	if err != nil {
		return nil, err
	}
	return tok, nil
}

// closeCAKeyStore releases a key store Open did not take over.
func closeCAKeyStore(ks certs.CAKeyStore) {
	if c, ok := ks.(io.Closer); ok {
		_ = c.Close()
	}
}
