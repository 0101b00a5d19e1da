package smime

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
)

// This file holds the small ASN.1 toolkit of the encryption code: a reader
// for BER (what other clients send: Outlook and Thunderbird write
// indefinite lengths and chunked OCTET STRINGs, which encoding/asn1
// refuses) and a writer for DER (what we send).

// errBER is wrapped by every BER decoding error.
var errBER = errors.New("bad BER")

// maxBERDepth bounds nesting, so crafted input cannot exhaust the stack.
const maxBERDepth = 48

// ASN.1 classes as they appear in the identifier octet.
const (
	classUniversal = 0
	classContext   = 2
)

// berElem is one decoded TLV element.
type berElem struct {
	class    byte
	tag      int
	compound bool
	// content is the value octets; for an indefinite length, without the
	// end-of-contents octets.
	content []byte
	// full is the whole element as it was encoded (header, content, EOC).
	full []byte
}

func (e berElem) is(class byte, tag int) bool { return e.class == class && e.tag == tag }

// parseBER decodes b as exactly one element.
func parseBER(b []byte) (berElem, error) {
	e, rest, err := readElem(b, 0)
	if err != nil {
		return berElem{}, err
	}
	if len(rest) != 0 {
		return berElem{}, fmt.Errorf("%w: %d bytes after the element", errBER, len(rest))
	}
	return e, nil
}

// readElem decodes the element at the start of b and returns the rest.
func readElem(b []byte, depth int) (berElem, []byte, error) {
	if depth > maxBERDepth {
		return berElem{}, nil, fmt.Errorf("%w: nested too deep", errBER)
	}
	if len(b) < 2 {
		return berElem{}, nil, fmt.Errorf("%w: truncated element", errBER)
	}
	e := berElem{class: b[0] >> 6, compound: b[0]&0x20 != 0, tag: int(b[0] & 0x1f)}
	i := 1
	if e.tag == 0x1f { // high tag number, base 128
		e.tag = 0
		for {
			if i >= len(b) || i > 4 {
				return berElem{}, nil, fmt.Errorf("%w: bad tag", errBER)
			}
			c := b[i]
			i++
			e.tag = e.tag<<7 | int(c&0x7f)
			if c&0x80 == 0 {
				break
			}
		}
	}
	if i >= len(b) {
		return berElem{}, nil, fmt.Errorf("%w: truncated length", errBER)
	}
	l := b[i]
	i++
	switch {
	case l < 0x80:
		return definite(b, i, int(l), e)
	case l == 0x80:
		if !e.compound {
			return berElem{}, nil, fmt.Errorf("%w: indefinite length on a primitive", errBER)
		}
		start, rest := i, b[i:]
		for {
			if len(rest) >= 2 && rest[0] == 0 && rest[1] == 0 {
				end := len(b) - len(rest)
				e.content = b[start:end]
				e.full = b[:end+2]
				return e, rest[2:], nil
			}
			var err error
			if _, rest, err = readElem(rest, depth+1); err != nil {
				return berElem{}, nil, err
			}
		}
	case l > 0x84:
		return berElem{}, nil, fmt.Errorf("%w: length of %d octets", errBER, l&0x7f)
	default:
		n := int(l & 0x7f)
		if i+n > len(b) {
			return berElem{}, nil, fmt.Errorf("%w: truncated length", errBER)
		}
		v := 0
		for _, c := range b[i : i+n] {
			v = v<<8 | int(c)
		}
		return definite(b, i+n, v, e)
	}
}

func definite(b []byte, start, n int, e berElem) (berElem, []byte, error) {
	if n < 0 || n > len(b)-start {
		return berElem{}, nil, fmt.Errorf("%w: length %d exceeds the data", errBER, n)
	}
	e.content = b[start : start+n]
	e.full = b[:start+n]
	return e, b[start+n:], nil
}

// maxChildren bounds the elements of one SEQUENCE or SET (recipients,
// attributes, capabilities), so crafted input cannot make us decode
// millions of them.
const maxChildren = 4096

// children decodes the elements inside a constructed element.
func children(e berElem) ([]berElem, error) {
	if !e.compound {
		return nil, fmt.Errorf("%w: expected a constructed element", errBER)
	}
	var out []berElem
	for rest := e.content; len(rest) > 0; {
		if len(out) == maxChildren {
			return nil, fmt.Errorf("%w: more than %d elements", errBER, maxChildren)
		}
		var c berElem
		var err error
		if c, rest, err = readElem(rest, 1); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// sequence decodes a universal SEQUENCE and checks it has at least min
// elements.
func sequence(e berElem, min int) ([]berElem, error) {
	if !e.is(classUniversal, asn1.TagSequence) {
		return nil, fmt.Errorf("%w: expected a SEQUENCE", errBER)
	}
	c, err := children(e)
	if err != nil {
		return nil, err
	}
	if len(c) < min {
		return nil, fmt.Errorf("%w: SEQUENCE of %d elements, want at least %d", errBER, len(c), min)
	}
	return c, nil
}

// explicit unwraps a context-specific [tag] EXPLICIT element.
func explicit(e berElem, tag int) (berElem, error) {
	if !e.is(classContext, tag) {
		return berElem{}, fmt.Errorf("%w: expected [%d]", errBER, tag)
	}
	c, err := children(e)
	if err != nil {
		return berElem{}, err
	}
	if len(c) != 1 {
		return berElem{}, fmt.Errorf("%w: [%d] holds %d elements", errBER, tag, len(c))
	}
	return c[0], nil
}

// octets returns the value of an OCTET STRING (or of an implicitly tagged
// one), joining the segments of the constructed form.
func octets(e berElem) ([]byte, error) {
	return joinOctets(e, 0)
}

func joinOctets(e berElem, depth int) ([]byte, error) {
	if !e.compound {
		return e.content, nil
	}
	if depth > 8 {
		return nil, fmt.Errorf("%w: OCTET STRING segments nested too deep", errBER)
	}
	// Walk the segments in place: a crafted message of millions of empty
	// segments must not become millions of decoded elements.
	var out []byte
	for rest := e.content; len(rest) > 0; {
		var s berElem
		var err error
		if s, rest, err = readElem(rest, 1); err != nil {
			return nil, err
		}
		if !s.is(classUniversal, asn1.TagOctetString) {
			return nil, fmt.Errorf("%w: OCTET STRING segment of another type", errBER)
		}
		v, err := joinOctets(s, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, v...)
	}
	return out, nil
}

// universalOctets checks the element is an OCTET STRING and returns it.
func universalOctets(e berElem) ([]byte, error) {
	if !e.is(classUniversal, asn1.TagOctetString) {
		return nil, fmt.Errorf("%w: expected an OCTET STRING", errBER)
	}
	return octets(e)
}

func oidOf(e berElem) (asn1.ObjectIdentifier, error) {
	if !e.is(classUniversal, asn1.TagOID) || e.compound {
		return nil, fmt.Errorf("%w: expected an OBJECT IDENTIFIER", errBER)
	}
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(tlv(asn1.TagOID, e.content), &oid); err != nil {
		return nil, fmt.Errorf("%w: %v", errBER, err)
	}
	return oid, nil
}

func integerOf(e berElem) (*big.Int, error) {
	if !e.is(classUniversal, asn1.TagInteger) || e.compound {
		return nil, fmt.Errorf("%w: expected an INTEGER", errBER)
	}
	var n *big.Int
	if _, err := asn1.Unmarshal(tlv(asn1.TagInteger, e.content), &n); err != nil {
		return nil, fmt.Errorf("%w: %v", errBER, err)
	}
	return n, nil
}

// algorithm is a decoded AlgorithmIdentifier.
type algorithm struct {
	oid    asn1.ObjectIdentifier
	params *berElem // nil when absent
	full   []byte
}

func algorithmOf(e berElem) (algorithm, error) {
	c, err := sequence(e, 1)
	if err != nil {
		return algorithm{}, err
	}
	if len(c) > 2 {
		return algorithm{}, fmt.Errorf("%w: AlgorithmIdentifier of %d elements", errBER, len(c))
	}
	oid, err := oidOf(c[0])
	if err != nil {
		return algorithm{}, err
	}
	a := algorithm{oid: oid, full: e.full}
	if len(c) == 2 && !c[1].is(classUniversal, asn1.TagNull) {
		a.params = &c[1]
	}
	return a, nil
}

// --- DER writing ---

// appendHeader appends the identifier and definite length octets of an
// element with n content octets.
func appendHeader(dst []byte, tag byte, n int) []byte {
	dst = append(dst, tag)
	switch {
	case n < 0x80:
		return append(dst, byte(n))
	case n < 1<<8:
		return append(dst, 0x81, byte(n))
	case n < 1<<16:
		return append(dst, 0x82, byte(n>>8), byte(n))
	case n < 1<<24:
		return append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		return append(dst, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// headerLen is the size of appendHeader's output for n content octets.
func headerLen(n int) int { return len(appendHeader(nil, 0, n)) }

// tlv encodes one element from its content parts.
func tlv(tag byte, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := appendHeader(make([]byte, 0, n+6), tag, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// DER identifier octets used by the writer.
const (
	tagSequence    = 0x30
	tagSet         = 0x31
	tagOctetString = 0x04
	tagBitString   = 0x03
)

func derOID(oid asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(oid)
	if err != nil {
		panic("smime: encoding OID " + oid.String() + ": " + err.Error()) // static OIDs only
	}
	return b
}

func derInt(n int) []byte {
	b, _ := asn1.Marshal(n) // an int always encodes
	return b
}

// derAlgorithm encodes an AlgorithmIdentifier; params nil means absent.
func derAlgorithm(oid asn1.ObjectIdentifier, params []byte) []byte {
	return tlv(tagSequence, derOID(oid), params)
}

// derSetOf encodes a SET OF, sorting the elements as DER requires.
func derSetOf(elems [][]byte) []byte {
	sorted := make([][]byte, len(elems))
	copy(sorted, elems)
	for i := 1; i < len(sorted); i++ {
		for j := i; j > 0 && bytes.Compare(sorted[j-1], sorted[j]) > 0; j-- {
			sorted[j-1], sorted[j] = sorted[j], sorted[j-1]
		}
	}
	return tlv(tagSet, sorted...)
}

// toDER re-encodes a decoded BER element in DER: definite lengths, OCTET
// STRING segments joined, and the elements of every SET sorted. Signers
// sign the DER of their signed attributes; a few send them in BER, which
// must be turned back into what was signed.
func toDER(e berElem, depth int) ([]byte, error) {
	if depth > maxBERDepth {
		return nil, fmt.Errorf("%w: nested too deep", errBER)
	}
	if !e.compound {
		return appendIdentified(nil, e.class, false, e.tag, e.content), nil
	}
	if e.is(classUniversal, asn1.TagOctetString) {
		v, err := octets(e)
		if err != nil {
			return nil, err
		}
		return appendIdentified(nil, e.class, false, e.tag, v), nil
	}
	kids, err := children(e)
	if err != nil {
		return nil, err
	}
	enc := make([][]byte, len(kids))
	for i, k := range kids {
		if enc[i], err = toDER(k, depth+1); err != nil {
			return nil, err
		}
	}
	if e.is(classUniversal, asn1.TagSet) {
		slices.SortFunc(enc, bytes.Compare)
	}
	return appendIdentified(nil, e.class, true, e.tag, bytes.Join(enc, nil)), nil
}

// appendIdentified appends an element with any class and tag number.
func appendIdentified(dst []byte, class byte, compound bool, tag int, content []byte) []byte {
	id := class << 6
	if compound {
		id |= 0x20
	}
	if tag < 0x1f {
		dst = appendHeader(dst, id|byte(tag), len(content))
	} else {
		var t []byte
		for v := tag; ; v >>= 7 {
			t = append([]byte{byte(v & 0x7f)}, t...)
			if v < 0x80 {
				break
			}
		}
		for i := 0; i < len(t)-1; i++ {
			t[i] |= 0x80
		}
		// appendHeader writes one identifier octet; put ours in front.
		h := appendHeader(nil, id|0x1f, len(content))
		dst = append(dst, h[0])
		dst = append(dst, t...)
		dst = append(dst, h[1:]...)
	}
	return append(dst, content...)
}
