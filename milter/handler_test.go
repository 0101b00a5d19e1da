package milter

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	gomessage "github.com/emersion/go-message"
	"github.com/smallstep/pkcs7"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/policy"
	"github.com/mailseal/mailseal/reinject"
)

const testAuthserv = "mx.corp.example"

var (
	trustedIP   = netip.MustParseAddr("10.1.2.3")
	untrustedIP = netip.MustParseAddr("203.0.113.5")
)

// openIdentities opens a real certificate manager with a fast key type.
func openIdentities(t testing.TB, dir string) *certs.Manager {
	t.Helper()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	m, err := certs.Open(context.Background(), certs.Options{StateDir: dir, KeyType: certs.KeyECDSAP256})
	if err != nil {
		t.Fatalf("certs.Open: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// testSettings compiles spec with corp.example internal and 10/8 trusted.
func testSettings(t testing.TB, spec policy.Spec) *Settings {
	t.Helper()
	eng, problems := policy.Compile(spec)
	if problems != nil {
		t.Fatalf("policy.Compile: %v", problems)
	}
	return &Settings{
		Policy: policy.Settings{
			InternalDomains: []string{"corp.example"},
			TrustedNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
			Sign:            policy.SignAlways,
		},
		Engine:     eng,
		AuthservID: testAuthserv,
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fakeReinjector records the copies it is given and fails for the
// recipients in fail.
type fakeReinjector struct {
	mu   sync.Mutex
	fail map[string]bool
	sent []sentCopy
}

type sentCopy struct {
	from  string
	rcpts []string
	env   reinject.Envelope
	msg   []byte
}

func (f *fakeReinjector) Send(_ context.Context, env reinject.Envelope, msg []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var rcpts []string
	for _, r := range env.Rcpts {
		if f.fail[r.Addr] {
			return fmt.Errorf("fake reinject: %s deferred", r.Addr)
		}
		rcpts = append(rcpts, r.Addr)
	}
	f.sent = append(f.sent, sentCopy{from: env.From, rcpts: rcpts, env: env, msg: slices.Clone(msg)})
	return nil
}

func (f *fakeReinjector) copies() []sentCopy {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

func (f *fakeReinjector) setFail(rcpts ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = map[string]bool{}
	for _, r := range rcpts {
		f.fail[r] = true
	}
}

const plainBody = "Hello Bob,\r\n\r\nGr\xc3\xbc\xc3\x9fe aus dem B\xc3\xbcro.\r\n-- \r\nAlice\r\n"

// baseHeaders is an ordinary message from alice to bob, as Postfix shows it.
func baseHeaders() []Header {
	return []Header{
		{"Received", "from client.corp.example (client.corp.example [10.1.2.3])\n\tby mx.corp.example (Postfix) with ESMTP id 4ABC123\n\tfor <bob@partner.example>; Mon,  6 Jan 2025 10:00:00 +0100 (CET)"},
		{"From", "Alice Example <alice@corp.example>"},
		{"To", "Bob <bob@partner.example>"},
		{"Subject", "Quarterly figures"},
		{"Date", "Mon, 6 Jan 2025 10:00:00 +0100"},
		{"Message-ID", "<m1@corp.example>"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "8bit"},
	}
}

// newTx builds an authorised transaction (trusted network, no AUTH).
func newTx(headers []Header, body string, rcpts ...string) *Transaction {
	if len(rcpts) == 0 {
		rcpts = []string{"bob@partner.example"}
	}
	return &Transaction{
		QueueID: "4ABC123",
		Client:  Client{Addr: trustedIP, Hostname: "client.corp.example"},
		From:    "alice@corp.example",
		Rcpts:   rcpts,
		Headers: headers,
		body:    bytes.NewReader([]byte(body)),
	}
}

func setHeader(hs []Header, name, value string) []Header {
	out := slices.Clone(hs)
	for i := range out {
		if strings.EqualFold(out[i].Name, name) {
			out[i].Value = value
			return out
		}
	}
	return append(out, Header{name, value})
}

func unfoldValue(v string) string {
	return strings.NewReplacer("\r\n", "", "\n", "").Replace(v)
}

func findHeader(hs []Header, name string) (Header, bool) {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return h, true
		}
	}
	return Header{}, false
}

// verifySigned checks a multipart/signed entity (its Content-Type value and
// body) with pkcs7 against the manager's CA and returns the signed content.
func verifySigned(t testing.TB, ids *certs.Manager, contentType string, body []byte, signer string) []byte {
	t.Helper()
	content, der, err := splitMultipartSigned(contentType, body)
	if err != nil {
		t.Fatalf("signed body: %v\n%s", err, body)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		t.Fatalf("pkcs7 parse: %v", err)
	}
	p7.Content = content
	roots := x509.NewCertPool()
	roots.AddCert(ids.CACertificate())
	if err := p7.VerifyWithChainAtTime(roots, time.Now()); err != nil {
		t.Fatalf("pkcs7 verify: %v", err)
	}
	if s := p7.GetOnlySigner(); s == nil || !slices.Contains(s.EmailAddresses, signer) {
		t.Fatalf("signer certificate is not for %s", signer)
	}
	bad := bytes.Clone(content)
	bad[len(bad)/2] ^= 1
	p7.Content = bad
	if err := p7.VerifyWithChainAtTime(roots, time.Now()); err == nil {
		t.Fatal("signature verifies over altered content")
	}
	return content
}

func splitMultipartSigned(contentType string, body []byte) (content, der []byte, err error) {
	mt, params, err := mime.ParseMediaType(unfoldValue(contentType))
	if err != nil {
		return nil, nil, fmt.Errorf("content type %q: %v", contentType, err)
	}
	if mt != "multipart/signed" || params["protocol"] != "application/pkcs7-signature" || params["boundary"] == "" {
		return nil, nil, fmt.Errorf("content type %q", contentType)
	}
	open := []byte("\r\n--" + params["boundary"] + "\r\n")
	b := append([]byte("\r\n"), body...)
	i := bytes.Index(b, open)
	if i < 0 {
		return nil, nil, errors.New("no first delimiter")
	}
	rest := b[i+len(open):]
	j := bytes.Index(rest, open)
	if j < 0 {
		return nil, nil, errors.New("no second delimiter")
	}
	content, sig := rest[:j], rest[j+len(open):]
	k := bytes.Index(sig, []byte("\r\n--"+params["boundary"]+"--"))
	h := bytes.Index(sig, []byte("\r\n\r\n"))
	if k < 0 || h < 0 || h > k {
		return nil, nil, errors.New("malformed signature part")
	}
	der, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(sig[h+4:k])), ""))
	return content, der, err
}

// leafText decodes the first leaf of a MIME entity with go-message.
func leafText(t testing.TB, entity []byte) string {
	t.Helper()
	e, err := gomessage.Read(bytes.NewReader(entity))
	if err != nil {
		t.Fatalf("go-message: %v\n%s", err, entity)
	}
	var out string
	err = e.Walk(func(_ []int, part *gomessage.Entity, err error) error {
		if err != nil || part.MultipartReader() != nil || out != "" {
			return err
		}
		b, err := io.ReadAll(part.Body)
		out = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// splitMessage splits a rendered message into its unfolded header fields
// (name, raw value with folding) and body.
func splitMessage(t testing.TB, msg []byte) ([]Header, []byte) {
	t.Helper()
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if end < 0 {
		t.Fatalf("no header end:\n%s", msg)
	}
	var hs []Header
	for _, line := range strings.Split(string(msg[:end]), "\r\n") {
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			hs[len(hs)-1].Value += "\r\n" + line
			continue
		}
		name, value, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("bad header line %q", line)
		}
		hs = append(hs, Header{name, value})
	}
	return hs, msg[end+4:]
}

func newProcessor(t testing.TB, set *Settings, ids Identities, re Reinjector, opts ...ProcessorOption) *Processor {
	t.Helper()
	if re == nil {
		return NewProcessor(set, ids, nil, discardLogger(), opts...)
	}
	return NewProcessor(set, ids, re, discardLogger(), opts...)
}

// forgedHeaders is baseHeaders with verdicts an outsider wrote in between.
func forgedHeaders() []Header {
	return []Header{
		{"Received", "from x by mx.corp.example (Postfix) with ESMTP id 4ABC123"},
		{"X-Mailseal-Trace", "mx.corp.example; signed; signer=ceo@corp.example"},
		{"Authentication-Results", "mx.corp.example; dkim=pass header.d=corp.example"},
		{"Authentication-Results", "other.example; spf=pass smtp.mailfrom=partner.example"},
		{"x-mailseal-trace", "second forged"},
		{"X-MAILSEAL", "bare"},
		{"Authentication-Results", "MX.CORP.EXAMPLE 1; spf=pass"},
		{"From", "Alice Example <alice@corp.example>"},
		{"Authentication-Results", "\n\tmx.corp.example;\n\tdkim=pass"},
		{"X-Mailseal-Verdict", "trusted"},
		{"X-Mailsealed", "not ours"},
		{"Authentication-Results", "mx.corp.example.evil; dkim=pass"},
		{"To", "Bob <bob@partner.example>"},
		{"Subject", "Quarterly figures"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "8bit"},
	}
}

var forgedRefs = []HeaderRef{
	{"X-Mailseal-Trace", 1},
	{"Authentication-Results", 1},
	{"x-mailseal-trace", 2},
	{"X-MAILSEAL", 1},
	{"Authentication-Results", 3},
	{"Authentication-Results", 4},
	{"X-Mailseal-Verdict", 1},
}

func TestHandleStripsForgedHeaders(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	p := newProcessor(t, testSettings(t, policy.DefaultSpec()), ids, nil)
	content := []HeaderRef{{"MIME-Version", 1}, {"Content-Type", 1}, {"Content-Transfer-Encoding", 1}}
	cases := []struct {
		name       string
		client     netip.Addr
		wantDel    []HeaderRef
		wantAction string
	}{
		{"inbound", untrustedIP, forgedRefs, "none"},
		{"outbound signed", trustedIP, append(slices.Clone(forgedRefs), content...), "signed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tx := newTx(forgedHeaders(), plainBody)
			tx.Client.Addr = tc.client
			res := p.Handle(context.Background(), tx)
			if !res.Reply.Accepted() || res.Action != tc.wantAction {
				t.Fatalf("reply %v action %q (%s), want accepted %q", res.Reply, res.Action, res.Detail, tc.wantAction)
			}
			if !reflect.DeepEqual(res.DeleteHeaders, tc.wantDel) {
				t.Errorf("DeleteHeaders\n got %v\nwant %v", res.DeleteHeaders, tc.wantDel)
			}
		})
	}
}

func TestIsOwnHeader(t *testing.T) {
	cases := []struct {
		name, value string
		want        bool
	}{
		{"X-Mailseal-Trace", "x", true},
		{"x-MAILSEAL-anything", "x", true},
		{"X-Mailseal", "x", true},
		{"X-Mailsealed", "x", false},
		{"X-Mail-Seal", "x", false},
		{"Authentication-Results", "mx.corp.example; none", true},
		{"authentication-results", "MX.CORP.EXAMPLE 1; spf=pass", true},
		{"Authentication-Results", "\n\tmx.corp.example;\n\tdkim=pass", true},
		{"Authentication-Results", " mx.corp.example(comment); none", true},
		{"Authentication-Results", "mx.corp.example", true},
		{"Authentication-Results", "mx.corp.example.evil; none", false},
		{"Authentication-Results", "mx.corp.example.; smime=pass", true},
		{"Authentication-Results", `"MX.corp.example."; dkim=pass`, true},
		{"Authentication-Results", "mx.corp.example..; none", false},
		{"Authentication-Results", ".; none", false},
		{"Authentication-Results", "other.example; dkim=pass header.d=mx.corp.example", false},
		{"Authentication-Results", "", false},
		{"Received", "mx.corp.example; x", false},
	}
	for _, tc := range cases {
		if got := isOwnHeader(Header{tc.name, tc.value}, testAuthserv); got != tc.want {
			t.Errorf("isOwnHeader(%s: %q) = %v, want %v", tc.name, tc.value, got, tc.want)
		}
	}
}

// TestIsOwnHeaderCommentBeforeAuthservID: RFC 8601 allows CFWS before the
// authserv-id ("Authentication-Results:" [CFWS] authserv-id ...), so a
// forged header starting with a comment still names our authserv-id to
// every RFC 8601 parser downstream and must be removed. The same holds for
// the authserv-id written as a quoted-string.
func TestIsOwnHeaderCommentBeforeAuthservID(t *testing.T) {
	for _, v := range []string{
		"(forged) mx.corp.example; dkim=pass",
		" (a comment\n\tfolded) mx.corp.example; spf=pass",
		`"mx.corp.example"; dkim=pass`, // authserv-id = value = token / quoted-string
	} {
		if !isOwnHeader(Header{"Authentication-Results", v}, testAuthserv) {
			t.Errorf("Authentication-Results: %q naming our authserv-id after a comment is kept", v)
		}
	}
}

func TestHandleSignsAuthorisedSender(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	p := newProcessor(t, testSettings(t, policy.DefaultSpec()), ids, nil)
	cases := []struct {
		name string
		tx   func() *Transaction
	}{
		{"trusted network", func() *Transaction { return newTx(baseHeaders(), plainBody) }},
		{"AUTH as sender from outside", func() *Transaction {
			tx := newTx(baseHeaders(), plainBody)
			tx.Client.Addr, tx.AuthUser = untrustedIP, "Alice@Corp.Example"
			return tx
		}},
		{"subdomain, bare LF body", func() *Transaction {
			hs := setHeader(baseHeaders(), "From", "alice@sales.corp.example")
			tx := newTx(hs, strings.ReplaceAll(plainBody, "\r\n", "\n"))
			tx.From = "alice@sales.corp.example"
			return tx
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tx := tc.tx()
			signer := strings.ToLower(tx.From)
			res := p.Handle(context.Background(), tx)
			if !res.Reply.Accepted() || res.Action != "signed" || res.Direction != "outbound" {
				t.Fatalf("reply %v action %q direction %q (%s)", res.Reply, res.Action, res.Direction, res.Detail)
			}
			wantDel := []HeaderRef{{"MIME-Version", 1}, {"Content-Type", 1}, {"Content-Transfer-Encoding", 1}}
			if !reflect.DeepEqual(res.DeleteHeaders, wantDel) {
				t.Errorf("DeleteHeaders %v, want %v", res.DeleteHeaders, wantDel)
			}
			if len(res.AddHeaders) != 3 || res.AddHeaders[0] != (Header{"MIME-Version", "1.0"}) ||
				res.AddHeaders[1].Name != "Content-Type" || !strings.HasPrefix(res.AddHeaders[1].Value, "multipart/signed;") ||
				res.AddHeaders[2].Name != TraceHeader {
				t.Fatalf("AddHeaders %q", res.AddHeaders)
			}
			id, _, err := ids.SigningIdentity(context.Background(), signer)
			if err != nil {
				t.Fatal(err)
			}
			wantTrace := fmt.Sprintf("%s; signed; signer=%s; serial=%s", testAuthserv, signer, id.Cert.SerialNumber.Text(16))
			if res.AddHeaders[2].Value != wantTrace {
				t.Errorf("trace %q, want %q", res.AddHeaders[2].Value, wantTrace)
			}
			for _, l := range strings.Split(res.AddHeaders[1].Value, "\n") {
				if len(l) > 78 {
					t.Errorf("Content-Type line of %d characters: %q", len(l), l)
				}
			}
			if res.ChangeHeaders != nil || res.DeleteRecipients != nil {
				t.Errorf("unexpected edits: change %v delete rcpts %v", res.ChangeHeaders, res.DeleteRecipients)
			}
			inner := verifySigned(t, ids, res.AddHeaders[1].Value, res.Body, signer)
			if !bytes.Contains(inner, []byte("Content-Type: text/plain; charset=utf-8")) {
				t.Errorf("signed part lacks the original Content-Type:\n%s", inner)
			}
			want := strings.ReplaceAll(plainBody, "\r\n", "\n")
			if got := strings.ReplaceAll(leafText(t, inner), "\r\n", "\n"); got != want {
				t.Errorf("signed text %q, want %q", got, want)
			}
		})
	}
}

// TestHandleSignatureVerifiesWithOpenSSL checks the whole signed message as
// a MUA would see it with openssl cms -verify.
func TestHandleSignatureVerifiesWithOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl not installed (scripts/install-deps.sh installs it)")
	}
	ids := openIdentities(t, t.TempDir())
	p := newProcessor(t, testSettings(t, policy.DefaultSpec()), ids, nil)
	res := p.Handle(context.Background(), newTx(baseHeaders(), plainBody))
	if res.Action != "signed" {
		t.Fatalf("action %q: %v %s", res.Action, res.Reply, res.Detail)
	}
	var msg bytes.Buffer
	for _, h := range res.AddHeaders {
		writeHeader(&msg, h.Name, h.Value)
	}
	msg.WriteString("\r\n")
	msg.Write(res.Body)
	dir := t.TempDir()
	in, ca, out := filepath.Join(dir, "msg.eml"), filepath.Join(dir, "ca.pem"), filepath.Join(dir, "out")
	if err := os.WriteFile(in, msg.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ids.CACertificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := exec.Command(openssl, "cms", "-verify", "-in", in, "-CAfile", ca, "-purpose", "smimesign", "-out", out).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl cms -verify: %v\n%s", err, b)
	}
	got, _ := os.ReadFile(out)
	if !bytes.Contains(got, []byte("Content-Type: text/plain; charset=utf-8")) {
		t.Errorf("verified content:\n%s", got)
	}
}

func TestHandleUnauthorisedIsNotSigned(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	p := newProcessor(t, testSettings(t, policy.DefaultSpec()), ids, &fakeReinjector{})
	cases := []struct {
		name   string
		modify func(tx *Transaction)
	}{
		{"outside client forging an internal sender", func(tx *Transaction) { tx.Client.Addr = untrustedIP }},
		{"unknown client address", func(tx *Transaction) { tx.Client.Addr = netip.Addr{} }},
		{"AUTH as someone else", func(tx *Transaction) { tx.AuthUser = "mallory@corp.example" }},
		{"AUTH as someone else from outside", func(tx *Transaction) {
			tx.Client.Addr, tx.AuthUser = untrustedIP, "mallory@corp.example"
		}},
		{"From: header differs", func(tx *Transaction) {
			tx.Headers = setHeader(tx.Headers, "From", "CEO <ceo@corp.example>")
		}},
		{"two From: headers", func(tx *Transaction) {
			tx.Headers = append(tx.Headers, Header{"From", "alice@corp.example"})
		}},
		{"From: with two mailboxes", func(tx *Transaction) {
			tx.Headers = setHeader(tx.Headers, "From", "alice@corp.example, ceo@corp.example")
		}},
		{"no From: header", func(tx *Transaction) {
			tx.Headers = slices.DeleteFunc(tx.Headers, func(h Header) bool { return h.Name == "From" })
		}},
		{"null sender", func(tx *Transaction) { tx.From = "" }},
		{"outside sender", func(tx *Transaction) {
			tx.From = "news@partner.example"
			tx.Headers = setHeader(tx.Headers, "From", "news@partner.example")
		}},
		{"look-alike domain", func(tx *Transaction) {
			tx.From = "alice@evilcorp.example"
			tx.Headers = setHeader(tx.Headers, "From", "alice@evilcorp.example")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A Bcc recipient too: inbound mail is never split.
			tx := newTx(baseHeaders(), plainBody, "bob@partner.example", "carol@partner.example")
			tc.modify(tx)
			res := p.Handle(context.Background(), tx)
			// An internal sender the client did not prove is told apart
			// from inbound mail in logs and metrics.
			want := "inbound"
			if strings.Contains(tc.name, "client") || strings.HasPrefix(tc.name, "AUTH") {
				want = policy.DirectionUnauthorised
			}
			if !res.Reply.Accepted() || res.Action != "none" || res.Direction != want {
				t.Fatalf("reply %v action %q direction %q, want %q (%s)", res.Reply, res.Action, res.Direction, want, res.Detail)
			}
			if res.Body != nil || res.AddHeaders != nil || res.DeleteHeaders != nil || res.DeleteRecipients != nil || res.ChangeHeaders != nil {
				t.Errorf("unexpected edits %+v", res)
			}
		})
	}
}

func TestHandleAlreadyProtected(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	required := policy.DefaultSpec()
	required.Rules = []policy.RuleSpec{{Name: "partner", Recipients: []string{"*@partner.example"}, Encrypt: "required"}}
	cases := []struct {
		name        string
		spec        policy.Spec
		contentType string
	}{
		{"signed", policy.DefaultSpec(), `multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="b1"`},
		{"PGP signed", policy.DefaultSpec(), `multipart/signed; protocol="application/pgp-signature"; micalg=pgp-sha256; boundary="b1"`},
		{"opaque signed", policy.DefaultSpec(), "application/pkcs7-mime; smime-type=signed-data; name=smime.p7m"},
		{"S/MIME encrypted", policy.DefaultSpec(), "application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m"},
		{"PGP encrypted", policy.DefaultSpec(), `multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b1"`},
		{"S/MIME encrypted, encrypt required", required, "application/x-pkcs7-mime;\n\tsmime-type=enveloped-data; name=smime.p7m"},
		{"PGP encrypted, encrypt required", required, `multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b1"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newProcessor(t, testSettings(t, tc.spec), ids, nil)
			tx := newTx(setHeader(baseHeaders(), "Content-Type", tc.contentType), "opaque\r\n")
			res := p.Handle(context.Background(), tx)
			if !res.Reply.Accepted() || res.Action != "none" || res.Direction != "outbound" {
				t.Fatalf("reply %v action %q direction %q (%s)", res.Reply, res.Action, res.Direction, res.Detail)
			}
			if res.Body != nil || res.AddHeaders != nil || res.DeleteHeaders != nil {
				t.Errorf("protected content was changed: %+v", res)
			}
		})
	}
}

// TestHandleEncryptedConfidentialWithRejectFallback: content the sender has
// already encrypted end to end "satisfies any policy" (handler.go), yet a
// confidential subject with fallback: reject refuses it, because
// Handle returns on ev.Rejections before the isEncrypted override.
func TestHandleEncryptedConfidentialWithRejectFallback(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	spec := policy.DefaultSpec()
	spec.Fallback, spec.Methods = "reject", nil
	p := newProcessor(t, testSettings(t, spec), ids, nil)
	hs := setHeader(baseHeaders(), "Content-Type", "application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m")
	hs = setHeader(hs, "Subject", "[secure] salaries")
	res := p.Handle(context.Background(), newTx(hs, "MIAGCSqGSIb3DQEHA6CAMIACAQAxggE=\r\n"))
	if !res.Reply.Accepted() {
		t.Fatalf("already encrypted confidential mail refused: %v", res.Reply)
	}
}

func TestRecipient(t *testing.T) {
	spec := policy.DefaultSpec()
	spec.Rules = []policy.RuleSpec{
		{Name: "secure-partner", Recipients: []string{"*@secure.example"}, Encrypt: "required", Fallback: "reject"},
		{Name: "pdf-partner", Recipients: []string{"*@pdf.example"}, Encrypt: "required"},
	}
	p := newProcessor(t, testSettings(t, spec), nil, nil)
	authorised := &Transaction{Client: Client{Addr: trustedIP}, From: "alice@corp.example"}
	viaAuth := &Transaction{Client: Client{Addr: untrustedIP}, AuthUser: "alice@corp.example", From: "alice@corp.example"}
	outside := &Transaction{Client: Client{Addr: untrustedIP}, From: "news@partner.example"}
	forged := &Transaction{Client: Client{Addr: untrustedIP}, From: "alice@corp.example"}
	cases := []struct {
		name string
		tx   *Transaction
		rcpt string
		want Reply
	}{
		{"encrypt required, fallback reject", authorised, "bob@secure.example",
			Reject(550, "5.7.1", "<bob@secure.example> requires encryption, but no certificate or key is known for this address")},
		{"spelling kept", viaAuth, "Bob@Secure.Example",
			Reject(550, "5.7.1", "<Bob@Secure.Example> requires encryption, but no certificate or key is known for this address")},
		{"fallback pdf is decided at end of data", authorised, "bob@pdf.example", Reply{}},
		{"other recipient", authorised, "bob@partner.example", Reply{}},
		{"inbound from outside", outside, "bob@secure.example", Reply{}},
		{"inbound: forged internal sender", forged, "bob@secure.example", Reply{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.Recipient(context.Background(), tc.tx, tc.rcpt); got != tc.want {
				t.Errorf("Recipient = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHandleRejections(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	reject := policy.DefaultSpec()
	reject.Fallback, reject.Methods = "reject", nil
	inboundTLS := policy.DefaultSpec()
	inboundTLS.Rules = []policy.RuleSpec{{Name: "bank", Direction: "inbound", Senders: []string{"*@bank.example"}, RequireTLS: true}}
	bank := func(tls string) func(*Transaction) {
		return func(tx *Transaction) {
			tx.Client = Client{Addr: untrustedIP, TLSVersion: tls}
			tx.From = "statements@bank.example"
			tx.Headers = setHeader(tx.Headers, "From", "statements@bank.example")
			tx.Headers = append(tx.Headers, Header{"X-Mailseal-Trace", "forged"})
		}
	}
	subject := func(s string) func(*Transaction) {
		return func(tx *Transaction) { tx.Headers = setHeader(tx.Headers, "Subject", s) }
	}
	cases := []struct {
		name   string
		spec   policy.Spec
		rcpts  []string
		modify func(*Transaction)
		want   Reply // zero: accepted
	}{
		{"confidential, fallback reject", reject, nil, subject("[secure] salaries"),
			Reject(550, "5.7.1", "<bob@partner.example>: this message is marked confidential, but no certificate or key is known for this address")},
		{"confidential by Sensitivity", reject, nil, func(tx *Transaction) {
			tx.Headers = append(tx.Headers, Header{"Sensitivity", "Company-Confidential"})
		}, Reject(550, "5.7.1", "<bob@partner.example>: this message is marked confidential, but no certificate or key is known for this address")},
		{"several refused recipients", reject, []string{"bob@partner.example", "carol@partner.example", "dave@other.example"}, subject("Re: [CONFIDENTIAL] plan"),
			Reject(550, "5.7.1", "<bob@partner.example>: this message is marked confidential, but no certificate or key is known for this address (and 2 more recipient(s) refused for the same reason)")},
		{"inbound require_tls without TLS", inboundTLS, []string{"alice@corp.example"}, bank(""),
			Reject(550, "5.7.1", "this sender's mail must arrive over TLS (STARTTLS); the connection was not encrypted")},
		{"inbound require_tls with TLS", inboundTLS, []string{"alice@corp.example"}, bank("TLSv1.3"), Reply{}},
		{"not confidential", reject, nil, subject("secure transfer"), Reply{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newProcessor(t, testSettings(t, tc.spec), ids, &fakeReinjector{})
			tx := newTx(baseHeaders(), plainBody, tc.rcpts...)
			if len(tc.rcpts) > 1 {
				tx.Headers = setHeader(tx.Headers, "To", strings.Join(tc.rcpts, ",\n\t"))
			}
			tc.modify(tx)
			res := p.Handle(context.Background(), tx)
			if res.Reply != tc.want {
				t.Fatalf("reply %v (%s)\nwant %v", res.Reply, res.Detail, tc.want)
			}
			if tc.want.Accepted() {
				return
			}
			if res.Action != "rejected" {
				t.Errorf("action %q", res.Action)
			}
			if res.Body != nil || res.AddHeaders != nil || res.DeleteHeaders != nil || res.ChangeHeaders != nil || res.DeleteRecipients != nil {
				t.Errorf("a refusal carries edits: %+v", res)
			}
		})
	}
}

// TestHandleBccSharesSignedCopy: a signature names no recipient, so a Bcc
// recipient whose copy is only signed shares the message in place; a split
// would only add a dependency on the reinject listener.
func TestHandleBccSharesSignedCopy(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	re := &fakeReinjector{}
	p := newProcessor(t, testSettings(t, policy.DefaultSpec()), ids, re)
	tx := newTx(baseHeaders(), plainBody, "bob@partner.example", "Carol@Partner.Example")
	res := p.Handle(context.Background(), tx)
	if !res.Reply.Accepted() || res.Action != "signed" || res.DeleteRecipients != nil {
		t.Fatalf("reply %v action %q delete %q (%s)", res.Reply, res.Action, res.DeleteRecipients, res.Detail)
	}
	if n := len(re.copies()); n != 0 {
		t.Errorf("%d copies re-injected for a signed Bcc recipient, want none", n)
	}
	ct, _ := findHeader(res.AddHeaders, "Content-Type")
	verifySigned(t, ids, ct.Value, res.Body, "alice@corp.example")
}

// TestHandleSplitsBcc: a Bcc recipient with another treatment than the
// visible ones gets its own copy, rendered whole, with the DSN parameters
// of its RCPT.
func TestHandleSplitsBcc(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	re := &fakeReinjector{}
	p := newProcessor(t, testSettings(t, splitSpec()), ids, re)
	hs := setHeader(forgedHeaders(), "To", "Bob <bob@plain.example>")
	hs = slices.Insert(hs, 1, Header{"References", "<a@corp.example>\n\t<b@corp.example>\r\n <c@corp.example>"})
	tx := newTx(hs, plainBody, "bob@plain.example", "Carol@Partner.Example")
	tx.FromParams = []string{"RET=HDRS", "ENVID=QQ314159"}
	tx.RcptParams = map[string][]string{
		"bob@plain.example":     {"NOTIFY=NEVER"},
		"Carol@Partner.Example": {"NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;Carol@Partner.Example"},
	}
	res := p.Handle(context.Background(), tx)
	if !res.Reply.Accepted() || res.Action != "split:none+signed" {
		t.Fatalf("reply %v action %q (%s)", res.Reply, res.Action, res.Detail)
	}
	if !reflect.DeepEqual(res.DeleteRecipients, []string{"Carol@Partner.Example"}) {
		t.Errorf("DeleteRecipients %q", res.DeleteRecipients)
	}
	// In place: bob's plain message.
	if res.Body != nil {
		t.Errorf("bob's plain copy got a new body")
	}
	var ct Header

	sent := re.copies()
	if len(sent) != 1 || sent[0].from != "alice@corp.example" || !reflect.DeepEqual(sent[0].rcpts, []string{"Carol@Partner.Example"}) {
		t.Fatalf("copies %+v", sent)
	}
	wantEnv := reinject.Envelope{From: "alice@corp.example", FromParams: tx.FromParams, Rcpts: []reinject.Recipient{
		{Addr: "Carol@Partner.Example", Params: []string{"NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;Carol@Partner.Example"}},
	}}
	if !reflect.DeepEqual(sent[0].env, wantEnv) {
		t.Errorf("copy envelope %+v, want the original's DSN parameters %+v", sent[0].env, wantEnv)
	}
	msg := sent[0].msg
	if bytes.Contains(bytes.ReplaceAll(msg, []byte("\r\n"), nil), []byte("\n")) || bytes.Contains(bytes.ReplaceAll(msg, []byte("\r\n"), nil), []byte("\r")) {
		t.Errorf("copy has bare CR or LF:\n%q", msg)
	}
	if !bytes.Contains(msg, []byte("\r\nReferences: <a@corp.example>\r\n\t<b@corp.example>\r\n <c@corp.example>\r\n")) {
		t.Errorf("folded header not kept with CRLF folding:\n%s", msg)
	}
	headers, body := splitMessage(t, msg)
	var traces, cts, mimes int
	for _, h := range headers {
		switch n := strings.ToLower(h.Name); {
		case strings.HasPrefix(n, "x-mailseal"):
			if n == "x-mailsealed" {
				continue
			}
			traces++
			if h.Name != TraceHeader || !strings.HasPrefix(h.Value, testAuthserv+"; signed; signer=alice@corp.example; serial=") {
				t.Errorf("copy has %s: %s", h.Name, h.Value)
			}
		case n == "authentication-results":
			if isOwnHeader(h, testAuthserv) {
				t.Errorf("copy keeps forged %s: %s", h.Name, h.Value)
			}
		case n == "content-type":
			cts++
			ct = h
		case n == "mime-version":
			mimes++
		case n == "content-transfer-encoding":
			t.Errorf("copy keeps the outer %s", h.Name)
		}
	}
	if traces != 1 || cts != 1 || mimes != 1 {
		t.Errorf("copy has %d trace, %d Content-Type, %d MIME-Version headers, want 1 each:\n%s", traces, cts, mimes, msg)
	}
	if n := strings.Count(string(msg), "Authentication-Results: other.example;"); n != 1 {
		t.Errorf("foreign Authentication-Results kept %d times", n)
	}
	inner := verifySigned(t, ids, ct.Value, body, "alice@corp.example")
	if got := strings.ReplaceAll(leafText(t, inner), "\r\n", "\n"); got != strings.ReplaceAll(plainBody, "\r\n", "\n") {
		t.Errorf("copy's signed text %q", got)
	}
}

// splitSpec signs by default, never for plain.example.
func splitSpec() policy.Spec {
	s := policy.DefaultSpec()
	s.Rules = []policy.RuleSpec{{Name: "no-sign", Recipients: []string{"*@plain.example"}, Sign: "never"}}
	return s
}

func TestHandleSplitsByRule(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	cases := []struct {
		name       string
		rcpts      []string
		inPlace    string // signed | none
		copyTo     string
		copySigned bool
	}{
		{"signed in place, plain copy", []string{"bob@partner.example", "dan@plain.example"}, "signed", "dan@plain.example", false},
		{"plain in place, signed copy", []string{"dan@plain.example", "bob@partner.example"}, "none", "bob@partner.example", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			re := &fakeReinjector{}
			p := newProcessor(t, testSettings(t, splitSpec()), ids, re)
			hs := setHeader(baseHeaders(), "To", strings.Join(tc.rcpts, ", "))
			hs = append(hs, Header{"X-Mailseal-Trace", "forged"})
			tx := newTx(hs, plainBody, tc.rcpts...)
			res := p.Handle(context.Background(), tx)
			if !res.Reply.Accepted() || res.Action != "split:none+signed" {
				t.Fatalf("reply %v action %q (%s)", res.Reply, res.Action, res.Detail)
			}
			if !reflect.DeepEqual(res.DeleteRecipients, []string{tc.copyTo}) {
				t.Errorf("DeleteRecipients %q, want %q", res.DeleteRecipients, tc.copyTo)
			}
			if (res.Body != nil) != (tc.inPlace == "signed") {
				t.Errorf("in place body %d bytes, want %s", len(res.Body), tc.inPlace)
			}
			if tc.inPlace == "none" && (res.AddHeaders != nil || !reflect.DeepEqual(res.DeleteHeaders, []HeaderRef{{"X-Mailseal-Trace", 1}})) {
				t.Errorf("plain in place: add %v delete %v", res.AddHeaders, res.DeleteHeaders)
			}
			sent := re.copies()
			if len(sent) != 1 || !reflect.DeepEqual(sent[0].rcpts, []string{tc.copyTo}) {
				t.Fatalf("copies %+v", sent)
			}
			headers, body := splitMessage(t, sent[0].msg)
			trace, _ := findHeader(headers, TraceHeader)
			ct, _ := findHeader(headers, "Content-Type")
			if tc.copySigned {
				verifySigned(t, ids, ct.Value, body, "alice@corp.example")
			} else {
				if want := testAuthserv + "; copy; treatment=plain"; trace.Value != want {
					t.Errorf("copy trace %q, want %q", trace.Value, want)
				}
				if ct.Value != "text/plain; charset=utf-8" || string(body) != plainBody {
					t.Errorf("plain copy changed: %s\n%q", ct.Value, body)
				}
			}
			if n := bytes.Count(sent[0].msg, []byte("X-Mailseal-Trace:")); n != 1 {
				t.Errorf("copy has %d trace headers", n)
			}
		})
	}
}

func TestHandleSplitFailureAndRetry(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	re := &fakeReinjector{}
	p := newProcessor(t, testSettings(t, splitSpec()), ids, re)
	rcpts := []string{"bob@partner.example", "dan@plain.example", "Carol@Partner.Example"}
	hs := setHeader(baseHeaders(), "To", "bob@partner.example, dan@plain.example")
	tx := newTx(hs, plainBody, rcpts...)

	re.setFail("dan@plain.example")
	res := p.Handle(context.Background(), tx)
	want := TempFail("4.3.0", "Your message could not be split for its recipients right now; please try again later")
	if res.Reply != want || res.Action != "tempfailed" {
		t.Fatalf("reply %v action %q, want %v", res.Reply, res.Action, want)
	}
	if res.DeleteRecipients != nil || res.Body != nil || res.AddHeaders != nil || res.DeleteHeaders != nil {
		t.Errorf("a tempfail carries edits: %+v", res)
	}
	if sent := re.copies(); len(sent) != 0 {
		t.Fatalf("first attempt handed over %+v, want nothing", sent)
	}

	// The client retries the same message: dan's copy goes out once; Carol
	// (Bcc, signed like bob) stays in place with bob.
	re.setFail()
	retry := newTx(slices.Clone(hs), plainBody, rcpts...)
	retry.QueueID = "4DEF456"
	res = p.Handle(context.Background(), retry)
	if !res.Reply.Accepted() || res.Action != "split:none+signed" {
		t.Fatalf("retry: reply %v action %q (%s)", res.Reply, res.Action, res.Detail)
	}
	if !reflect.DeepEqual(res.DeleteRecipients, []string{"dan@plain.example"}) {
		t.Errorf("DeleteRecipients %q", res.DeleteRecipients)
	}
	if sent := re.copies(); len(sent) != 1 || !reflect.DeepEqual(sent[0].rcpts, []string{"dan@plain.example"}) {
		t.Fatalf("after retry: copies %+v, want dan's once", sent)
	}

	// The same message once more within the retention counts as a retry
	// whose reply was lost: dan already has his copy.
	again := newTx(slices.Clone(hs), plainBody, rcpts...)
	if res := p.Handle(context.Background(), again); !res.Reply.Accepted() || !reflect.DeepEqual(res.DeleteRecipients, []string{"dan@plain.example"}) {
		t.Fatalf("same message again: %v, delete %q", res.Reply, res.DeleteRecipients)
	}
	if n := len(re.copies()); n != 1 {
		t.Errorf("the same message again handed over %d more copies, want none", n-1)
	}

	// A different message to the same recipients is not mistaken for a retry.
	other := newTx(slices.Clone(hs), plainBody+"PS\r\n", rcpts...)
	if res := p.Handle(context.Background(), other); !res.Reply.Accepted() {
		t.Fatalf("other message: %v", res.Reply)
	}
	if n := len(re.copies()); n != 2 {
		t.Errorf("other message handed over %d copies, want 1", n-1)
	}
}

func TestHandleSplitWithoutReinjector(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	p := newProcessor(t, testSettings(t, splitSpec()), ids, nil)
	tx := newTx(setHeader(baseHeaders(), "To", "bob@partner.example, dan@plain.example"), plainBody, "bob@partner.example", "dan@plain.example")
	res := p.Handle(context.Background(), tx)
	if res.Reply.Code != 451 || res.Reply.Enhanced != "4.3.0" || res.Action != "tempfailed" || res.DeleteRecipients != nil || res.Body != nil {
		t.Fatalf("got %+v, want a tempfail without edits", res)
	}
	// One group needs no reinjector.
	one := newTx(baseHeaders(), plainBody, "bob@partner.example", "BOB@partner.example")
	if res := p.Handle(context.Background(), one); !res.Reply.Accepted() || res.Action != "signed" {
		t.Fatalf("one group: %v %q (%s)", res.Reply, res.Action, res.Detail)
	}
}

func TestHandleSubjectTag(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	p := newProcessor(t, testSettings(t, policy.DefaultSpec()), ids, nil)
	encrypted := "application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m"
	cases := []struct {
		subject, want string
	}{
		{"[secure] salaries 2027", "salaries 2027"},
		{"Re: [SECURE] salaries", "Re: salaries"},
		{"=?utf-8?q?[Vertraulich]_Geh=C3=A4lter?=", "=?utf-8?q?Geh=C3=A4lter?="},
		{"Geh\xc3\xa4lter\n\t[confidential]", "=?utf-8?q?Geh=C3=A4lter?="},
	}
	for _, tc := range cases {
		t.Run(tc.subject, func(t *testing.T) {
			// Confidential mail needs encryption: only mail the sender
			// encrypted already is delivered with the tag removed.
			hs := setHeader(baseHeaders(), "Content-Type", encrypted)
			hs = slices.Insert(hs, 1, Header{"subject", "x"}) // a second instance after the first
			hs = setHeader(hs, "subject", tc.subject)
			res := p.Handle(context.Background(), newTx(hs, "opaque\r\n"))
			if !res.Reply.Accepted() {
				t.Fatalf("reply %v (%s)", res.Reply, res.Detail)
			}
			want := []HeaderChange{{"Subject", 1, tc.want}}
			if !reflect.DeepEqual(res.ChangeHeaders, want) {
				t.Errorf("ChangeHeaders %+v, want %+v", res.ChangeHeaders, want)
			}
		})
	}
	// Otherwise confidential mail needs the PDF fallback, whose password
	// cannot reach the sender without reinject: tempfailed, subject
	// untouched, never delivered in clear.
	res := p.Handle(context.Background(), newTx(setHeader(baseHeaders(), "Subject", "[secure] x"), plainBody))
	if res.Reply.Code != 451 || res.ChangeHeaders != nil || res.Body != nil {
		t.Errorf("unencrypted confidential mail: %+v", res)
	}
}

// TestHandleSubjectTagUnknownCharset: policy's CleanSubject promises UTF-8,
// but an encoded word in a charset the decoder does not know (windows-1252,
// common from Outlook) is passed through as raw bytes, which encodeSubject
// then labels utf-8: the recipient sees an invalid UTF-8 subject.
func TestHandleSubjectTagUnknownCharset(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	p := newProcessor(t, testSettings(t, policy.DefaultSpec()), ids, nil)
	hs := setHeader(baseHeaders(), "Content-Type", "application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m")
	hs = setHeader(hs, "Subject", "=?windows-1252?q?[secure]_Gr=FC=DFe?=")
	res := p.Handle(context.Background(), newTx(hs, "opaque\r\n"))
	if len(res.ChangeHeaders) != 1 {
		t.Fatalf("ChangeHeaders %v (%v)", res.ChangeHeaders, res.Reply)
	}
	got, err := new(mime.WordDecoder).DecodeHeader(res.ChangeHeaders[0].Value)
	if err != nil || !utf8.ValidString(got) || got != "Grüße" {
		t.Errorf("new subject %q decodes to %q (%v), want %q", res.ChangeHeaders[0].Value, got, err, "Grüße")
	}
}

func TestEncodeSubject(t *testing.T) {
	cases := map[string]string{
		"":                        "",
		"salaries 2027":           "salaries 2027",
		"Gehälter":                "=?utf-8?q?Geh=C3=A4lter?=",
		"Re: Grüße aus Zürich_=?": "=?utf-8?q?Re:_Gr=C3=BC=C3=9Fe_aus_Z=C3=BCrich=5F=3D=3F?=",
	}
	for in, want := range cases {
		got := encodeSubject(in)
		if got != want {
			t.Errorf("encodeSubject(%q) = %q, want %q", in, got, want)
		}
		if dec, err := new(mime.WordDecoder).DecodeHeader(got); err != nil || dec != in {
			t.Errorf("encodeSubject(%q) decodes to %q, %v", in, dec, err)
		}
	}
	long := strings.Repeat("Überweisung ", 20)
	for _, w := range strings.Fields(encodeSubject(long)) {
		if len(w) > 75 {
			t.Errorf("encoded word of %d characters", len(w))
		}
	}
}

func TestHandleTooBig(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	p := newProcessor(t, testSettings(t, policy.DefaultSpec()), ids, nil)
	tx := newTx(baseHeaders(), plainBody)
	tx.SpoolErr = errTooBig
	res := p.Handle(context.Background(), tx)
	if want := Reject(552, "5.3.4", "Message too big to be signed by this gateway"); res.Reply != want || res.Action != "rejected" {
		t.Fatalf("reply %v action %q, want %v", res.Reply, res.Action, want)
	}
	// Not signed: size does not matter.
	tx = newTx(baseHeaders(), plainBody)
	tx.Client.Addr, tx.SpoolErr = untrustedIP, errTooBig
	if res := p.Handle(context.Background(), tx); !res.Reply.Accepted() {
		t.Errorf("inbound too big: %v", res.Reply)
	}
	// Another spool error tempfails.
	tx = newTx(baseHeaders(), plainBody)
	tx.SpoolErr = errors.New("disk full")
	if res := p.Handle(context.Background(), tx); res.Reply.Code != 451 || res.Action != "tempfailed" {
		t.Errorf("spool error: %v %q", res.Reply, res.Action)
	}
}

// failingIdentities fails every request.
type failingIdentities struct{}

func (failingIdentities) SigningIdentity(context.Context, string) (*certs.Identity, bool, error) {
	return nil, false, errors.New("issuer down")
}

func TestHandleIdentityFailureTempfails(t *testing.T) {
	p := newProcessor(t, testSettings(t, policy.DefaultSpec()), failingIdentities{}, nil)
	res := p.Handle(context.Background(), newTx(baseHeaders(), plainBody))
	if want := TempFail("4.7.1", "Your message could not be signed right now; please try again later"); res.Reply != want || res.Body != nil {
		t.Fatalf("got %+v", res)
	}
}

func TestHandleMalformedMIME(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	p := newProcessor(t, testSettings(t, policy.DefaultSpec()), ids, nil)
	hs := setHeader(baseHeaders(), "Content-Type", "multipart/mixed")
	res := p.Handle(context.Background(), newTx(hs, "no boundary\r\n"))
	if res.Reply.Accepted() && res.Body != nil {
		verifySigned(t, ids, res.AddHeaders[1].Value, res.Body, "alice@corp.example")
	}
	if !res.Reply.Accepted() && res.Reply.Code != 554 {
		t.Errorf("malformed MIME: %v", res.Reply)
	}
}

func TestSetSettingsSwapsEngine(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	p := newProcessor(t, testSettings(t, policy.DefaultSpec()), ids, nil)
	never := policy.DefaultSpec()
	never.Sign = "never"
	p.SetSettings(testSettings(t, never))
	if p.Settings().Engine == nil {
		t.Fatal("no engine")
	}
	res := p.Handle(context.Background(), newTx(baseHeaders(), plainBody))
	if !res.Reply.Accepted() || res.Action != "none" || res.Body != nil {
		t.Fatalf("sign never: %+v", res)
	}
}

// fakeLedger is a CopyLedger that can fail.
type fakeLedger struct {
	mu                 sync.Mutex
	seen               map[string]bool
	seenErr, recordErr error
}

func (l *fakeLedger) Seen(_ context.Context, key string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen[key], l.seenErr
}

func (l *fakeLedger) Record(_ context.Context, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.recordErr != nil {
		return l.recordErr
	}
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	l.seen[key] = true
	return nil
}

func (l *fakeLedger) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

func TestHandleLedger(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	rcpts := []string{"bob@partner.example", "dan@plain.example", "Carol@Partner.Example"}
	hs := setHeader(baseHeaders(), "To", "bob@partner.example, dan@plain.example")

	t.Run("lookup error tempfails before sending", func(t *testing.T) {
		re := &fakeReinjector{}
		p := newProcessor(t, testSettings(t, splitSpec()), ids, re)
		p.SetLedger(&fakeLedger{seenErr: errors.New("db locked")})
		res := p.Handle(context.Background(), newTx(hs, plainBody, rcpts...))
		if res.Reply.Code != 451 || res.Reply.Enhanced != "4.3.0" || res.DeleteRecipients != nil {
			t.Fatalf("got %+v", res)
		}
		if n := len(re.copies()); n != 0 {
			t.Errorf("%d copies sent without knowing whether they were sent before", n)
		}
	})
	t.Run("record error still accepts", func(t *testing.T) {
		re := &fakeReinjector{}
		p := newProcessor(t, testSettings(t, splitSpec()), ids, re)
		p.SetLedger(&fakeLedger{recordErr: errors.New("disk full")})
		res := p.Handle(context.Background(), newTx(hs, plainBody, rcpts...))
		if !res.Reply.Accepted() || len(res.DeleteRecipients) != 1 || len(re.copies()) != 1 {
			t.Fatalf("got %+v with %d copies", res, len(re.copies()))
		}
	})
}

// TestCopyFaults stops mailseal at each step of handing over a copy, as a
// crash (kill -9) would, then lets the client retry against a new process
// that shares the ledger. Every copy must arrive once, and the recipient
// of a copy must leave the retried transaction even when its copy is not
// sent again. One window cannot be closed: Postfix has taken the copy, the
// ledger does not know yet. The retry sends that copy again; the test
// pins that down so the documented behaviour cannot change unnoticed.
func TestCopyFaults(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	rcpts := []string{"bob@partner.example", "dan@plain.example"}
	hs := setHeader(baseHeaders(), "To", "bob@partner.example, dan@plain.example")
	crash := errors.New("killed")
	cases := []struct {
		name     string
		step     CopyStep // 0: no fault in Handle
		refuse   bool     // the reinject listener refuses the copy
		firstOK  bool     // the first attempt is accepted (its reply is then lost)
		wantDans int      // copies dan gets in all
	}{
		{name: "hand-over refused", refuse: true, wantDans: 1},
		{name: "killed after hand-over, before the record (the open window)", step: StepHandedOver, wantDans: 2},
		{name: "killed after the record", step: StepRecorded, wantDans: 1},
		{name: "killed after the reply (Postfix never got it)", firstOK: true, wantDans: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			shared := &fakeLedger{}
			re := &fakeReinjector{}
			var opts []ProcessorOption
			if tc.step != 0 {
				opts = append(opts, WithCopyFault(func(step CopyStep, _ []string) error {
					if step == tc.step {
						return crash
					}
					return nil
				}))
			}
			if tc.refuse {
				re.setFail("dan@plain.example")
			}
			first := newProcessor(t, testSettings(t, splitSpec()), ids, re, opts...)
			first.SetLedger(shared)
			res := first.Handle(context.Background(), newTx(hs, plainBody, rcpts...))
			if res.Reply.Accepted() != tc.firstOK {
				t.Fatalf("first attempt %v (%s)", res.Reply, res.Detail)
			}
			if !tc.firstOK && (res.Reply.Code != 451 || res.DeleteRecipients != nil || res.Body != nil) {
				t.Fatalf("first attempt must tempfail without edits: %+v", res)
			}

			re.setFail()
			second := newProcessor(t, testSettings(t, splitSpec()), ids, re) // a new process, same ledger
			second.SetLedger(shared)
			retry := newTx(slices.Clone(hs), plainBody, rcpts...)
			retry.QueueID = "4RETRY1"
			res = second.Handle(context.Background(), retry)
			if !res.Reply.Accepted() {
				t.Fatalf("retry %v (%s)", res.Reply, res.Detail)
			}
			// dan never stays in the transaction: bob's message in place
			// must not reach him a second way.
			if !reflect.DeepEqual(res.DeleteRecipients, []string{"dan@plain.example"}) {
				t.Errorf("retry DeleteRecipients %q, want dan", res.DeleteRecipients)
			}
			if n := len(re.copies()); n != tc.wantDans {
				t.Errorf("dan got %d copies, want %d", n, tc.wantDans)
			}
		})
	}
}

func TestHandleEncryptedIsNotSplit(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	re := &fakeReinjector{}
	spec := splitSpec()
	spec.Rules = append(spec.Rules, policy.RuleSpec{Name: "strict", Recipients: []string{"*@secure.example"}, Encrypt: "required", Fallback: "reject"})
	p := newProcessor(t, testSettings(t, spec), ids, re)
	rcpts := []string{"bob@partner.example", "dan@plain.example", "Carol@Partner.Example", "eve@secure.example"}
	hs := setHeader(baseHeaders(), "To", "bob@partner.example, dan@plain.example, eve@secure.example")
	hs = setHeader(hs, "Content-Type", `multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b1"`)
	hs = setHeader(hs, "Subject", "[secure] plans")
	res := p.Handle(context.Background(), newTx(hs, "opaque\r\n", rcpts...))
	if !res.Reply.Accepted() || res.Action != "none" || res.Body != nil || res.DeleteRecipients != nil || len(re.copies()) != 0 {
		t.Fatalf("encrypted mail: %+v, %d copies", res, len(re.copies()))
	}
	if want := []HeaderChange{{"Subject", 1, "plans"}}; !reflect.DeepEqual(res.ChangeHeaders, want) {
		t.Errorf("ChangeHeaders %+v, want %+v", res.ChangeHeaders, want)
	}
}

func TestHandleUsesRenewedCertificate(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	p := newProcessor(t, testSettings(t, policy.DefaultSpec()), ids, nil)
	serial := func() string {
		res := p.Handle(context.Background(), newTx(baseHeaders(), plainBody))
		if res.Action != "signed" {
			t.Fatalf("%v %s", res.Reply, res.Detail)
		}
		ct, _ := findHeader(res.AddHeaders, "Content-Type")
		verifySigned(t, ids, ct.Value, res.Body, "alice@corp.example")
		_, s, _ := strings.Cut(res.AddHeaders[2].Value, "serial=")
		return s
	}
	before := serial()
	if again := serial(); again != before {
		t.Fatalf("serial changed without renewal: %s → %s", before, again)
	}
	if _, err := ids.Issue(context.Background(), "alice@corp.example"); err != nil {
		t.Fatal(err)
	}
	id, _, err := ids.SigningIdentity(context.Background(), "alice@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	if after := serial(); after == before || after != id.Cert.SerialNumber.Text(16) {
		t.Errorf("after re-issue signed with serial %s, want the new %s (old %s)", after, id.Cert.SerialNumber.Text(16), before)
	}
}

// A subject tag is the internal sender's instruction to this gateway; an
// outside sender's subject is delivered as written.
func TestHandleInboundSubjectTagKept(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	p := newProcessor(t, testSettings(t, policy.DefaultSpec()), ids, nil)
	hs := setHeader(baseHeaders(), "From", "x@partner.example")
	hs = setHeader(hs, "Subject", "[secure] hello")
	tx := newTx(hs, plainBody, "alice@corp.example")
	tx.From = "x@partner.example"
	tx.Client.Addr = netip.MustParseAddr("198.51.100.7")
	res := p.Handle(context.Background(), tx)
	if !res.Reply.Accepted() || res.Direction != "inbound" || len(res.ChangeHeaders) != 0 {
		t.Fatalf("inbound [secure] mail: %+v", res)
	}
}

// Copies are rendered from the spool: a body cut off at max_message_size
// must never be re-injected as the message.
func TestHandleTooBigIsNotSplit(t *testing.T) {
	ids := openIdentities(t, t.TempDir())
	re := &fakeReinjector{}
	p := newProcessor(t, testSettings(t, splitSpec()), ids, re)
	rcpts := []string{"bob@partner.example", "dan@plain.example"}
	hs := setHeader(baseHeaders(), "To", "bob@partner.example, dan@plain.example")
	tx := newTx(hs, plainBody, rcpts...)
	tx.SpoolErr = errTooBig
	res := p.Handle(context.Background(), tx)
	if res.Reply.Code != 552 || res.Reply.Enhanced != "5.3.4" || len(re.copies()) != 0 || res.DeleteRecipients != nil {
		t.Fatalf("oversized split: %+v, %d copies", res, len(re.copies()))
	}
}

func TestRecipientInboundRequireTLS(t *testing.T) {
	spec := policy.DefaultSpec()
	spec.Rules = []policy.RuleSpec{{Name: "bank", Direction: "inbound", Senders: []string{"*@bank.example"}, RequireTLS: true}}
	p := newProcessor(t, testSettings(t, spec), openIdentities(t, t.TempDir()), nil)
	for _, tc := range []struct {
		name, from, tls string
		want            int
	}{
		{"plaintext from the bank", "x@bank.example", "", 550},
		{"STARTTLS from the bank", "x@bank.example", "TLSv1.3", 0},
		{"plaintext from someone else", "x@partner.example", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx := &Transaction{From: tc.from, Client: Client{Addr: netip.MustParseAddr("198.51.100.7"), TLSVersion: tc.tls}}
			r := p.Recipient(context.Background(), tx, "alice@corp.example")
			if r.Code != tc.want || (tc.want != 0 && r.Text != "this sender's mail must arrive over TLS (STARTTLS); the connection was not encrypted") {
				t.Fatalf("Recipient = %+v, want code %d", r, tc.want)
			}
		})
	}
}
