package pdfmail

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/signintech/gopdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
)

// A4 in points, with margins wide enough for any printer.
const (
	pageW, pageH = 595.28, 841.89
	margin       = 50.0
	bottom       = pageH - margin - 20 // room for the page number
	fontSize     = 10.0
	lineH        = 13.5
	labelW       = 70.0
)

// page lays out text with our own word wrapping and pagination: every line of text
// that goes in comes out on some page (gopdf's MultiCell would drop the overflow).
type page struct {
	pdf   *gopdf.GoPdf
	cov   *coverage
	y     float64
	n     int // current page number
	label string
	font  string
	// widths caches each rune's advance per font, measured with gopdf once.
	widths   map[string]map[rune]float64
	replaced int
}

func newPage(cov *coverage, pageLabel string) (*page, error) {
	pdf := &gopdf.GoPdf{}
	pdf.Start(gopdf.Config{PageSize: gopdf.Rect{W: pageW, H: pageH}})
	if err := pdf.AddTTFFontData(fontRegular, goregular.TTF); err != nil {
		return nil, fmt.Errorf("pdfmail: load font: %w", err)
	}
	if err := pdf.AddTTFFontData(fontBold, gobold.TTF); err != nil {
		return nil, fmt.Errorf("pdfmail: load font: %w", err)
	}
	p := &page{pdf: pdf, cov: cov, label: pageLabel, widths: map[string]map[rune]float64{}}
	p.newPage()
	if err := p.setFont(fontRegular); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *page) setFont(name string) error {
	if err := p.pdf.SetFont(name, "", fontSize); err != nil {
		return fmt.Errorf("pdfmail: set font: %w", err)
	}
	p.font = name
	return nil
}

func (p *page) newPage() {
	p.pdf.AddPage()
	p.n++
	p.y = margin
	// The page number goes at the foot now, in the regular font.
	_ = p.pdf.SetFont(fontRegular, "", 8)
	p.pdf.SetXY(margin, pageH-margin)
	_ = p.pdf.Text(fmt.Sprintf("%s %d", p.label, p.n))
	if p.font != "" {
		_ = p.pdf.SetFont(p.font, "", fontSize)
	}
}

// width measures s in the current font from cached per-rune advances (the fonts are
// used without kerning, so a string is as wide as the sum of its runes).
func (p *page) width(s string) (float64, error) {
	m := p.widths[p.font]
	if m == nil {
		m = map[rune]float64{}
		p.widths[p.font] = m
	}
	var w float64
	for _, r := range s {
		rw, ok := m[r]
		if !ok {
			var err error
			if rw, err = p.pdf.MeasureTextWidth(string(r)); err != nil {
				return 0, fmt.Errorf("pdfmail: measure text: %w", err)
			}
			m[r] = rw
		}
		w += rw
	}
	return w, nil
}

// line writes one already wrapped line at x and moves down, starting a page first
// when the line would not fit.
func (p *page) line(x float64, s string) error {
	if p.y+lineH > bottom {
		p.newPage()
	}
	if strings.TrimSpace(s) != "" {
		p.pdf.SetXY(x, p.y+fontSize) // Text draws on the baseline
		if err := p.pdf.Text(s); err != nil {
			return fmt.Errorf("pdfmail: write text: %w", err)
		}
	}
	p.y += lineH
	return nil
}

// paragraph wraps one logical line (no '\n') to maxW and writes all its lines at x.
func (p *page) paragraph(x, maxW float64, s string) error {
	s, n := p.cov.showable(s)
	p.replaced += n
	lines, err := p.wrap(s, maxW)
	if err != nil {
		return err
	}
	for _, l := range lines {
		if err := p.line(x, l); err != nil {
			return err
		}
	}
	return nil
}

// text writes multi-line text, each line wrapped.
func (p *page) text(x, maxW float64, s string) error {
	for _, l := range strings.Split(s, "\n") {
		if err := p.paragraph(x, maxW, l); err != nil {
			return err
		}
	}
	return nil
}

// wrap breaks s into lines no wider than maxW: at spaces when it can, inside a word
// when the word alone is wider. Leading spaces (indentation) are kept; the spaces at
// a break are the only characters not carried to a line.
func (p *page) wrap(s string, maxW float64) ([]string, error) {
	if w, err := p.width(s); err != nil || w <= maxW {
		return []string{s}, err
	}
	var lines []string
	var cur strings.Builder
	curW := 0.0
	for len(s) > 0 {
		// Next token: a run of spaces or a run of non-spaces.
		i := 0
		space := s[0] == ' '
		for i < len(s) && (s[i] == ' ') == space {
			i++
		}
		tok := s[:i]
		s = s[i:]
		tw, err := p.width(tok)
		if err != nil {
			return nil, err
		}
		if curW+tw <= maxW {
			cur.WriteString(tok)
			curW += tw
			continue
		}
		if space {
			if cur.Len() > 0 { // break here; the spaces go
				lines = append(lines, cur.String())
				cur.Reset()
				curW = 0
			}
			continue
		}
		if cur.Len() > 0 && tw <= maxW {
			lines = append(lines, strings.TrimRight(cur.String(), " "))
			cur.Reset()
			cur.WriteString(tok)
			curW = tw
			continue
		}
		// A word wider than what is left: split it by runes.
		for len(tok) > 0 {
			r, size := utf8.DecodeRuneInString(tok)
			rw, err := p.width(tok[:size])
			if err != nil {
				return nil, err
			}
			if curW+rw > maxW && cur.Len() > 0 {
				lines = append(lines, cur.String())
				cur.Reset()
				curW = 0
			}
			cur.WriteRune(r)
			curW += rw
			tok = tok[size:]
		}
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines, nil
}

// rule draws a thin line across the text area and leaves some room.
func (p *page) rule() {
	if p.y+lineH > bottom {
		p.newPage()
		return
	}
	p.y += lineH / 3
	p.pdf.SetLineWidth(0.5)
	p.pdf.Line(margin, p.y, pageW-margin, p.y)
	p.y += lineH * 2 / 3
}
