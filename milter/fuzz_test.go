package milter

import (
	"bytes"
	"context"
	"io"
	"mime"
	"net/mail"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/mailseal/mailseal/policy"
)

// fuzzHeaders turns raw into header fields as Postfix would show them: one
// field per "\n\n"-separated chunk, "Name:value"; names are printable ASCII
// without ':' and every line break in a value is followed by white space
// (Postfix never shows anything else).
func fuzzHeaders(raw string) []Header {
	var hs []Header
	for chunk := range strings.SplitSeq(raw, "\n\n") {
		name, value, _ := strings.Cut(chunk, ":")
		name = strings.Map(func(r rune) rune {
			if r < 33 || r > 126 || r == ':' {
				return -1
			}
			return r
		}, name)
		if name == "" {
			continue
		}
		var v strings.Builder
		for i := 0; i < len(value); i++ {
			c := value[i]
			switch c {
			case '\r':
				continue
			case '\n':
				v.WriteByte('\n')
				if i+1 >= len(value) || (value[i+1] != ' ' && value[i+1] != '\t') {
					v.WriteByte('\t')
				}
				continue
			}
			v.WriteByte(c)
		}
		hs = append(hs, Header{Name: name, Value: v.String()})
		if len(hs) >= 64 {
			break
		}
	}
	return hs
}

// mayBeSigned is the signing rule stated independently of policy.Decide: an
// internal envelope sender, proven by AUTH as exactly that address or by a
// trusted client without AUTH, and exactly one From: (not counting our own
// forged headers) naming that one address.
func mayBeSigned(tx *Transaction) bool {
	sender := strings.ToLower(strings.TrimSpace(tx.From))
	at := strings.LastIndexByte(sender, '@')
	if at < 1 {
		return false
	}
	domain := sender[at+1:]
	if domain != "corp.example" && !strings.HasSuffix(domain, ".corp.example") {
		return false
	}
	if auth := strings.ToLower(strings.TrimSpace(tx.AuthUser)); auth != "" {
		if auth != sender {
			return false
		}
	} else if !tx.Client.Addr.IsValid() || !netip.MustParsePrefix("10.0.0.0/8").Contains(tx.Client.Addr.Unmap()) {
		return false
	}
	var froms []string
	for _, h := range tx.Headers {
		if strings.EqualFold(h.Name, "From") {
			froms = append(froms, h.Value)
		}
	}
	if len(froms) != 1 {
		return false
	}
	p := mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil }}}
	list, err := p.ParseList(strings.ReplaceAll(froms[0], "\n", " "))
	return err == nil && len(list) == 1 && strings.ToLower(list[0].Address) == sender
}

func FuzzHandle(f *testing.F) {
	ids := openIdentities(f, f.TempDir())
	spec := policy.DefaultSpec()
	spec.Rules = []policy.RuleSpec{{Name: "no-sign", Recipients: []string{"*@plain.example"}, Sign: "never"}}
	set := testSettings(f, spec)

	join := func(hs []Header) string {
		var parts []string
		for _, h := range hs {
			parts = append(parts, h.Name+":"+h.Value)
		}
		return strings.Join(parts, "\n\n")
	}
	f.Add(join(baseHeaders()), []byte(plainBody), "alice@corp.example", "bob@partner.example", "", uint8(0))
	f.Add(join(forgedHeaders()), []byte(plainBody), "alice@corp.example", "bob@partner.example,Carol@Partner.Example,dan@plain.example", "", uint8(0))
	f.Add(join(baseHeaders()), []byte(plainBody), "alice@corp.example", "bob@partner.example", "alice@corp.example", uint8(1))
	f.Add(join(baseHeaders()), []byte(plainBody), "alice@corp.example", "bob@partner.example", "mallory@corp.example", uint8(1))
	f.Add(join(setHeader(baseHeaders(), "From", "ceo@corp.example")), []byte(plainBody), "alice@corp.example", "bob@partner.example", "", uint8(0))
	f.Add(join(setHeader(baseHeaders(), "Content-Type", `multipart/mixed; boundary="b"`)), []byte("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n"), "alice@corp.example", "bob@partner.example,carol@x.example", "", uint8(0))
	f.Add(join(setHeader(baseHeaders(), "Subject", "[secure] x")), []byte("x"), "alice@corp.example", "dan@plain.example", "", uint8(2))
	f.Add("From:alice@corp.example\n\nFrom:alice@corp.example", []byte{}, "alice@corp.example", "", "", uint8(0))
	f.Add("", []byte(nil), "", "bob@partner.example", "", uint8(0))

	f.Fuzz(func(t *testing.T, rawHeaders string, body []byte, from, rcptList, authUser string, flags uint8) {
		re := &fakeReinjector{}
		if flags&4 != 0 {
			re.setFail("dan@plain.example")
		}
		p := NewProcessor(set, ids, re, discardLogger())
		tx := &Transaction{
			QueueID:  "FUZZ",
			Client:   Client{Addr: untrustedIP},
			AuthUser: authUser,
			From:     from,
			Headers:  fuzzHeaders(rawHeaders),
			body:     bytes.NewReader(body),
		}
		switch flags & 3 {
		case 0:
			tx.Client.Addr = trustedIP
		case 2:
			tx.Client.Addr = netip.Addr{}
		}
		if flags&8 != 0 {
			tx.Client.TLSVersion = "TLSv1.3"
		}
		if rcptList != "" {
			tx.Rcpts = strings.Split(rcptList, ",")
		}
		if len(tx.Rcpts) > 16 {
			tx.Rcpts = tx.Rcpts[:16]
		}

		for _, r := range tx.Rcpts {
			_ = p.Recipient(context.Background(), tx, r)
		}
		res := p.Handle(context.Background(), tx)

		authorised := mayBeSigned(tx)
		if res.Direction == "outbound" && !authorised {
			t.Fatalf("outbound for an unauthorised sender: %+v", res)
		}
		if !res.Reply.Accepted() {
			if res.Body != nil || res.AddHeaders != nil || res.DeleteHeaders != nil || res.ChangeHeaders != nil || res.DeleteRecipients != nil {
				t.Fatalf("refusal %v carries edits", res.Reply)
			}
			if res.Reply.Code < 400 || res.Reply.Code > 599 || res.Reply.Enhanced == "" || res.Reply.Text == "" {
				t.Fatalf("bad reply %+v", res.Reply)
			}
			return
		}
		for _, c := range re.copies() {
			if !authorised && bytes.Contains(c.msg, []byte("multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"=_mailseal_")) {
				t.Fatalf("signed copy for an unauthorised sender")
			}
		}
		if res.Body != nil {
			if !authorised {
				t.Fatalf("signed body for an unauthorised sender %q (auth %q, client %v): %+v", tx.From, tx.AuthUser, tx.Client.Addr, res)
			}
			ct, ok := findHeader(res.AddHeaders, "Content-Type")
			if !ok || !strings.HasPrefix(ct.Value, "multipart/signed;") || res.Action != "signed" && !strings.HasPrefix(res.Action, "split:") {
				t.Fatalf("body replaced without multipart/signed: %+v", res)
			}
			if _, _, err := splitMultipartSigned(ct.Value, res.Body); err != nil {
				t.Fatalf("signed body: %v", err)
			}
		}
		// Every forged verdict header is deleted.
		for _, ref := range HeaderRefs(tx.Headers, func(h Header) bool {
			return strings.HasPrefix(strings.ToLower(h.Name)+"-", "x-mailseal-")
		}) {
			if !slices.Contains(res.DeleteHeaders, ref) {
				t.Fatalf("forged %s[%d] not deleted: %v", ref.Name, ref.Index, res.DeleteHeaders)
			}
		}
		// Removed recipients are spelt as in RCPT and each copy went out.
		for _, r := range res.DeleteRecipients {
			if !slices.Contains(tx.Rcpts, r) {
				t.Fatalf("DeleteRecipients %q not in Rcpts %q", r, tx.Rcpts)
			}
		}
		for _, c := range re.copies() {
			if !bytes.Contains(c.msg, []byte("\r\n\r\n")) && !bytes.HasPrefix(c.msg, []byte("\r\n")) {
				t.Fatalf("copy without header end")
			}
			hdr := c.msg[:bytes.Index(append(slices.Clone(c.msg), "\r\n\r\n"...), []byte("\r\n\r\n"))]
			lower := bytes.ToLower(append([]byte("\r\n"), hdr...))
			if n := bytes.Count(lower, []byte("\r\nx-mailseal-")) + bytes.Count(lower, []byte("\r\nx-mailseal:")); n != 1 {
				t.Fatalf("copy has %d X-Mailseal headers:\n%s", n, hdr)
			}
		}
	})
}
