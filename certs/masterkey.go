package certs

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

const masterKeyLen = 32

// loadMasterKey reads the master key file. When the file does not exist and
// create is true, it writes a new 0600 file with 32 random bytes. The file
// must not be accessible by group or others and must hold 32 raw bytes or
// their standard base64 encoding.
func loadMasterKey(path string, create bool, rand io.Reader) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		if !create {
			return nil, fmt.Errorf("certs: master key file %s is missing but the store already holds sealed keys; restore it or set the master key", path)
		}
		return createMasterKey(path, rand)
	}
	if err != nil {
		return nil, fmt.Errorf("certs: open master key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("certs: stat master key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("certs: master key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("certs: master key %s has mode %04o: it must not be accessible by group or others (chmod 600)", path, perm)
	}
	raw, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("certs: read master key: %w", err)
	}
	key, err := decodeMasterKey(raw)
	if err != nil {
		return nil, fmt.Errorf("certs: master key %s: %w", path, err)
	}
	return key, nil
}

// decodeMasterKey accepts 32 raw bytes or standard base64 of 32 bytes
// (surrounding white space ignored).
func decodeMasterKey(raw []byte) ([]byte, error) {
	if len(raw) == masterKeyLen {
		return raw, nil
	}
	txt := bytes.TrimSpace(raw)
	key := make([]byte, base64.StdEncoding.DecodedLen(len(txt)))
	n, err := base64.StdEncoding.Decode(key, txt)
	if err != nil || n != masterKeyLen {
		return nil, fmt.Errorf("want %d raw bytes or their base64 encoding, got %d bytes", masterKeyLen, len(raw))
	}
	return key[:n], nil
}

// DecodeMasterKey decodes a master key given as base64 text (for example the
// MAILSEAL_MASTER_KEY environment variable) into the 32 bytes Options.MasterKey wants.
func DecodeMasterKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(key) != masterKeyLen {
		return nil, fmt.Errorf("certs: master key: want standard base64 of %d bytes", masterKeyLen)
	}
	return key, nil
}

func createMasterKey(path string, rand io.Reader) ([]byte, error) {
	key := make([]byte, masterKeyLen)
	if _, err := io.ReadFull(rand, key); err != nil {
		return nil, fmt.Errorf("certs: generate master key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("certs: create master key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("certs: write master key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("certs: write master key: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("certs: write master key: %w", err)
	}
	return key, nil
}
