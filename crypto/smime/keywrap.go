package smime

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"hash"
)

// AES key wrap (RFC 3394) with the default initial value, as CMS uses it
// for key agreement recipients (RFC 3565, RFC 5753).

var keyWrapIV = [8]byte{0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6}

var errKeyWrap = errors.New("smime: key unwrap failed")

// aesKeyWrap wraps key (a multiple of 8 octets, at least 16) under kek.
func aesKeyWrap(kek, key []byte) ([]byte, error) {
	if len(key) < 16 || len(key)%8 != 0 {
		return nil, errors.New("smime: key wrap: key length must be a multiple of 8, at least 16")
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	n := len(key) / 8
	out := make([]byte, 8+len(key))
	copy(out[8:], key)
	var a [8]byte = keyWrapIV
	var buf [16]byte
	for j := 0; j < 6; j++ {
		for i := 1; i <= n; i++ {
			copy(buf[:8], a[:])
			copy(buf[8:], out[8*i:8*i+8])
			block.Encrypt(buf[:], buf[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(a[:], binary.BigEndian.Uint64(buf[:8])^t)
			copy(out[8*i:], buf[8:])
		}
	}
	copy(out[:8], a[:])
	return out, nil
}

// aesKeyUnwrap reverses aesKeyWrap and checks the integrity value.
func aesKeyUnwrap(kek, wrapped []byte) ([]byte, error) {
	if len(wrapped) < 24 || len(wrapped)%8 != 0 {
		return nil, errKeyWrap
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, errKeyWrap
	}
	n := len(wrapped)/8 - 1
	r := make([]byte, len(wrapped))
	copy(r, wrapped)
	var a [8]byte
	copy(a[:], r[:8])
	var buf [16]byte
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(buf[:8], binary.BigEndian.Uint64(a[:])^t)
			copy(buf[8:], r[8*i:8*i+8])
			block.Decrypt(buf[:], buf[:])
			copy(a[:], buf[:8])
			copy(r[8*i:], buf[8:])
		}
	}
	if subtle.ConstantTimeCompare(a[:], keyWrapIV[:]) != 1 {
		return nil, errKeyWrap
	}
	return r[8:], nil
}

// x963KDF derives size octets from the shared secret z and sharedInfo
// (ANSI X9.63 as used by RFC 5753: Hash(Z || counter || SharedInfo)).
func x963KDF(h func() hash.Hash, z, sharedInfo []byte, size int) []byte {
	var out []byte
	var ctr [4]byte
	for i := uint32(1); len(out) < size; i++ {
		binary.BigEndian.PutUint32(ctr[:], i)
		d := h()
		d.Write(z)
		d.Write(ctr[:])
		d.Write(sharedInfo)
		out = d.Sum(out)
	}
	return out[:size]
}
