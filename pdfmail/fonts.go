package pdfmail

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"
)

// The Go fonts (golang.org/x/image/font/gofont) come with the module, so no font file
// is checked in. They cover WGL4: Latin, Greek and Cyrillic.
const (
	fontRegular = "regular"
	fontBold    = "bold"
)

// coverage answers whether the bundled fonts have a glyph for a rune. Regular and bold
// are checked both, since either may draw any text.
type coverage struct {
	fonts []*sfnt.Font
	mu    sync.Mutex
	known map[rune]bool
	buf   sfnt.Buffer
}

var (
	coverOnce sync.Once
	cover     *coverage
	coverErr  error
)

func fontCoverage() (*coverage, error) {
	coverOnce.Do(func() {
		c := &coverage{known: map[rune]bool{}}
		for _, ttf := range [][]byte{goregular.TTF, gobold.TTF} {
			f, err := sfnt.Parse(ttf)
			if err != nil {
				coverErr = fmt.Errorf("pdfmail: parse bundled font: %w", err)
				return
			}
			c.fonts = append(c.fonts, f)
		}
		cover = c
	})
	return cover, coverErr
}

func (c *coverage) has(r rune) bool {
	if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
		return false // control characters have no glyph to show
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok, seen := c.known[r]; seen {
		return ok
	}
	ok := true
	for _, f := range c.fonts {
		if gi, err := f.GlyphIndex(&c.buf, r); err != nil || gi == 0 {
			ok = false
			break
		}
	}
	c.known[r] = ok
	return ok
}

// showable returns s with every rune the fonts cannot draw replaced by a visible mark:
// U+FFFD when the font has it, else "?", followed by the code point ("[U+1F600]") so
// the reader knows what was there. Tabs become spaces up to the next multiple of 4.
// It reports how many runes were replaced.
func (c *coverage) showable(s string) (string, int) {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	clean := true
	for _, r := range s {
		if r == '\t' || !c.has(r) {
			clean = false
			break
		}
	}
	if clean {
		return s, 0
	}
	mark := "?"
	if c.has('\uFFFD') {
		mark = "\uFFFD"
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	col, n := 0, 0
	for _, r := range s {
		switch {
		case r == '\t':
			pad := 4 - col%4
			b.WriteString("    "[:pad])
			col += pad
			continue
		case c.has(r):
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, "%s[U+%04X]", mark, r)
			n++
		}
		col++
	}
	return b.String(), n
}
