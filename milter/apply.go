package milter

import (
	"bytes"
	"fmt"
	"runtime"
	"sort"
	"strings"
)

// maxBodyChunk is the largest body replacement packet we send. Postfix
// accepts one replacement as many back-to-back packets; each ends at a line
// end so go-milter's CRLF→LF conversion never splits a line ending.
const maxBodyChunk = 64 * 1024

// editor is the part of *gomilter.Modifier that applies a Result.
type editor interface {
	ChangeHeader(index int, name, value string) error
	AddHeader(name, value string) error
	ReplaceBody(body []byte) error
	DeleteRecipient(r string) error
}

// applyResult sends the header diff, then the body chunks back to back:
// Postfix refuses other edits between body replacement packets.
func applyResult(e editor, tx *Transaction, res Result) error {
	for _, r := range res.DeleteRecipients {
		if err := e.DeleteRecipient(r); err != nil {
			return fmt.Errorf("delete recipient %s: %w", r, err)
		}
	}
	// Value changes first: they name instances by the original numbering.
	for _, c := range res.ChangeHeaders {
		if err := e.ChangeHeader(c.Index, c.Name, c.Value); err != nil {
			return fmt.Errorf("change header %s[%d]: %w", c.Name, c.Index, err)
		}
	}
	dels := append([]HeaderRef(nil), res.DeleteHeaders...)
	// After a deletion Postfix renumbers that name's instances: go from the
	// highest index down so every index still names the header we meant.
	sort.SliceStable(dels, func(i, j int) bool {
		if !strings.EqualFold(dels[i].Name, dels[j].Name) {
			return strings.ToLower(dels[i].Name) < strings.ToLower(dels[j].Name)
		}
		return dels[i].Index > dels[j].Index
	})
	for _, d := range dels {
		if err := e.ChangeHeader(d.Index, d.Name, ""); err != nil {
			return fmt.Errorf("delete header %s[%d]: %w", d.Name, d.Index, err)
		}
	}
	for _, h := range res.AddHeaders {
		if err := e.AddHeader(h.Name, h.Value); err != nil {
			return fmt.Errorf("add header %s: %w", h.Name, err)
		}
	}
	if res.Body == nil {
		return nil
	}
	sent := 0
	for _, chunk := range splitAtLineEnds(res.Body, maxBodyChunk) {
		if err := e.ReplaceBody(chunk); err != nil {
			return fmt.Errorf("replace body: %w", err)
		}
		// go-milter copies every chunk (CRLF to LF): for a large body,
		// collect those copies now and then rather than let them pile up
		// to the heap goal, twice the message.
		if sent += len(chunk); len(res.Body) >= bigMessage && sent >= bigMessage {
			sent = 0
			runtime.GC()
		}
	}
	return nil
}

// splitAtLineEnds cuts body into pieces of at most max bytes, each ending
// just after a '\n' where the body has one in range.
func splitAtLineEnds(body []byte, max int) [][]byte {
	var out [][]byte
	for len(body) > max {
		cut := bytes.LastIndexByte(body[:max], '\n') + 1
		if cut == 0 {
			cut = max
			// Never split "\r\n": the CR would be sent alone.
			if body[cut-1] == '\r' {
				cut--
			}
		}
		out = append(out, body[:cut])
		body = body[cut:]
	}
	if len(body) > 0 || len(out) == 0 {
		out = append(out, body)
	}
	return out
}

// HeaderRefs returns references to every header matching pred, with the
// per-name index Postfix uses.
func HeaderRefs(headers []Header, pred func(Header) bool) []HeaderRef {
	seen := map[string]int{}
	var refs []HeaderRef
	for _, h := range headers {
		key := strings.ToLower(h.Name)
		seen[key]++
		if pred(h) {
			refs = append(refs, HeaderRef{Name: h.Name, Index: seen[key]})
		}
	}
	return refs
}
