package trust

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailseal/mailseal/crypto/smime"
	"github.com/mailseal/mailseal/revocation"
)

// Kinds of signed messages.
const (
	KindMultipartSigned = "multipart/signed"
	KindSignedData      = "signed-data"
)

// resultOf is the RFC 7281 result of each code.
var resultOf = map[string]Result{
	"malformed":             PermError,
	"type-mismatch":         PermError,
	"unsupported-algorithm": PermError,
	"revocation-unknown":    TempError,
	"internal":              TempError,
	"unsigned":              None,
	"not-smime":             None,
	"encrypted":             None,
	"partial":               Neutral,
}

// reasonOf is the sentence for each code; a detail may follow.
var reasonOf = map[string]string{
	"expired":               "The signer's certificate (or one above it) has expired.",
	"not-yet-valid":         "The signer's certificate (or one above it) is not valid yet.",
	"revoked":               "The signer's certificate has been revoked by its issuer.",
	"untrusted":             "The signer's certificate was not issued by an authority this gateway trusts.",
	"wrong-eku":             "The signer's certificate is not meant for signing e-mail (it lacks the e-mail protection usage).",
	"key-usage":             "The signer's certificate may not be used for signatures (key usage).",
	"weak-digest":           "The signature uses an outdated hash algorithm that can be forged (SHA-256 or stronger is required).",
	"weak-key":              "The signer's key is too weak (at least RSA 2048 bits or ECDSA P-256 is required).",
	"from-mismatch":         "The signer's certificate does not belong to the sender address in the From: field.",
	"bad-signature":         "The signature does not match the message: the message was changed after it was signed, or the signature is forged.",
	"content-mismatch":      "The signature carries a different text than the message shows.",
	"no-signer":             "The signature contains no signer.",
	"malformed":             "The signature or the message structure is damaged and cannot be checked.",
	"type-mismatch":         "The message declares a different kind of S/MIME content than it contains.",
	"unsupported-algorithm": "The signature uses an algorithm this gateway does not support.",
	"revocation-unknown":    "Whether the signer's certificate has been revoked could not be checked; it will be tried again.",
	"internal":              "The signature could not be checked because of an internal error; it will be tried again.",
	"partial":               "Only a part of the message is signed; the rest could have been added by anyone.",
	"unsigned":              "The message is not signed with S/MIME.",
	"not-smime":             "The message is signed with PGP/MIME, not S/MIME.",
	"encrypted":             "The message is encrypted; its signature, if any, cannot be seen.",
}

func resultFor(code string) Result {
	if r, ok := resultOf[code]; ok {
		return r
	}
	return Fail
}

func reason(code, detail string) string {
	r := reasonOf[code]
	if detail != "" {
		r = strings.TrimSuffix(r, ".") + " (" + detail + ")."
	}
	return r
}

func verdictOf(kind, code, detail string) *Verdict {
	return &Verdict{Result: resultFor(code), Kind: kind, Code: code, Reason: reason(code, detail)}
}

// VerifyMessage verifies the S/MIME signature of msg, a whole message
// (header and body, CRLF or LF line ends). It never panics. The rules are
// in docs/verification.md.
func (v *Verifier) VerifyMessage(ctx context.Context, msg []byte) (verdict *Verdict) {
	defer func() {
		if r := recover(); r != nil {
			verdict = verdictOf("", "internal", fmt.Sprint(r))
		}
	}()
	msg = canonicalCRLF(msg)
	top, err := parseEntity(msg)
	if err != nil {
		return verdictOf("", "malformed", err.Error())
	}
	from, fromErr := fromAddress(top)
	budget := maxEntities
	verdict, found := v.signedEntity(ctx, top, from, fromErr)
	if !found {
		verdict = v.findNested(ctx, top, 0, &budget, from, fromErr)
		if verdict == nil {
			verdict = verdictOf("", "unsigned", "")
		} else {
			inner := verdict
			detail := "the signed part itself is not valid: " + strings.TrimSuffix(inner.Reason, ".")
			if inner.Result == Pass {
				detail = "the signed part itself is valid"
			}
			verdict = &Verdict{Result: Neutral, Partial: true, Kind: inner.Kind, Code: "partial",
				Reason: reason("partial", detail), Signers: inner.Signers}
		}
	}
	if fromErr == nil {
		verdict.From = from
	}
	return verdict
}

// signedEntity verifies e when it is itself S/MIME signed. found is false
// when e is not a signed entity (its parts may hold one).
func (v *Verifier) signedEntity(ctx context.Context, e entity, from string, fromErr error) (*Verdict, bool) {
	mt, params, err := e.contentType()
	if err != nil {
		return verdictOf("", "malformed", err.Error()), true
	}
	switch mt {
	case "multipart/signed":
		proto := strings.ToLower(params["protocol"])
		switch proto {
		case "application/pkcs7-signature", "application/x-pkcs7-signature":
		case "application/pgp-signature":
			return verdictOf("", "not-smime", ""), true
		default:
			return verdictOf(KindMultipartSigned, "type-mismatch", fmt.Sprintf("multipart/signed with protocol %q", proto)), true
		}
		return v.detached(ctx, e, params["boundary"], from, fromErr), true
	case "application/pkcs7-mime", "application/x-pkcs7-mime":
		return v.opaque(ctx, e, strings.ToLower(params["smime-type"]), from, fromErr), true
	case "application/pkcs7-signature", "application/x-pkcs7-signature":
		return verdictOf(KindSignedData, "type-mismatch", "a signature part without the message it signs"), true
	}
	return nil, false
}

// findNested looks for a signed entity inside multiparts and attached
// messages and returns its verdict (nil when there is none).
func (v *Verifier) findNested(ctx context.Context, e entity, depth int, budget *int, from string, fromErr error) *Verdict {
	if depth > maxDepth || *budget <= 0 {
		return nil
	}
	*budget--
	if depth > 0 {
		if vd, found := v.signedEntity(ctx, e, from, fromErr); found {
			return vd
		}
	}
	mt, params, err := e.contentType()
	if err != nil {
		return nil
	}
	var children [][]byte
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		if children, err = splitMultipart(e.body, params["boundary"], *budget); err != nil {
			return nil
		}
	case mt == "message/rfc822" || mt == "message/global":
		body, err := e.decodedBody()
		if err != nil {
			return nil
		}
		children = [][]byte{body}
	}
	for _, c := range children {
		ce, err := parseEntity(c)
		if err != nil {
			continue
		}
		if vd := v.findNested(ctx, ce, depth+1, budget, from, fromErr); vd != nil {
			return vd
		}
	}
	return nil
}

// detached verifies a multipart/signed entity.
func (v *Verifier) detached(ctx context.Context, e entity, boundary string, from string, fromErr error) *Verdict {
	parts, err := splitMultipart(e.body, boundary, 2)
	if err != nil {
		return verdictOf(KindMultipartSigned, "malformed", err.Error())
	}
	if len(parts) != 2 {
		return verdictOf(KindMultipartSigned, "malformed", fmt.Sprintf("multipart/signed with %d parts instead of 2", len(parts)))
	}
	sigPart, err := parseEntity(parts[1])
	if err != nil {
		return verdictOf(KindMultipartSigned, "malformed", err.Error())
	}
	mt, _, err := sigPart.contentType()
	if err != nil {
		return verdictOf(KindMultipartSigned, "malformed", err.Error())
	}
	if mt != "application/pkcs7-signature" && mt != "application/x-pkcs7-signature" {
		return verdictOf(KindMultipartSigned, "type-mismatch", fmt.Sprintf("the signature part is %s", mt))
	}
	der, err := sigPart.decodedBody()
	if err != nil {
		return verdictOf(KindMultipartSigned, "malformed", err.Error())
	}
	sd, err := smime.ParseSignedData(der)
	if err != nil {
		return cmsError(KindMultipartSigned, err)
	}
	content := parts[0]
	if !sd.Detached && !bytes.Equal(sd.Content, content) {
		// What a client shows (the first part) must be what was signed;
		// the embedded copy may verify while the part does not.
		return verdictOf(KindMultipartSigned, "content-mismatch", "")
	}
	return v.verifySigned(ctx, KindMultipartSigned, sd, content, from, fromErr)
}

// opaque verifies an application/pkcs7-mime entity.
func (v *Verifier) opaque(ctx context.Context, e entity, smimeType string, from string, fromErr error) *Verdict {
	der, err := e.decodedBody()
	if err != nil {
		return verdictOf(KindSignedData, "malformed", err.Error())
	}
	sd, err := smime.ParseSignedData(der)
	isSigned := err == nil
	switch smimeType {
	case "signed-data", "":
	case "enveloped-data", "authenveloped-data":
		if isSigned {
			return verdictOf(KindSignedData, "type-mismatch", fmt.Sprintf("smime-type %s holds signed data", smimeType))
		}
		return verdictOf("", "encrypted", "")
	case "certs-only":
		if isSigned && len(sd.Signers) == 0 {
			return verdictOf("", "unsigned", "it only carries certificates")
		}
		if isSigned {
			return verdictOf(KindSignedData, "type-mismatch", "smime-type certs-only holds a signature")
		}
		return verdictOf(KindSignedData, "malformed", err.Error())
	default:
		if isSigned {
			return verdictOf(KindSignedData, "type-mismatch", fmt.Sprintf("smime-type %s holds signed data", smimeType))
		}
		return verdictOf("", "unsigned", "smime-type "+smimeType)
	}
	if err != nil {
		if errors.Is(err, smime.ErrUnsupported) && smimeType == "signed-data" {
			return verdictOf(KindSignedData, "type-mismatch", "smime-type signed-data holds other content")
		}
		if smimeType == "" && errors.Is(err, smime.ErrUnsupported) {
			return verdictOf("", "encrypted", "")
		}
		return cmsError(KindSignedData, err)
	}
	if sd.Detached {
		return verdictOf(KindSignedData, "malformed", "signed-data without the signed content")
	}
	vd := v.verifySigned(ctx, KindSignedData, sd, nil, from, fromErr)
	vd.Content = sd.Content
	return vd
}

func cmsError(kind string, err error) *Verdict {
	if errors.Is(err, smime.ErrInternal) {
		return verdictOf(kind, "internal", err.Error())
	}
	return verdictOf(kind, "malformed", err.Error())
}

// verifySigned applies the signer rules. Every signer must be valid; at
// least one must be the From: address's (docs/verification.md).
func (v *Verifier) verifySigned(ctx context.Context, kind string, sd *smime.SignedData, content []byte, from string, fromErr error) *Verdict {
	if !sd.IsData() {
		return verdictOf(kind, "type-mismatch", fmt.Sprintf("content type %v instead of data", sd.ContentType))
	}
	if len(sd.Signers) == 0 {
		return verdictOf(kind, "no-signer", "")
	}
	vd := &Verdict{Kind: kind}
	worst := -1
	for i := range sd.Signers {
		s := v.checkSigner(ctx, sd, i, content)
		vd.Signers = append(vd.Signers, s)
		if s.Result != Pass && (worst < 0 || rank(s.Result) > rank(vd.Signers[worst].Result)) {
			worst = i
		}
	}
	if worst >= 0 {
		s := vd.Signers[worst]
		vd.Result, vd.Code, vd.Reason = s.Result, s.Code, s.Reason
		if len(vd.Signers) > 1 {
			vd.Reason = fmt.Sprintf("Signer %d of %d: %s", worst+1, len(vd.Signers), s.Reason)
		}
		return vd
	}
	if fromErr != nil {
		vd.Result, vd.Code, vd.Reason = Fail, "from-mismatch", reason("from-mismatch", fromErr.Error())
		return vd
	}
	matched := false
	for i := range vd.Signers {
		if slices.Contains(certEmails(vd.Signers[i].Cert), from) {
			vd.Signers[i].Email = from
			matched = true
		}
	}
	if !matched {
		var have []string
		for _, s := range vd.Signers {
			have = append(have, certEmails(s.Cert)...)
		}
		vd.Result, vd.Code = Fail, "from-mismatch"
		vd.Reason = reason("from-mismatch", fmt.Sprintf("From: is %s, the certificate is for %s", from, orNone(have)))
		return vd
	}
	vd.Result = Pass
	return vd
}

func orNone(a []string) string {
	if len(a) == 0 {
		return "no address"
	}
	return strings.Join(a, ", ")
}

// rank orders results by how bad they are for the message as a whole.
func rank(r Result) int {
	switch r {
	case Fail:
		return 3
	case PermError:
		return 2
	case TempError:
		return 1
	}
	return 0
}

// checkSigner verifies one signer: signature, strength, chain at the
// current time, usage, revocation. From: is checked by the caller.
func (v *Verifier) checkSigner(ctx context.Context, sd *smime.SignedData, i int, content []byte) Signer {
	si := sd.Signers[i]
	s := Signer{Cert: si.Cert, SigningTime: si.SigningTime, Digest: si.Digest, Algorithm: si.Algorithm,
		Capabilities: si.Capabilities}
	fail := func(code, detail string) Signer {
		s.Result, s.Code, s.Reason = resultFor(code), code, reason(code, detail)
		return s
	}
	// Strength first: Go refuses RSA keys under 1024 bits outright, which
	// would read as a broken signature instead of a weak key.
	if si.Cert != nil {
		if msg := weakKey(si.Cert); msg != "" {
			return fail("weak-key", msg)
		}
	}
	if err := sd.VerifySigner(i, content); err != nil {
		switch {
		case errors.Is(err, smime.ErrBadSignature):
			return fail("bad-signature", "")
		case errors.Is(err, smime.ErrNoSignerCertificate):
			return fail("untrusted", "the signer's certificate is not included")
		case errors.Is(err, smime.ErrUnsupported):
			if si.WeakDigest() && si.Hash != 0 {
				return fail("weak-digest", si.Digest)
			}
			return fail("unsupported-algorithm", err.Error())
		case errors.Is(err, smime.ErrInternal):
			return fail("internal", err.Error())
		}
		return fail("malformed", err.Error())
	}
	if si.WeakDigest() {
		return fail("weak-digest", si.Digest)
	}
	now := v.now()
	if now.Before(si.Cert.NotBefore) {
		return fail("not-yet-valid", "valid from "+si.Cert.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(si.Cert.NotAfter) {
		return fail("expired", "expired "+si.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if !slices.Contains(si.Cert.ExtKeyUsage, x509.ExtKeyUsageEmailProtection) {
		return fail("wrong-eku", "")
	}
	if ku := si.Cert.KeyUsage; ku != 0 && ku&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return fail("key-usage", "")
	}
	chain, code, detail := v.chain(ctx, si.Cert, sd.Certificates, now)
	if code != "" {
		return fail(code, detail)
	}
	s.Chain = chain
	for _, c := range chain[1:max(1, len(chain)-1)] {
		if msg := weakKey(c); msg != "" {
			return fail("weak-key", "intermediate "+c.Subject.CommonName+": "+msg)
		}
	}
	if v.mode == RevocationOff {
		s.Revocation.Problem = "revocation checking is off"
	} else {
		st, code, detail := v.revocation(ctx, chain)
		s.Revocation = st
		if code != "" {
			return fail(code, detail)
		}
	}
	s.Result = Pass
	return s
}

// weakKey says why a certificate's key is too weak, or "".
func weakKey(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Sprintf("RSA %d bits", k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return "ECDSA curve " + k.Curve.Params().Name
		}
	case ed25519.PublicKey:
	default:
		return fmt.Sprintf("key type %T", k)
	}
	return ""
}

// maxFetched bounds the intermediates fetched over AIA for one signer.
const maxFetched = 8

// chain builds the path from leaf to an anchor at now, fetching missing
// intermediates over AIA when the sender left them out.
func (v *Verifier) chain(ctx context.Context, leaf *x509.Certificate, included []*x509.Certificate, now time.Time) ([]*x509.Certificate, string, string) {
	inter := x509.NewCertPool()
	for _, c := range included {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: v.anchors, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}
	frontier := []*x509.Certificate{leaf}
	fetched := 0
	for {
		chains, err := leaf.Verify(opts)
		if err == nil {
			return chains[0], "", ""
		}
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) || v.checker == nil || fetched >= maxFetched || len(frontier) == 0 {
			code, detail := chainCode(err, now)
			return nil, code, detail
		}
		var next []*x509.Certificate
		for _, c := range frontier {
			if len(c.IssuingCertificateURL) == 0 {
				continue
			}
			issuers, ferr := v.checker.FetchIssuers(ctx, c)
			if ferr != nil {
				continue
			}
			for _, is := range issuers {
				if fetched < maxFetched {
					fetched++
					inter.AddCert(is)
					next = append(next, is)
				}
			}
		}
		if len(next) == 0 {
			code, detail := chainCode(err, now)
			return nil, code, detail
		}
		frontier = next
	}
}

func chainCode(err error, now time.Time) (string, string) {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) {
		switch inv.Reason {
		case x509.Expired:
			if inv.Cert != nil && now.Before(inv.Cert.NotBefore) {
				return "not-yet-valid", inv.Cert.Subject.CommonName
			}
			return "expired", inv.Detail
		case x509.IncompatibleUsage:
			return "wrong-eku", "an issuing certificate does not allow e-mail protection"
		}
		return "untrusted", err.Error()
	}
	var ins x509.InsecureAlgorithmError
	if errors.As(err, &ins) {
		return "weak-digest", err.Error()
	}
	var unk x509.UnknownAuthorityError
	if errors.As(err, &unk) {
		return "untrusted", ""
	}
	return "untrusted", err.Error()
}

// revocation checks every certificate of the chain but the anchor. The
// status returned is the worst found (the leaf's when all are good).
func (v *Verifier) revocation(ctx context.Context, chain []*x509.Certificate) (revocation.Status, string, string) {
	if len(chain) < 2 {
		return revocation.Status{Problem: "the signer's certificate is itself a trust anchor"}, "", ""
	}
	var leaf, unknown revocation.Status
	haveUnknown := false
	for i := 0; i+1 < len(chain); i++ {
		st := v.checker.Check(ctx, chain[i], chain[i+1])
		if i == 0 {
			leaf = st
		}
		switch st.State {
		case revocation.Revoked:
			who := "the signer's certificate"
			if i > 0 {
				who = "issuing certificate " + chain[i].Subject.CommonName
			}
			return st, "revoked", fmt.Sprintf("%s, revoked %s", who, st.RevokedAt.UTC().Format(time.RFC3339))
		case revocation.Unknown:
			if !haveUnknown {
				unknown, haveUnknown = st, true
				if i > 0 {
					unknown.Problem = chain[i].Subject.CommonName + ": " + st.Problem
				}
			}
		}
	}
	if !haveUnknown {
		return leaf, "", ""
	}
	if v.mode == RevocationRequire {
		return unknown, "revocation-unknown", unknown.Problem
	}
	return unknown, "", ""
}
