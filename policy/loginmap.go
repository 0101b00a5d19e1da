package policy

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// LoginMap says which envelope senders each SMTP AUTH login may use, in the
// spirit of Postfix's smtpd_sender_login_maps but keyed by login. A login
// may always send as itself when it is an address; the map adds more. The
// file format, one login per line:
//
//	# comment
//	alice      alice@corp.example, a.smith@corp.example
//	svc-crm    crm@corp.example
//	           sales@corp.example      (a line starting with a space continues the one before)
//	*          %u@corp.example
//
// "%u" stands for the login, and only for a login that is a plain local
// part (letters, digits, ".", "-", "_", "+"): a login "alice" may then send
// as alice@corp.example, a login "alice@partner.example" gains nothing from
// it. The login "*" applies to every login, in addition to its own line.
// Logins and addresses compare ignoring the case of ASCII letters only.
type LoginMap struct {
	source  string
	entries map[string]loginEntry // login → what it may send as; "*" for every login
}

type loginEntry struct {
	line      int
	addresses map[string]bool // exact addresses
	templates []string        // domains of "%u@domain" entries
}

// maxLoginMapLine bounds one line of the file (a mistaken binary file must
// not make the reader buffer without limit).
const maxLoginMapLine = 64 * 1024

// ParseLoginMap parses the login map file called name (used in errors,
// which name the file and line).
func ParseLoginMap(name string, data []byte) (*LoginMap, error) {
	m := &LoginMap{source: name, entries: map[string]loginEntry{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxLoginMapLine)
	var (
		login  string // the login the current logical line belongs to
		lineNo int
	)
	bad := func(format string, args ...any) error {
		return fmt.Errorf("policy: login map %s:%d: %s", name, lineNo, fmt.Sprintf(format, args...))
	}
	for sc.Scan() {
		lineNo++
		raw := strings.TrimRight(sc.Text(), " \t\r")
		text := strings.TrimSpace(raw)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		var values string
		if raw[0] == ' ' || raw[0] == '\t' {
			if login == "" {
				return nil, bad("continuation line without a login line before it")
			}
			values = text
		} else {
			key, rest, _ := strings.Cut(strings.ReplaceAll(text, "\t", " "), " ")
			login = LowerASCII(key)
			if err := checkLogin(login); err != nil {
				return nil, bad("%v", err)
			}
			if prev, dup := m.entries[login]; dup {
				return nil, bad("login %q is listed again (first on line %d)", key, prev.line)
			}
			m.entries[login] = loginEntry{line: lineNo, addresses: map[string]bool{}}
			values = strings.TrimSpace(rest)
			if values == "" {
				return nil, bad("login %q has no addresses (write `%s  addr1, addr2`)", key, key)
			}
		}
		e := m.entries[login]
		for _, v := range strings.FieldsFunc(values, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			addr := LowerASCII(v)
			if dom, ok := strings.CutPrefix(addr, "%u@"); ok {
				if err := checkMapAddress("u@" + dom); err != nil {
					return nil, bad("%q: %v", v, err)
				}
				e.templates = append(e.templates, dom)
				continue
			}
			if err := checkMapAddress(addr); err != nil {
				return nil, bad("%q: %v", v, err)
			}
			e.addresses[addr] = true
		}
		m.entries[login] = e
	}
	if err := sc.Err(); err != nil {
		lineNo++
		return nil, bad("%v", err)
	}
	return m, nil
}

// checkLogin accepts what Postfix can pass as {auth_authen}: printable
// ASCII without spaces, or "*".
func checkLogin(l string) error {
	if l == "" {
		return fmt.Errorf("empty login")
	}
	for i := 0; i < len(l); i++ {
		if c := l[i]; c <= ' ' || c >= 0x7f || c == ',' {
			return fmt.Errorf("login %q must be printable ASCII without spaces or commas", l)
		}
	}
	if strings.Contains(l, "%") {
		return fmt.Errorf("login %q must not contain %%", l)
	}
	return nil
}

// checkMapAddress accepts a bare ASCII address local@domain.
func checkMapAddress(a string) error {
	at := strings.LastIndexByte(a, '@')
	if at < 1 || at == len(a)-1 {
		return fmt.Errorf("is not an address local@domain (or %%u@domain)")
	}
	if !isASCII(a) || strings.ContainsAny(a, "*%\"<>()[];:\\") {
		return fmt.Errorf("must be a plain ASCII address without quotes, brackets, '*' or '%%' (other than a leading %%u)")
	}
	for i := 0; i < len(a); i++ {
		if a[i] <= ' ' || a[i] == 0x7f {
			return fmt.Errorf("contains a control character")
		}
	}
	return checkDomain(a[at+1:])
}

// Allows reports whether login (normalised: trimmed, ASCII lower case) may
// send as sender (normalised the same way). A nil map allows nothing.
func (m *LoginMap) Allows(login, sender string) bool {
	if m == nil || login == "" || sender == "" {
		return false
	}
	for _, key := range [...]string{login, "*"} {
		e, ok := m.entries[key]
		if !ok {
			continue
		}
		if e.addresses[sender] {
			return true
		}
		if plainLocal(login) {
			for _, dom := range e.templates {
				if len(sender) == len(login)+1+len(dom) && sender[:len(login)] == login && sender[len(login)] == '@' && sender[len(login)+1:] == dom {
					return true
				}
			}
		}
	}
	return false
}

// Source is the file the map was read from.
func (m *LoginMap) Source() string { return m.source }

// Len is the number of logins listed ("*" included).
func (m *LoginMap) Len() int { return len(m.entries) }

// plainLocal reports whether a login can stand for an address's local part
// in "%u@domain": a dot-atom of letters, digits, '.', '-', '_' and '+'.
func plainLocal(l string) bool {
	if l == "" || l[0] == '.' || l[len(l)-1] == '.' || strings.Contains(l, "..") {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == '+') {
			return false
		}
	}
	return true
}
