package policy

import (
	"net/netip"
	"strings"
	"testing"
)

const testLoginMap = `# logins that are not addresses
alice      alice@corp.example, a.smith@corp.example
Svc-CRM    crm@corp.example
           sales@corp.example	 support@eu.corp.example
bob        %u@corp.example
*          %u@staff.corp.example

carol@corp.example  team@corp.example
`

func TestLoginMapAllows(t *testing.T) {
	m, err := ParseLoginMap("/etc/mailseal/logins", []byte(testLoginMap))
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != 5 || m.Source() != "/etc/mailseal/logins" {
		t.Errorf("Len %d, Source %q", m.Len(), m.Source())
	}
	for _, tc := range []struct {
		login, sender string
		want          bool
	}{
		{"alice", "alice@corp.example", true},
		{"alice", "a.smith@corp.example", true},
		{"alice", "bob@corp.example", false},
		{"svc-crm", "crm@corp.example", true},
		{"svc-crm", "sales@corp.example", true},      // continuation line
		{"svc-crm", "support@eu.corp.example", true}, // tab-separated
		{"svc-crm", "svc-crm@corp.example", false},
		{"bob", "bob@corp.example", true},
		{"bob", "bob@eu.corp.example", false},
		{"bob", "alice@corp.example", false},
		{"bob", "bob@staff.corp.example", true},   // "*" line
		{"dave", "dave@staff.corp.example", true}, // "*" line for an unlisted login
		{"dave", "dave@corp.example", false},
		{"dave", "x@staff.corp.example", false},
		{"carol@corp.example", "team@corp.example", true},
		// %u stands only for a plain local part.
		{"eve@partner.example", "eve@partner.example@staff.corp.example", false},
		{"eve@partner.example", "eve@staff.corp.example", false},
		{"a..b", "a..b@staff.corp.example", false},
		// The map is matched on normalised (ASCII-folded) input only.
		{"\u212Aate", "\u212Aate@staff.corp.example", false},
		{"", "x@staff.corp.example", false},
		{"alice", "", false},
	} {
		if got := m.Allows(tc.login, tc.sender); got != tc.want {
			t.Errorf("Allows(%q, %q) = %v, want %v", tc.login, tc.sender, got, tc.want)
		}
	}
	var none *LoginMap
	if none.Allows("alice", "alice@corp.example") {
		t.Error("nil map allows")
	}
}

func TestParseLoginMapErrors(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"alice\n", "f:1: login \"alice\" has no addresses"},
		{"# c\n  x@corp.example\n", "f:2: continuation line without a login line"},
		{"alice a@corp.example\nALICE b@corp.example\n", "f:2: login \"ALICE\" is listed again (first on line 1)"},
		{"alice <a@corp.example>\n", "f:1: \"<a@corp.example>\": must be a plain ASCII address"},
		{"alice a@\n", "f:1: \"a@\": is not an address"},
		{"alice corp.example\n", "f:1: \"corp.example\": is not an address"},
		{"alice *@corp.example\n", "f:1: \"*@corp.example\": must be a plain ASCII address"},
		{"alice %u@\n", "f:1: \"%u@\": is not an address"},
		{"alice \u212Aate@corp.example\n", "must be a plain ASCII address"},
		{"alice a@corp..example\n", "f:1: \"a@corp..example\": domain has an empty label"},
		{"al%ice a@corp.example\n", "f:1: login \"al%ice\" must not contain %"},
		{"\u212Aate a@corp.example\n", "must be printable ASCII"},
		{"alice a@corp.example\n" + strings.Repeat("x", maxLoginMapLine+1) + "\n", "f:2: "},
	} {
		_, err := ParseLoginMap("f", []byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "policy: login map f:") {
			t.Errorf("ParseLoginMap(%q) = %v, want an error with %q", tc.data, err, tc.want)
		}
	}
	if m, err := ParseLoginMap("empty", []byte("# nothing yet\n\n")); err != nil || m.Len() != 0 {
		t.Errorf("empty map: %v, %v", m, err)
	}
}

func TestDecideWithLoginMap(t *testing.T) {
	m, err := ParseLoginMap("f", []byte("alice %u@corp.example\nsvc shared@corp.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := &Settings{InternalDomains: []string{"corp.example"}, Sign: SignAlways, LoginMap: m}
	outside := netip.MustParseAddr("198.51.100.7")
	for _, tc := range []struct {
		auth, sender string
		sign         bool
		reason       string
	}{
		{"alice", "alice@corp.example", true, "authorised internal sender"},
		{"ALICE", "Alice@corp.example", true, "authorised internal sender"},
		{"svc", "shared@corp.example", true, "authorised internal sender"},
		{"bob@corp.example", "bob@corp.example", true, "authorised internal sender"}, // a login may always send as itself
		{"bob", "bob@corp.example", false, "client authenticated as bob, which is neither the envelope sender nor allowed to send as it by auth.login_maps"},
		{"alice", "shared@corp.example", false, "client authenticated as alice, which is neither the envelope sender nor allowed to send as it by auth.login_maps"},
	} {
		p := Decide(s, Facts{ClientAddr: outside, AuthUser: tc.auth, EnvelopeFrom: tc.sender, FromHeaders: []string{tc.sender}})
		if p.Sign != tc.sign || p.Reason != tc.reason || p.Unauthorised == tc.sign {
			t.Errorf("%s as %s: %+v, want sign %v reason %q", tc.auth, tc.sender, p, tc.sign, tc.reason)
		}
		if got := s.Authorised(tc.sender, tc.auth, outside); got != tc.sign {
			t.Errorf("Authorised(%s, %s) = %v", tc.sender, tc.auth, got)
		}
		if got := s.Unauthorised(tc.sender, tc.auth, outside); got == tc.sign {
			t.Errorf("Unauthorised(%s, %s) = %v", tc.sender, tc.auth, got)
		}
	}
	// Without the map, a login that is not an address signs for nobody.
	s.LoginMap = nil
	if p := Decide(s, Facts{ClientAddr: outside, AuthUser: "alice", EnvelopeFrom: "alice@corp.example", FromHeaders: []string{"alice@corp.example"}}); p.Sign || !p.Unauthorised {
		t.Errorf("without a login map: %+v", p)
	}
}

func TestUnauthorisedInternalCompile(t *testing.T) {
	for _, tc := range []struct {
		value  string
		reject bool
		bad    bool
	}{{"", false, false}, {"deliver", false, false}, {"reject", true, false}, {"Reject", false, true}, {"drop", false, true}} {
		s := DefaultSpec()
		s.UnauthorisedInternal = tc.value
		e, ps := Compile(s)
		if tc.bad {
			if len(ps) != 1 || ps[0].Key != "policy.unauthorised_internal" {
				t.Errorf("%q: problems %v", tc.value, ps)
			}
			continue
		}
		if len(ps) > 0 || e.RejectsUnauthorisedInternal() != tc.reject {
			t.Errorf("%q: problems %v, rejects %v", tc.value, ps, e.RejectsUnauthorisedInternal())
		}
	}
	r := UnauthorisedRejection("bob@corp.example")
	if r.Code != 550 || r.Enhanced != "5.7.1" || !strings.Contains(r.Text, "not logged in as that sender") {
		t.Errorf("rejection %+v", r)
	}
	r = UnauthorisedRejection("\u212Aate@corp.example")
	if r.Code != 550 || r.Enhanced != "5.7.1" || !strings.Contains(r.Text, "ASCII addresses only") {
		t.Errorf("rejection %+v", r)
	}
	s := &Settings{InternalDomains: []string{"corp.example"}}
	if !s.Unauthorised("\u212Aate@corp.example", "kate@corp.example", netip.Addr{}) || s.Unauthorised("\u212Aate@partner.example", "", netip.Addr{}) {
		t.Error("Unauthorised for non-ASCII senders")
	}
}

func FuzzParseLoginMap(f *testing.F) {
	f.Add([]byte(testLoginMap), "alice", "alice@corp.example")
	f.Add([]byte("* %u@corp.example\n \t%u@x.example,,y@z.example"), "bob", "bob@x.example")
	f.Add([]byte("\xff\xfe a@b\n#\n\t\n"), "\xff", "a@b")
	f.Fuzz(func(t *testing.T, data []byte, login, sender string) {
		m, err := ParseLoginMap("fuzz", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "policy: login map fuzz:") {
				t.Fatalf("error without file and line: %v", err)
			}
			return
		}
		login, sender = trimLower(login), trimLower(sender)
		if m.Allows(login, sender) {
			at := strings.LastIndexByte(sender, '@')
			if !isASCII(sender) || at < 1 || strings.ContainsAny(sender, " \t\r\n<>\"*%") {
				t.Fatalf("allows %q to send as %q", login, sender)
			}
		}
	})
}
