package treat

import (
	"strings"
	"time"

	"github.com/smallstep/pkcs7"
)

// signedIntact reports whether the whole entity is an S/MIME signature
// (multipart/signed with a PKCS #7 signature, or opaque signed-data) whose
// every signer's signature matches the content. Only the mathematics is
// checked, with the certificates the signature carries: whether the signer
// is trusted is the verifier's question. An intact signature shows that
// nobody altered the content after it was signed — in particular no CBC
// gadget planted anything — since the signature could not be made without
// knowing the plaintext. It never panics (pkcs7 does on crafted input).
func signedIntact(e *Entity) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	mt, params, good := mediaType(fieldValue(e.Fields, "Content-Type"))
	if !good {
		return false
	}
	var p7 *pkcs7.PKCS7
	switch mt {
	case "multipart/signed":
		proto := strings.ToLower(params["protocol"])
		if proto != "application/pkcs7-signature" && proto != "application/x-pkcs7-signature" || params["boundary"] == "" {
			return false
		}
		parts, err := splitMultipart(e.Body, params["boundary"])
		if err != nil || len(parts) != 2 {
			return false
		}
		sf, sb, err := splitHeader(parts[1])
		if err != nil {
			return false
		}
		smt, _, _ := mediaType(fieldValue(sf, "Content-Type"))
		if smt != "application/pkcs7-signature" && smt != "application/x-pkcs7-signature" {
			return false
		}
		der := decodePart(fieldValue(sf, "Content-Transfer-Encoding"), sb)
		if p7, err = pkcs7.Parse(der); err != nil {
			return false
		}
		p7.Content = parts[0]
	case "application/pkcs7-mime", "application/x-pkcs7-mime":
		if !strings.EqualFold(params["smime-type"], "signed-data") {
			return false
		}
		der := decodePart(fieldValue(e.Fields, "Content-Transfer-Encoding"), e.Body)
		var err error
		if p7, err = pkcs7.Parse(der); err != nil || len(p7.Content) == 0 {
			return false
		}
	default:
		return false
	}
	if len(p7.Signers) == 0 {
		return false
	}
	return p7.VerifyWithChainAtTime(nil, time.Now()) == nil
}

// protectedSubject returns the Subject protected inside a decrypted entity
// (RFC 9788 header protection): the entity's own Subject when its
// Content-Type carries hp="cipher" (or Thunderbird's older
// protected-headers="v1"), else that of the first part of a multipart/signed
// (sign-then-encrypt puts the protected fields under the signature). The
// outer Subject of such mail is a placeholder ("..."); the decrypted
// message shows the real one. Other protected fields (From, To, Date, …)
// are not copied out: the outer ones stay what the transport saw and what
// the verifier compares against the signer.
func protectedSubject(raw []byte) []Field {
	for depth := 0; depth < 4; depth++ {
		fields, body, err := splitHeader(raw)
		if err != nil {
			return nil
		}
		mt, params, ok := mediaType(fieldValue(fields, "Content-Type"))
		if !ok {
			return nil
		}
		if params["hp"] != "" || params["protected-headers"] != "" {
			for _, f := range fields {
				if strings.EqualFold(strings.TrimSpace(f.Name), "Subject") {
					return []Field{{Name: "Subject", Value: strings.TrimSpace(f.Value)}}
				}
			}
			return nil
		}
		if mt != "multipart/signed" || params["boundary"] == "" {
			return nil
		}
		parts, err := splitMultipart(body, params["boundary"])
		if err != nil || len(parts) == 0 {
			return nil
		}
		raw = parts[0]
	}
	return nil
}
