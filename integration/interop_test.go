package integration

import (
	"bytes"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// mboxMail has "From " at the start of a line in a 7-bit part, in an
// already quoted-printable part (after a hard and after a soft break) and
// where our own quoted-printable encoding of an 8-bit part breaks a long
// line (25 "ü" fill one encoded line).
func mboxMail(from, to string) []byte {
	var b bytes.Buffer
	b.WriteString("From: Sender <" + from + ">\r\nTo: <" + to + ">\r\nSubject: mbox delivery\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n")
	b.WriteString("Message-ID: <" + time.Now().Format("150405.000000000") + "@mbox.test>\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/mixed; boundary=\"mb\"\r\n\r\n")
	b.WriteString("--mb\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n")
	b.WriteString(mboxSeven)
	b.WriteString("\r\n--mb\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	b.WriteString("Gr=C3=BC=C3=9Fe\r\nFrom the QP part=\r\nFrom after a soft break\r\n")
	b.WriteString("\r\n--mb\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(mboxEight)
	b.WriteString("\r\n--mb--\r\n")
	return b.Bytes()
}

const mboxSeven = "Hello,\r\nFrom the start of a line.\r\nBye"

var mboxEight = strings.Repeat("ü", 25) + "From the soft break on.\r\nFrom a hard break."

// mboxQuoted matches what an mboxrd reader unquotes does with a delivered message: one
// ">" goes from every line that starts with ">"s and "From ".
var mboxQuoted = regexp.MustCompile(`(?m)^>(>*From )`)

func TestSignedMailSurvivesMboxDelivery(t *testing.T) {
	d := newDaemon(t)
	d.Start()
	opts := d.PostfixOptions()
	opts.MboxQuote = true
	pf := postfixtest.Start(t, opts)
	if err := pf.Send(t, postfixtest.Mail{From: "alice@corp.example", To: []string{"bob@partner.example"},
		Data: mboxMail("alice@corp.example", "bob@partner.example"), SourceIP: trustedIP}); err != nil {
		t.Fatal(err)
	}
	raw := pf.WaitDelivered(t, "bob@partner.example", 1, deliveryTimeout)[0]
	if i := bytes.Index(raw, []byte("\n>From ")); i >= 0 {
		t.Errorf("mbox delivery quoted a line: %q", raw[max(0, i-80):min(len(raw), i+80)])
	}
	// An mboxo reader (which keeps ">From ") and an mboxrd reader (which
	// unquotes) must both get a message that verifies.
	for name, msg := range map[string][]byte{"mboxo": raw, "mboxrd": mboxQuoted.ReplaceAll(raw, []byte("$1"))} {
		t.Run(name, func(t *testing.T) {
			opensslVerify(t, d.CAFile(), msg)
			content, signature := signedParts(t, parseMail(t, msg))
			gpgsmVerify(t, d.CAFile(), content, signature)
			parts := leaves(t, content)
			want := []string{mboxSeven, "Grüße\r\nFrom the QP partFrom after a soft break\r\n", mboxEight}
			if len(parts) != len(want) {
				t.Fatalf("%d parts, want %d", len(parts), len(want))
			}
			for i, p := range parts {
				if string(p.Data) != want[i] {
					t.Errorf("part %d reads %q, want %q", i+1, p.Data, want[i])
				}
			}
		})
	}
}

// TestForwardedMessageKeepsAddresses forwards a message whose header is
// 8-bit Latin-1/cp1252 (as old clients write it): after signing, its From,
// To (a group) and Cc (a comment) still hold their addresses.
func TestForwardedMessageKeepsAddresses(t *testing.T) {
	d, pf := setup(t)
	var b bytes.Buffer
	b.WriteString("From: Sender <alice@corp.example>\r\nTo: <bob@partner.example>\r\nSubject: Fwd: Angebot\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n")
	b.WriteString("Message-ID: <" + time.Now().Format("150405.000000000") + "@fwd.test>\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/mixed; boundary=\"fw\"\r\n\r\n--fw\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n")
	b.WriteString("--fw\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString("From: J\xf6rg M\xfcller <joerg@example.de>\r\nTo: undisclosed-recipients: ;\r\n")
	b.WriteString("Cc: \x93Caf\xe9 Central\x94 <cafe@example.at> (Gesch\xe4ftsf\xfchrung)\r\nSubject: Angebot \x80 100\r\n")
	b.WriteString("Date: Wed, 25 Nov 2026 09:00:00 +0100\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nSch\xf6ne Gr\xfc\xdfe\r\n--fw--\r\n")
	if err := pf.Send(t, postfixtest.Mail{From: "alice@corp.example", To: []string{"bob@partner.example"}, Data: b.Bytes(), SourceIP: trustedIP}); err != nil {
		t.Fatal(err)
	}
	raw := pf.WaitDelivered(t, "bob@partner.example", 1, deliveryTimeout)[0]
	opensslVerify(t, d.CAFile(), raw)
	content, signature := signedParts(t, parseMail(t, raw))
	gpgsmVerify(t, d.CAFile(), content, signature)
	checkSevenBit(t, "signed content", content)

	parts := leaves(t, content)
	if len(parts) != 2 || parts[1].ContentType != "message/rfc822" {
		t.Fatalf("signed content parts %+v", parts)
	}
	inner, err := mail.ReadMessage(bytes.NewReader(parts[1].Data))
	if err != nil {
		t.Fatalf("forwarded message: %v\n%s", err, parts[1].Data)
	}
	for field, want := range map[string]mail.Address{
		"From": {Name: "Jörg Müller", Address: "joerg@example.de"},
		"Cc":   {Name: "“Café Central”", Address: "cafe@example.at"},
	} {
		as, err := inner.Header.AddressList(field)
		if err != nil || len(as) != 1 || *as[0] != want {
			t.Errorf("%s: %v, %v; want %v\n%s", field, as, err, want, parts[1].Data)
		}
	}
	unfolded := bytes.ReplaceAll(parts[1].Data, []byte("\r\n "), []byte(" "))
	for _, want := range []string{"\r\nTo: undisclosed-recipients: ;\r\n", "<cafe@example.at> (=?utf-8?q?Gesch=C3=A4ftsf=C3=BChrung?=)\r\n"} {
		if !bytes.Contains(unfolded, []byte(want)) {
			t.Errorf("forwarded header lacks %q:\n%s", want, parts[1].Data)
		}
	}
	if body := parts[1].Data[bytes.Index(parts[1].Data, []byte("\r\n\r\n"))+4:]; string(body) != "Sch=F6ne Gr=FC=DFe" {
		t.Errorf("forwarded body %q", body)
	}
}

// partHeaderMail has a text part whose header holds a line without a colon
// and an image whose Content-ID of cidLen octets the HTML part refers to.
func partHeaderMail(from, to string, cidLen int) (msg []byte, cid string) {
	cid = strings.Repeat("c", cidLen-len("@corp.example")) + "@corp.example"
	var b bytes.Buffer
	b.WriteString("From: Sender <" + from + ">\r\nTo: <" + to + ">\r\nSubject: part headers\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n")
	b.WriteString("Message-ID: <" + time.Now().Format("150405.000000000") + "@ph.test>\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/related; boundary=\"ph\"\r\n\r\n")
	b.WriteString("--ph\r\nContent-Type: text/plain; charset=utf-8\r\nthis line has no colon\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße\r\n")
	b.WriteString("--ph\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<img src=\"cid:" + cid + "\">\r\n")
	b.WriteString("--ph\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\nContent-ID: <" + cid + ">\r\n\r\niVBORw0KGgo=\r\n--ph--\r\n")
	return b.Bytes(), cid
}

// TestPartHeadersKeptIntact: a Content-ID is never cut (one that fits on a
// line is folded before it; one that cannot fit is refused with 5.6.0), and
// a part header line without a colon does not hide our encoding.
func TestPartHeadersKeptIntact(t *testing.T) {
	d, pf := setup(t)
	msg, cid := partHeaderMail("alice@corp.example", "bob@partner.example", 990)
	if err := pf.Send(t, postfixtest.Mail{From: "alice@corp.example", To: []string{"bob@partner.example"}, Data: msg, SourceIP: trustedIP}); err != nil {
		t.Fatal(err)
	}
	raw := pf.WaitDelivered(t, "bob@partner.example", 1, deliveryTimeout)[0]
	opensslVerify(t, d.CAFile(), raw)
	content, signature := signedParts(t, parseMail(t, raw))
	gpgsmVerify(t, d.CAFile(), content, signature)
	checkSevenBit(t, "signed content", content)
	if !bytes.Contains(content, []byte("\r\nContent-ID:\r\n <"+cid+">\r\n")) {
		t.Errorf("Content-ID not kept whole:\n%s", content)
	}
	parts := leaves(t, content)
	if len(parts) != 3 || string(parts[0].Data) != "this line has no colon\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße" {
		t.Errorf("text part reads %q (readers end the header at the line without a colon)", parts[0].Data)
	}

	long, _ := partHeaderMail("alice@corp.example", "carol@partner.example", 1100)
	r := pf.Submit(postfixtest.Mail{From: "alice@corp.example", To: []string{"carol@partner.example"}, Data: long, SourceIP: trustedIP})
	if len(r.Errors) != 1 || r.Errors[0].Code != 554 || !strings.HasPrefix(r.Errors[0].Msg, "5.6.0") ||
		!strings.Contains(r.Errors[0].Msg, "longer than 998 characters") {
		t.Fatalf("a Content-ID over 998 octets: %v, want 554 5.6.0", r.Error())
	}
	mustContain(t, d.Log(), "Content-ID has a word longer than 998 octets")
}
