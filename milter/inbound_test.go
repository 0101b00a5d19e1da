package milter

import (
	"bytes"
	"context"
	"crypto/x509"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mailseal/mailseal/crypto/smime"
	"github.com/mailseal/mailseal/crypto/smime/smimetest"
	"github.com/mailseal/mailseal/policy"
	"github.com/mailseal/mailseal/treat"
	"github.com/mailseal/mailseal/trust"
)

// partnerPKI is a partner CA with one signer, made once per test binary.
type partnerPKI struct {
	ca, alice *smimetest.Cert
	anchors   string
}

var (
	partnerOnce sync.Once
	thePartner  *partnerPKI
	partnerErr  error
)

func getPartner(t testing.TB) *partnerPKI {
	t.Helper()
	partnerOnce.Do(func() {
		p := &partnerPKI{}
		if p.ca, partnerErr = smimetest.NewCA("Partner Root"); partnerErr != nil {
			return
		}
		if p.alice, partnerErr = smimetest.Issue(p.ca, smimetest.Template{CN: "Alice Partner", Emails: []string{"alice@partner.example"}}); partnerErr != nil {
			return
		}
		dir, err := os.MkdirTemp("", "inbound-test")
		if err != nil {
			partnerErr = err
			return
		}
		pemCA, _, err := smimetest.PEM(p.ca)
		if err != nil {
			partnerErr = err
			return
		}
		p.anchors = filepath.Join(dir, "partner-root.pem")
		partnerErr = os.WriteFile(p.anchors, pemCA, 0o600)
		thePartner = p
	})
	if partnerErr != nil {
		t.Fatal(partnerErr)
	}
	return thePartner
}

const partnerText = "Please pay invoice 4711.\r\nFrom the accounts team.\r\n"

// signedByAlice is the headers and body of a multipart/signed message
// from alice@partner.example to bob@corp.example.
func signedByAlice(t testing.TB, p *partnerPKI) ([]Header, []byte) {
	t.Helper()
	s, err := smime.NewSigner(p.alice.Key, p.alice.Cert, []*x509.Certificate{p.ca.Cert})
	if err != nil {
		t.Fatal(err)
	}
	e, err := treat.Sign(s, []treat.Field{{Name: "Content-Type", Value: "text/plain; charset=us-ascii"}}, strings.NewReader(partnerText))
	if err != nil {
		t.Fatal(err)
	}
	hs := []Header{
		{"Received", "from mail.partner.example by mx.corp.example (Postfix)"},
		{"From", "Alice Partner <alice@partner.example>"},
		{"To", "Bob <bob@corp.example>"},
		{"Subject", "Invoice 4711"},
		{"Authentication-Results", testAuthserv + "; smime=pass (forged)"},
		{"X-Mailseal-Signature", "smime=pass; forged"},
	}
	for _, f := range e.Fields {
		hs = append(hs, Header{f.Name, f.Value})
	}
	return hs, e.Body
}

func inboundTx(hs []Header, body []byte) *Transaction {
	return &Transaction{QueueID: "4IN", Client: Client{Addr: untrustedIP}, From: "alice@partner.example",
		Rcpts: []string{"bob@corp.example"}, Headers: hs, body: bytes.NewReader(body), BodySize: int64(len(body))}
}

func inboundProcessor(t *testing.T, spec policy.Spec, in InboundSettings) (*Processor, *Settings) {
	t.Helper()
	p := getPartner(t)
	if in.Verifier == nil {
		v, err := trust.New(trust.Options{AnchorFiles: []string{p.anchors}})
		if err != nil {
			t.Fatal(err)
		}
		in.Verifier = v
	}
	set := testSettings(t, spec)
	set.Inbound = in
	ids := openIdentities(t, t.TempDir())
	proc := newProcessor(t, set, ids, nil)
	proc.SetKeys(ids.Directory(), ids)
	return proc, set
}

func added(res Result, name string) (string, bool) {
	for _, h := range res.AddHeaders {
		if strings.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}

func TestInboundPassReportHarvest(t *testing.T) {
	p := getPartner(t)
	proc, _ := inboundProcessor(t, policy.DefaultSpec(), InboundSettings{Report: "de", Tags: SubjectTags{Pass: "[signiert]"}})
	hs, body := signedByAlice(t, p)
	res := proc.Handle(context.Background(), inboundTx(hs, body))
	if !res.Reply.Accepted() {
		t.Fatalf("reply %s (%s)", res.Reply, res.Detail)
	}
	ar, ok := added(res, "Authentication-Results")
	if !ok || !strings.HasPrefix(ar, testAuthserv+";\n\tsmime=pass") || !strings.Contains(ar, "body.smime-identifier=alice@partner.example") ||
		!strings.Contains(ar, `body.smime-issuer="CN=Partner Root,O=mailseal test"`) || !strings.Contains(ar, "body.smime-serial=") {
		t.Errorf("Authentication-Results %q", ar)
	}
	sig, _ := added(res, SignatureHeader)
	for _, w := range []string{"smime=pass", "kind=multipart/signed", "signer=alice@partner.example", `name="Alice Partner"`, "valid-until="} {
		if !strings.Contains(unfoldValue(sig), w) {
			t.Errorf("%s lacks %q: %q", SignatureHeader, w, sig)
		}
	}
	for _, line := range strings.Split(sig, "\n") {
		if len(line) > 998 {
			t.Errorf("line too long")
		}
	}
	// Forged verdicts are deleted (the strip step).
	if len(res.DeleteHeaders) < 2 {
		t.Errorf("forged verdicts not deleted: %v", res.DeleteHeaders)
	}
	if len(res.ChangeHeaders) != 1 || res.ChangeHeaders[0].Value != "[signiert] Invoice 4711" {
		t.Errorf("subject change %+v", res.ChangeHeaders)
	}
	// The report: multipart/mixed, the signed entity first, unchanged.
	ct, _ := added(res, "Content-Type")
	mt, params, err := mime.ParseMediaType(strings.ReplaceAll(ct, "\n\t", " "))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q %v", ct, err)
	}
	r := multipart.NewReader(bytes.NewReader(res.Body), params["boundary"])
	first, err := r.NextRawPart()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(first)
	if !bytes.Equal(got, body) {
		t.Error("the signed entity's body changed")
	}
	// The first part still verifies as a whole message of its own.
	var msg bytes.Buffer
	for _, h := range hs[1:4] {
		writeHeader(&msg, h.Name, h.Value)
	}
	writeHeader(&msg, "Content-Type", first.Header.Get("Content-Type"))
	msg.WriteString("\r\n")
	msg.Write(got)
	v, _ := trust.New(trust.Options{AnchorFiles: []string{p.anchors}})
	if vd := v.VerifyMessage(context.Background(), msg.Bytes()); vd.Result != trust.Pass {
		t.Errorf("the delivered signed part no longer verifies: %s %s", vd.Code, vd.Reason)
	}
	second, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(second.Header.Get("Content-Disposition"), "Signaturpruefbericht.txt") {
		t.Errorf("report disposition %q", second.Header.Get("Content-Disposition"))
	}
	text, _ := io.ReadAll(second)
	for _, w := range []string{"Signaturprüfbericht", "GÜLTIGE Signatur", "Alice Partner", "CN=Partner Root"} {
		if !strings.Contains(string(text), w) {
			t.Errorf("report lacks %q", w)
		}
	}
	// Harvested: the next mail to alice can be encrypted.
	smimeKey, _, err := proc.keySources().dir.Availability(context.Background(), "alice@partner.example")
	if err != nil || !smimeKey {
		t.Errorf("alice's certificate not harvested: %v", err)
	}
}

func TestInboundVerdicts(t *testing.T) {
	p := getPartner(t)
	hs, body := signedByAlice(t, p)
	tampered := bytes.Replace(body, []byte("4711"), []byte("4712"), 1)
	unsigned := []Header{{"From", "Alice Partner <alice@partner.example>"}, {"To", "bob@corp.example"},
		{"Subject", "[signed] Invoice 4711"}, {"Content-Type", "text/plain"}}
	rule := func(mode string) policy.Spec {
		s := policy.DefaultSpec()
		s.Rules = []policy.RuleSpec{{Name: "partner", Direction: "inbound", Senders: []string{"*@partner.example"}, RequireSignature: mode}}
		return s
	}
	tags := SubjectTags{Pass: "[signed]", Fail: "[signature INVALID]", Unverified: "[not verified]"}
	cases := []struct {
		name     string
		spec     policy.Spec
		in       InboundSettings
		hs       []Header
		body     []byte
		reply    string // "" = accepted
		ar       string // start of the A-R result
		subject  string
		harvests bool
	}{
		{"pass", policy.DefaultSpec(), InboundSettings{Tags: tags}, hs, body, "", "smime=pass", "[signed] Invoice 4711", true},
		{"tampered", policy.DefaultSpec(), InboundSettings{Tags: tags}, hs, tampered, "", "smime=fail", "[signature INVALID] Invoice 4711", false},
		{"unsigned, forged tag removed", policy.DefaultSpec(), InboundSettings{Tags: tags}, unsigned, []byte("hi\r\n"), "", "smime=none", "Invoice 4711", false},
		{"require reject: pass", rule("reject"), InboundSettings{}, hs, body, "", "smime=pass", "", true},
		{"require reject: unsigned", rule("reject"), InboundSettings{}, unsigned, []byte("hi\r\n"), "550 5.7.1 Mail from this sender must carry a valid signature", "", "", false},
		{"require reject: tampered", rule("reject"), InboundSettings{}, hs, tampered, "550 5.7.7 Mail from this sender must carry a valid signature", "", "", false},
		{"require tag: unsigned", rule("tag"), InboundSettings{Tags: tags}, unsigned, []byte("hi\r\n"), "", "smime=none", "[not verified] Invoice 4711", false},
		{"require tag: tampered", rule("tag"), InboundSettings{Tags: tags}, hs, tampered, "", "smime=fail", "[not verified] Invoice 4711", false},
		{"require reject: temperror", rule("reject"), InboundSettings{Verifier: nilVerifier{}}, hs, body, "451 4.7.5", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proc, _ := inboundProcessor(t, tc.spec, tc.in)
			res := proc.Handle(context.Background(), inboundTx(tc.hs, tc.body))
			if tc.reply != "" {
				if !strings.HasPrefix(res.Reply.String(), tc.reply) {
					t.Fatalf("reply %q, want %q", res.Reply, tc.reply)
				}
				if len(res.AddHeaders) != 0 || res.Body != nil {
					t.Error("a refused message has edits")
				}
				return
			}
			if !res.Reply.Accepted() {
				t.Fatalf("reply %s (%s)", res.Reply, res.Detail)
			}
			ar, _ := added(res, "Authentication-Results")
			if !strings.HasPrefix(ar, testAuthserv+";\n\t"+tc.ar) {
				t.Errorf("A-R %q, want %s", ar, tc.ar)
			}
			var subj string
			for _, c := range res.ChangeHeaders {
				if c.Name == "Subject" {
					subj = c.Value
				}
			}
			if subj != tc.subject {
				t.Errorf("subject %q, want %q", subj, tc.subject)
			}
			if res.Body != nil {
				t.Error("body replaced without a report")
			}
			has, _, _ := proc.keySources().dir.Availability(context.Background(), "alice@partner.example")
			if has != tc.harvests {
				t.Errorf("harvested = %v", has)
			}
		})
	}
}

// nilVerifier stands for a verifier that could not be built: it answers
// temperror, as the daemon does for its own failures.
type nilVerifier struct{}

func (nilVerifier) VerifyMessage(context.Context, []byte) *trust.Verdict {
	return internalVerdict("no verifier")
}

// A large signed message (a 12 MiB attachment) is verified whole and
// wrapped with its report without a byte of the signed entity changing.
func TestInboundLargeSignedMessage(t *testing.T) {
	p := getPartner(t)
	s, err := smime.NewSigner(p.alice.Key, p.alice.Cert, []*x509.Certificate{p.ca.Cert})
	if err != nil {
		t.Fatal(err)
	}
	var content strings.Builder
	content.WriteString("--mix\r\nContent-Type: text/plain\r\n\r\nThe drawings.\r\n--mix\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	line := strings.Repeat("QUJD", 19) + "\r\n"
	for content.Len() < 12<<20 {
		content.WriteString(line)
	}
	content.WriteString("--mix--\r\n")
	e, err := treat.Sign(s, []treat.Field{{Name: "Content-Type", Value: `multipart/mixed; boundary="mix"`}}, strings.NewReader(content.String()))
	if err != nil {
		t.Fatal(err)
	}
	hs := []Header{{"From", "Alice Partner <alice@partner.example>"}, {"To", "bob@corp.example"}, {"Subject", "Drawings"}}
	for _, f := range e.Fields {
		hs = append(hs, Header{f.Name, f.Value})
	}
	proc, _ := inboundProcessor(t, policy.DefaultSpec(), InboundSettings{Report: "en"})
	res := proc.Handle(context.Background(), inboundTx(hs, e.Body))
	if ar, _ := added(res, "Authentication-Results"); !strings.Contains(ar, "smime=pass") {
		t.Fatalf("A-R %q (%s)", ar, res.Detail)
	}
	if !bytes.Contains(res.Body, append([]byte("\r\n\r\n"), e.Body...)) {
		t.Error("the signed entity is not in the new body byte for byte")
	}
}

// An internal user's own certificate, seen in a signature that comes back
// in from outside (a list, a forward), is not harvested as a partner's.
func TestInboundDoesNotHarvestInternalSigners(t *testing.T) {
	p := getPartner(t)
	carol, err := smimetest.Issue(p.ca, smimetest.Template{CN: "Carol", Emails: []string{"carol@corp.example"}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := smime.NewSigner(carol.Key, carol.Cert, []*x509.Certificate{p.ca.Cert})
	if err != nil {
		t.Fatal(err)
	}
	e, err := treat.Sign(s, []treat.Field{{Name: "Content-Type", Value: "text/plain"}}, strings.NewReader("hi\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	hs := []Header{{"From", "carol@corp.example"}, {"To", "bob@corp.example"}, {"Subject", "list"}}
	for _, f := range e.Fields {
		hs = append(hs, Header{f.Name, f.Value})
	}
	proc, _ := inboundProcessor(t, policy.DefaultSpec(), InboundSettings{})
	tx := inboundTx(hs, e.Body)
	tx.From = "list-bounces@lists.example"
	res := proc.Handle(context.Background(), tx)
	if ar, _ := added(res, "Authentication-Results"); !strings.Contains(ar, "smime=pass") {
		t.Fatalf("A-R %q (%s)", ar, res.Detail)
	}
	if has, _, _ := proc.keySources().dir.Availability(context.Background(), "carol@corp.example"); has {
		t.Error("an internal user's certificate was harvested")
	}
}
