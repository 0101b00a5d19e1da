package integration

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

const deliveryTimeout = 90 * time.Second

const utf8Text = "Grüße aus Zürich!\r\nÜmlaute, ß, € and 日本語 stay intact.\r\n" +
	"A line with trailing space \r\nFrom the start of a line.\r\n.\r\nLast line.\r\n"

// internalMail builds a message like a mail client sends: an 8-bit UTF-8
// text part and a base64 attachment.
func internalMail(from, to, subject string, attachment []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Sender <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n", from, to, subject)
	fmt.Fprintf(&b, "Message-ID: <%d.%s>\r\nMIME-Version: 1.0\r\n", time.Now().UnixNano(), from)
	b.WriteString("Content-Type: multipart/mixed; boundary=\"outer-boundary\"\r\n\r\n")
	b.WriteString("This is a multi-part message in MIME format.\r\n--outer-boundary\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(utf8Text)
	b.WriteString("--outer-boundary\r\n")
	b.WriteString("Content-Type: application/octet-stream; name=\"data.bin\"\r\n")
	b.WriteString("Content-Disposition: attachment; filename=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(attachment)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--outer-boundary--\r\n")
	return b.Bytes()
}

func plainMail(from, to, subject string, extraHeaders ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: <%d@test>\r\n",
		from, to, subject, time.Now().UnixNano())
	for _, h := range extraHeaders {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\nHello,\r\nthis is a plain test message.\r\n")
	return b.Bytes()
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// setup starts mailseal and a Postfix that uses it.
func setup(t *testing.T) (*daemon, *postfixtest.Instance) {
	d := newDaemon(t)
	d.Start()
	pf := postfixtest.Start(t, d.PostfixOptions())
	return d, pf
}

func TestOutboundMailIsSignedAndVerifiesWithOpenSSLAndGpgsm(t *testing.T) {
	d, pf := setup(t)
	attachment := randomBytes(t, 2<<20)
	msg := internalMail("alice@corp.example", "bob@partner.example", "Quarterly figures", attachment)
	if err := pf.Send(t, postfixtest.Mail{From: "alice@corp.example", To: []string{"bob@partner.example"}, Data: msg, SourceIP: trustedIP}); err != nil {
		t.Fatal(err)
	}
	raw := pf.WaitDelivered(t, "bob@partner.example", 1, deliveryTimeout)[0]
	m := parseMail(t, raw)

	// Envelope headers stay outside the signature, untouched.
	for name, want := range map[string]string{"From": "Sender <alice@corp.example>", "To": "<bob@partner.example>", "Subject": "Quarterly figures"} {
		if got := m.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if got := m.Header.Values("X-Mailseal-Trace"); len(got) != 1 || !strings.Contains(got[0], authservID+"; signed; signer=alice@corp.example") {
		t.Errorf("trace header %q", got)
	}
	if m.Header.Get("Content-Transfer-Encoding") != "" {
		t.Error("outer Content-Transfer-Encoding left behind")
	}
	checkSevenBit(t, "signed body", m.Body)

	content, signature := signedParts(t, m)
	caFile := d.CAFile()
	inner, signer := opensslVerify(t, caFile, raw)
	if !bytes.Equal(bytes.ReplaceAll(inner, []byte("\r\n"), []byte("\n")), bytes.ReplaceAll(content, []byte("\r\n"), []byte("\n"))) {
		t.Error("openssl's signed content differs from the first MIME part")
	}
	if len(signer.EmailAddresses) != 1 || signer.EmailAddresses[0] != "alice@corp.example" {
		t.Errorf("signer certificate emails %v", signer.EmailAddresses)
	}
	hasEKU := false
	for _, u := range signer.ExtKeyUsage {
		hasEKU = hasEKU || u == x509.ExtKeyUsageEmailProtection
	}
	if !hasEKU {
		t.Error("signer certificate lacks emailProtection")
	}
	if out, err := run(t, nil, "openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", writeTemp(t, signature)); err != nil {
		t.Fatalf("openssl cms -cmsout: %v", err)
	} else {
		mustContain(t, out, "sha256")
		mustContain(t, out, "signingTime")
		mustContain(t, out, "S/MIME Capabilities")
	}
	gpgsmVerify(t, caFile, content, signature)
	// openssl and gpgsm accepted it under a CA limited to our domains.
	if pemCA, err := os.ReadFile(caFile); err != nil {
		t.Fatal(err)
	} else if block, _ := pem.Decode(pemCA); block == nil {
		t.Fatal("CA file is not PEM")
	} else if ca, err := x509.ParseCertificate(block.Bytes); err != nil || !slices.Equal(ca.PermittedEmailAddresses, []string{"corp.example", ".corp.example"}) {
		t.Errorf("CA name constraints %v (%v), want corp.example and its subdomains", ca.PermittedEmailAddresses, err)
	}

	// What the recipient reads is what alice wrote.
	parts := leaves(t, content)
	if len(parts) != 2 {
		t.Fatalf("signed content has %d leaf parts, want 2", len(parts))
	}
	// The CRLF before a boundary belongs to the boundary (RFC 2046), in the
	// original message as in the signed one.
	if want := strings.TrimSuffix(utf8Text, "\r\n"); parts[0].ContentType != "text/plain" || string(parts[0].Data) != want {
		t.Errorf("text part changed:\n%q\nwant\n%q", parts[0].Data, want)
	}
	if parts[1].Filename != "data.bin" || !bytes.Equal(parts[1].Data, attachment) {
		t.Errorf("attachment changed: %q, %d bytes", parts[1].Filename, len(parts[1].Data))
	}
	mustContain(t, d.Metrics(), `mailseal_messages_total{action="signed",direction="outbound",result="accept"} 1`)
}

func TestCertificateIsIssuedOnceAndReused(t *testing.T) {
	d, pf := setup(t)
	caFile := d.CAFile()
	send := func(from, subject string) {
		if err := pf.Send(t, postfixtest.Mail{From: from, To: []string{"bob@partner.example"}, Data: plainMail(from, "bob@partner.example", subject), SourceIP: trustedIP}); err != nil {
			t.Error(err)
		}
	}
	send("alice@corp.example", "one")
	send("alice@corp.example", "two")
	// Carol's first mails arrive in parallel: still exactly one certificate.
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() { defer wg.Done(); send("carol@corp.example", fmt.Sprint("parallel ", i)) }()
	}
	wg.Wait()
	delivered := pf.WaitDelivered(t, "bob@partner.example", 8, deliveryTimeout)
	serials := map[string]map[string]bool{}
	for _, raw := range delivered {
		_, signer := opensslVerify(t, caFile, raw)
		email := signer.EmailAddresses[0]
		if serials[email] == nil {
			serials[email] = map[string]bool{}
		}
		serials[email][serialOf(signer)] = true
	}
	if len(serials) != 2 || len(serials["alice@corp.example"]) != 1 || len(serials["carol@corp.example"]) != 1 {
		t.Fatalf("signing certificates per sender: %v (want one each for alice and carol)", serials)
	}
	out, err := d.CLI("certs", "list")
	if err != nil {
		t.Fatalf("certs list: %v\n%s", err, out)
	}
	if strings.Count(out, "alice@corp.example") != 1 || strings.Count(out, "carol@corp.example") != 1 {
		t.Errorf("certs list:\n%s", out)
	}
	for serial := range serials["alice@corp.example"] {
		mustContain(t, strings.ToLower(out), serial)
	}
	mustContain(t, d.Metrics(), "mailseal_certificates_issued_total 2")
}

// receivedHeader matches Postfix's own Received: header (first field, folded).
var receivedHeader = regexp.MustCompile(`^Received: [^\r]*\r\n(?:[ \t][^\r]*\r\n)*`)

func TestUnauthorisedMailIsNotSigned(t *testing.T) {
	_, pf := setup(t)
	cases := []struct {
		name, from, headerFrom, rcpt string
		source                       []byte
	}{
		{"outside sender", "news@partner.example", "news@partner.example", "u1@corp.example", untrustedIP},
		{"outside client forging an internal sender", "ceo@corp.example", "ceo@corp.example", "u2@corp.example", untrustedIP},
		{"trusted client, From: differs from envelope", "alice@corp.example", "ceo@corp.example", "u3@partner.example", trustedIP},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := internalMail(tc.headerFrom, tc.rcpt, tc.name, randomBytes(t, 3000))
			if err := pf.Send(t, postfixtest.Mail{From: tc.from, To: []string{tc.rcpt}, Data: msg, SourceIP: tc.source}); err != nil {
				t.Fatal(err)
			}
			raw := pf.WaitDelivered(t, tc.rcpt, 1, deliveryTimeout)[0]
			got := receivedHeader.ReplaceAll(raw, nil)
			// Mail to internal recipients gets our verdict on its (missing)
			// signature; nothing else changes.
			verdict := regexp.MustCompile(`(?m)^(Authentication-Results: ` + authservID + `;|X-Mailseal-Signature: )[^\r]*\r\n([ \t][^\r]*\r\n)*`)
			if strings.HasSuffix(tc.rcpt, "@corp.example") {
				if n := len(verdict.FindAll(got, -1)); n != 2 || !bytes.Contains(got, []byte("smime=none")) {
					t.Errorf("%d verdict headers (want Authentication-Results and X-Mailseal-Signature with smime=none)", n)
				}
				got = verdict.ReplaceAll(got, nil)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("message changed on the way:\n%s\n---want---\n%s", head(got), head(msg))
			}
		})
	}
}

func TestForgedVerdictHeadersAreRemoved(t *testing.T) {
	_, pf := setup(t)
	forged := []string{
		"X-Mailseal-Trace: " + authservID + "; signed; signer=ceo@corp.example",
		"X-MAILSEAL-Verdict: trusted",
		"Authentication-Results: " + authservID + "; smime=pass header.from=ceo@corp.example",
		"Authentication-Results: other.example; dkim=pass header.d=partner.example",
		"Authentication-Results: MX.CORP.EXAMPLE 1;\r\n\tsmime=pass",
	}
	cases := []struct {
		name, from, rcpt string
		source           []byte
		wantTrace        int
	}{
		{"inbound", "x@partner.example", "inbound@corp.example", untrustedIP, 0},
		{"outbound", "alice@corp.example", "outbound@partner.example", trustedIP, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := plainMail(tc.from, tc.rcpt, "forged", forged...)
			if err := pf.Send(t, postfixtest.Mail{From: tc.from, To: []string{tc.rcpt}, Data: msg, SourceIP: tc.source}); err != nil {
				t.Fatal(err)
			}
			m := parseMail(t, pf.WaitDelivered(t, tc.rcpt, 1, deliveryTimeout)[0])
			if got := m.Header.Values("X-Mailseal-Verdict"); len(got) != 0 {
				t.Errorf("forged X-Mailseal-Verdict kept: %q", got)
			}
			trace := m.Header.Values("X-Mailseal-Trace")
			if len(trace) != tc.wantTrace || (tc.wantTrace == 1 && !strings.Contains(trace[0], "signer=alice@corp.example")) {
				t.Errorf("trace headers %q, want %d of ours", trace, tc.wantTrace)
			}
			// Inbound mail gets our own verdict (unsigned: smime=none);
			// of the forged ones only the other.example one stays.
			var theirs, ours []string
			for _, v := range m.Header.Values("Authentication-Results") {
				if strings.HasPrefix(v, authservID+";") {
					ours = append(ours, v)
				} else {
					theirs = append(theirs, v)
				}
			}
			if len(theirs) != 1 || !strings.HasPrefix(theirs[0], "other.example;") {
				t.Errorf("Authentication-Results %q, want only the other.example one", theirs)
			}
			wantOurs := 0
			if tc.name == "inbound" {
				wantOurs = 1
			}
			if len(ours) != wantOurs || (wantOurs == 1 && !strings.Contains(ours[0], "smime=none")) {
				t.Errorf("our Authentication-Results %q, want %d with smime=none", ours, wantOurs)
			}
		})
	}
}

func TestMailWaitsInQueueWhileMailsealIsDown(t *testing.T) {
	d := newDaemon(t)
	back := postfixtest.Start(t, postfixtest.Options{Milter: d.MilterSocket()})
	msg := internalMail("alice@corp.example", "bob@partner.example", "while down", randomBytes(t, 5000))

	// Submitted straight to the milter-protected Postfix: refused for now.
	r := back.Submit(postfixtest.Mail{From: "alice@corp.example", To: []string{"bob@partner.example"}, Data: msg, SourceIP: trustedIP})
	if len(r.Errors) == 0 || r.Errors[0].Code != 451 || !strings.HasPrefix(r.Errors[0].Msg, "4.") {
		t.Fatalf("with mailseal down, submission got %v; want 451 4.x.x", r.Error())
	}

	// Through a relaying Postfix in front, like a real mail flow: the mail
	// waits in that queue and is delivered signed once mailseal is back.
	front := postfixtest.Start(t, postfixtest.Options{ExtraMain: map[string]string{
		"default_transport": "smtp", "relay_transport": "smtp",
		"relayhost": "[" + strings.Replace(back.SMTPAddr, ":", "]:", 1), "smtp_bind_address": trustedIP.String(),
	}})
	if err := front.Send(t, postfixtest.Mail{From: "alice@corp.example", To: []string{"bob@partner.example"}, Data: msg}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(front.Log(), "status=deferred") {
		if time.Now().After(deadline) {
			t.Fatalf("front Postfix never deferred the message:\n%s", front.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(front.QueueIDs(t)); n != 1 {
		t.Fatalf("%d messages queued in front, want 1", n)
	}
	if got := back.Delivered("bob@partner.example"); len(got) != 0 {
		t.Fatal("message delivered while mailseal was down")
	}

	d.Start()
	front.Flush(t)
	raw := back.WaitDelivered(t, "bob@partner.example", 1, deliveryTimeout)[0]
	opensslVerify(t, d.CAFile(), raw)
	front.WaitQueueEmpty(t, 30*time.Second)
}

func TestReloadWithBrokenConfigKeepsMailFlowing(t *testing.T) {
	d, pf := setup(t)
	caFile := d.CAFile()
	sendAndVerify := func(from, rcpt string) {
		t.Helper()
		if err := pf.Send(t, postfixtest.Mail{From: from, To: []string{rcpt}, Data: plainMail(from, rcpt, "reload"), SourceIP: trustedIP}); err != nil {
			t.Fatal(err)
		}
		_, signer := opensslVerify(t, caFile, pf.WaitDelivered(t, rcpt, 1, deliveryTimeout)[0])
		if signer.EmailAddresses[0] != from {
			t.Fatalf("signed as %v, want %s", signer.EmailAddresses, from)
		}
	}
	sendAndVerify("alice@corp.example", "r1@partner.example")

	good := d.BaseConfig()
	d.WriteConfig(good + "lisen: typo\n")
	d.Signal(syscall.SIGHUP)
	d.WaitLog("reload failed, keeping the running configuration", 10*time.Second)
	mustContain(t, d.Log(), `lisen: unknown key`)
	sendAndVerify("alice@corp.example", "r2@partner.example")

	// A good config is taken over without a restart: dave@other.example is
	// internal now. The built-in CA was made for corp.example only (its name
	// constraints), so it refuses to certify him, and his mail waits (451)
	// rather than leaving unsigned or with a certificate partners reject.
	d.WriteConfig(strings.Replace(good, "internal_domains: [corp.example]", "internal_domains: [corp.example, other.example]", 1))
	d.Signal(syscall.SIGHUP)
	d.WaitLog("configuration reloaded", 10*time.Second)
	d.WaitLog("ca: internal domain other.example is outside the name constraints", 10*time.Second)
	err := pf.Send(t, postfixtest.Mail{From: "dave@other.example", To: []string{"r3@partner.example"}, Data: plainMail("dave@other.example", "r3@partner.example", "reload"), SourceIP: trustedIP})
	var se *postfixtest.SMTPError
	if !errors.As(err, &se) || se.Stage != "DOT" || se.Code != 451 {
		t.Fatalf("dave@other.example after reload: %v, want 451 at end of data", err)
	}
	d.WaitLog("dave@other.example is outside the CA's name constraints (corp.example, .corp.example)", 10*time.Second)
	sendAndVerify("alice@corp.example", "r4@partner.example")
	mustContain(t, d.Metrics(), `mailseal_config_reloads_total{result="error"} 1`)
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	p := t.TempDir() + "/blob"
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSignedMailIsNotSignedAgain(t *testing.T) {
	d, pf := setup(t)
	first := internalMail("alice@corp.example", "bob@partner.example", "once", randomBytes(t, 1000))
	if err := pf.Send(t, postfixtest.Mail{From: "alice@corp.example", To: []string{"bob@partner.example"}, Data: first, SourceIP: trustedIP}); err != nil {
		t.Fatal(err)
	}
	signed := receivedHeader.ReplaceAll(pf.WaitDelivered(t, "bob@partner.example", 1, deliveryTimeout)[0], nil)
	// Our own trace header would be stripped on the way in; drop it so the
	// resent message is compared with what the sender's client sent.
	signed = regexp.MustCompile(`(?m)^X-Mailseal-Trace: [^\r]*\r\n`).ReplaceAll(signed, nil)

	// The same sender sends the already signed message again (a client that
	// signs itself looks the same): it must pass untouched.
	if err := pf.Send(t, postfixtest.Mail{From: "alice@corp.example", To: []string{"carol@partner.example"}, Data: signed, SourceIP: trustedIP}); err != nil {
		t.Fatal(err)
	}
	again := receivedHeader.ReplaceAll(pf.WaitDelivered(t, "carol@partner.example", 1, deliveryTimeout)[0], nil)
	if !bytes.Equal(again, signed) {
		t.Fatalf("signed mail was changed:\n%s\n---want---\n%s", head(again), head(signed))
	}
	opensslVerify(t, d.CAFile(), again)
}
