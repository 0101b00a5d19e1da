package policy

import "testing"

func TestConfidential(t *testing.T) {
	def, _ := Compile(DefaultSpec())
	custom := DefaultSpec()
	custom.Confidential = ConfidentialSpec{
		SubjectTags: []string{"{SECRET}"},
		Headers:     []string{"X-Classification: secret", "X-Confidential"},
	}
	cus, ps := Compile(custom)
	if ps != nil {
		t.Fatal(ps)
	}
	none := DefaultSpec()
	none.Confidential = ConfidentialSpec{SubjectTags: []string{}, Sensitivity: false}
	off, _ := Compile(none)

	cases := []struct {
		name    string
		e       *Engine
		subject string
		headers []Header
		marked  bool
		why     string
		clean   string
	}{
		{"no marker", def, "Quarterly report", nil, false, "", "Quarterly report"},
		{"tag at start", def, "[secure] Quarterly report", nil, true, `subject tag "[secure]"`, "Quarterly report"},
		{"tag at end, other case", def, "Quarterly report [SECURE]", nil, true, `subject tag "[secure]"`, "Quarterly report"},
		{"tag in the middle", def, "Re:  [Confidential]   the  deal", nil, true, `subject tag "[confidential]"`, "Re: the  deal"},
		{"tag glued to text", def, "Re:[secure]x", nil, true, `subject tag "[secure]"`, "Re:x"},
		{"two tags", def, "[secure] [vertraulich] Angebot", nil, true, `subject tag "[secure]"`, "Angebot"},
		{"tag repeated", def, "[secure] a [secure] b", nil, true, `subject tag "[secure]"`, "a b"},
		{"nested tag", def, "[se[secure]cure] x", nil, true, `subject tag "[secure]"`, "x"},
		{"only a tag", def, "[secure]", nil, true, `subject tag "[secure]"`, ""},
		{"Q-encoded subject", def, "=?utf-8?q?=5BVertraulich=5D_=C3=9Cbersicht?=", nil, true, `subject tag "[vertraulich]"`, "Übersicht"},
		{"B-encoded subject", def, "=?UTF-8?B?W1NFQ1VSRV0gR2VoYWx0?=", nil, true, `subject tag "[secure]"`, "Gehalt"},
		{"folded subject", def, "A long\n\t[secure] subject", nil, true, `subject tag "[secure]"`, "A long subject"},
		{"unknown charset still matched", def, "=?x-unknown?q?=5Bsecure=5D_hi?=", nil, true, `subject tag "[secure]"`, "hi"},
		{"look-alike tag", def, "[secur] x", nil, false, "", "[secur] x"},
		{"Sensitivity Private", def, "hi", []Header{{"Sensitivity", " private"}}, true, "Sensitivity: private", "hi"},
		{"Sensitivity Company-Confidential", def, "hi", []Header{{"sensitivity", "Company-Confidential"}}, true, "Sensitivity: Company-Confidential", "hi"},
		{"Sensitivity Personal is not", def, "hi", []Header{{"Sensitivity", "Personal"}}, false, "", "hi"},
		{"Sensitivity off", off, "hi", []Header{{"Sensitivity", "Private"}}, false, "", "hi"},
		{"tags off", off, "[secure] hi", nil, false, "", "[secure] hi"},
		{"custom tag", cus, "{secret} hi", nil, true, `subject tag "{SECRET}"`, "hi"},
		{"custom tags replace defaults", cus, "[secure] hi", nil, false, "", "[secure] hi"},
		{"header with value", cus, "hi", []Header{{"x-classification", " SECRET "}}, true, `header "X-Classification: secret"`, "hi"},
		{"header with other value", cus, "hi", []Header{{"X-Classification", "public"}}, false, "", "hi"},
		{"header presence", cus, "hi", []Header{{"X-CONFIDENTIAL", ""}}, true, `header "X-Confidential"`, "hi"},
		{"subject tag wins over header", cus, "{secret} hi", []Header{{"X-Confidential", "1"}}, true, `subject tag "{SECRET}"`, "hi"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			marked, why, clean := tc.e.Confidential(tc.subject, tc.headers)
			if marked != tc.marked || why != tc.why || clean != tc.clean {
				t.Fatalf("Confidential = %v, %q, %q; want %v, %q, %q", marked, why, clean, tc.marked, tc.why, tc.clean)
			}
		})
	}
}

func TestIndexFold(t *testing.T) {
	for _, tc := range []struct {
		s, sub string
		a, b   int
	}{
		{"abc", "B", 1, 2}, {"xÜBER", "über", 1, 6}, {"KELVIN \u212a", "k", 0, 1}, {"\u212a", "k", 0, 3}, {"abc", "", -1, -1}, {"ab", "abc", -1, -1},
	} {
		if a, b := indexFold(tc.s, tc.sub); a != tc.a || b != tc.b {
			t.Errorf("indexFold(%q, %q) = %d, %d; want %d, %d", tc.s, tc.sub, a, b, tc.a, tc.b)
		}
	}
}
