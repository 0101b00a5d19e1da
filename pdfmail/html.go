package pdfmail

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// htmlToText turns an HTML body into readable text: block elements become line
// breaks, links are written "text <url>", images their alt text, script and style
// are dropped. It never fails; on a parser panic the raw markup is shown instead.
func htmlToText(src string) (out string) {
	defer func() {
		if r := recover(); r != nil {
			out = src
		}
	}()
	doc, err := html.Parse(strings.NewReader(src))
	if err != nil {
		return src
	}
	c := &htmlConv{}
	c.node(doc)
	return strings.TrimSpace(c.b.String())
}

type htmlConv struct {
	b       strings.Builder
	pre     int  // depth inside <pre>
	space   bool // a space is pending
	newline int  // newlines pending (0, 1 or 2)
	started bool // some text written
}

func (c *htmlConv) text(s string) {
	if c.pre > 0 {
		c.flush()
		c.b.WriteString(s)
		c.started = c.started || s != ""
		return
	}
	fields := strings.Fields(s)
	if len(fields) == 0 {
		c.space = c.space || s != ""
		return
	}
	if isSpaceByte(s[0]) {
		c.space = true
	}
	for i, f := range fields {
		if i > 0 || c.space {
			c.sep()
		} else {
			c.flush()
		}
		c.b.WriteString(f)
		c.started = true
	}
	c.space = isSpaceByte(s[len(s)-1])
}

func isSpaceByte(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f'
}

// sep writes the pending separator: the pending line breaks, else one space.
func (c *htmlConv) sep() {
	switch {
	case c.newline > 0:
		c.flush()
	case c.started:
		c.b.WriteByte(' ')
	}
}

// flush writes pending line breaks (none before the first text).
func (c *htmlConv) flush() {
	if c.newline > 0 && c.started {
		c.b.WriteString(strings.Repeat("\n", c.newline))
	}
	c.newline = 0
}

func (c *htmlConv) breakLine(n int) {
	if n > c.newline {
		c.newline = n
	}
	c.space = false
}

func (c *htmlConv) children(n *html.Node) {
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		c.node(ch)
	}
}

func (c *htmlConv) node(n *html.Node) {
	switch n.Type {
	case html.TextNode:
		c.text(n.Data)
		return
	case html.DocumentNode:
		c.children(n)
		return
	case html.ElementNode:
	default:
		return
	}
	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Head, atom.Template, atom.Noscript:
		return
	case atom.Br:
		c.breakLine(1)
		c.flushBreak()
		return
	case atom.Hr:
		c.breakLine(1)
		c.text("----------")
		c.breakLine(1)
		return
	case atom.Img:
		if alt := strings.TrimSpace(attr(n, "alt")); alt != "" {
			c.text(" [" + alt + "] ")
		}
		return
	case atom.A:
		before := c.b.Len()
		c.children(n)
		href := strings.TrimSpace(attr(n, "href"))
		if href == "" || strings.HasPrefix(href, "#") || strings.HasPrefix(strings.ToLower(href), "javascript:") {
			return
		}
		shown := strings.TrimSpace(c.b.String()[before:])
		if shown == href || "mailto:"+shown == href {
			return
		}
		c.space = shown != ""
		c.text("<" + href + ">")
		return
	case atom.Li:
		c.breakLine(1)
		c.flush()
		c.b.WriteString("• ")
		c.started = true
		c.space = false
		c.children(n)
		c.breakLine(1)
		return
	case atom.Td, atom.Th:
		c.children(n)
		c.space = true
		return
	case atom.Pre:
		c.breakLine(2)
		c.flush()
		c.pre++
		c.children(n)
		c.pre--
		c.breakLine(2)
		return
	case atom.P, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Blockquote,
		atom.Ul, atom.Ol, atom.Table, atom.Dl:
		c.breakLine(2)
		c.children(n)
		c.breakLine(2)
		return
	case atom.Div, atom.Tr, atom.Section, atom.Article, atom.Header, atom.Footer,
		atom.Nav, atom.Aside, atom.Main, atom.Dt, atom.Dd, atom.Figure, atom.Figcaption,
		atom.Address, atom.Form, atom.Fieldset, atom.Title, atom.Center:
		c.breakLine(1)
		c.children(n)
		c.breakLine(1)
		return
	}
	c.children(n)
}

// flushBreak writes a pending <br> even when no text follows on that line.
func (c *htmlConv) flushBreak() {
	if c.started {
		c.b.WriteString(strings.Repeat("\n", c.newline))
	}
	c.newline = 0
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
