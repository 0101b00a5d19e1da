package milter

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
)

// packet frames one milter command the way Postfix sends it.
func packet(code byte, fields ...string) []byte {
	var data []byte
	data = append(data, code)
	for _, f := range fields {
		data = append(data, f...)
		data = append(data, 0)
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	return append(out, data...)
}

func TestEnvelopeTap(t *testing.T) {
	mail := packet('M', "<a@corp.example>", "RET=HDRS", "ENVID=QQ314159", "SIZE=100")
	rcpt := packet('R', "<b@x.example>", "NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;B@x.example")
	plainRcpt := packet('R', "<c@x.example>")
	macro := packet('D', "M", "{auth_authen}", "alice")
	header := packet('L', "Subject", "hello")
	stream := slices.Concat(packet('C', "host", "4"), macro, mail, rcpt, plainRcpt, header, packet('E'))

	type take struct {
		code byte
		addr string
		want []string
	}
	takes := []take{
		{'M', "a@corp.example", []string{"RET=HDRS", "ENVID=QQ314159", "SIZE=100"}},
		{'R', "b@x.example", []string{"NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;B@x.example"}},
		{'R', "c@x.example", nil},
	}
	tests := []struct {
		name  string
		chunk int // feed the stream in pieces of this size; 0 = at once
		takes []take
	}{
		{"whole stream at once", 0, takes},
		{"one byte at a time", 1, takes},
		{"pieces that split length fields", 3, takes},
		{"pieces of 7", 7, takes},
		{"address mismatch yields nothing, never another's parameters", 0, []take{
			{'M', "a@corp.example", []string{"RET=HDRS", "ENVID=QQ314159", "SIZE=100"}},
			{'R', "other@x.example", nil},
			{'R', "c@x.example", nil},
		}},
		{"a skipped command is dropped from the queue", 0, []take{
			{'R', "b@x.example", []string{"NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;B@x.example"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tap := &envelopeTap{}
			if tt.chunk == 0 {
				tap.feed(stream)
			} else {
				for b := stream; len(b) > 0; {
					n := min(tt.chunk, len(b))
					tap.feed(b[:n])
					b = b[n:]
				}
			}
			for _, tk := range tt.takes {
				if got := tap.take(tk.code, tk.addr); !slices.Equal(got, tk.want) {
					t.Errorf("take(%c, %s) = %q, want %q", tk.code, tk.addr, got, tk.want)
				}
			}
		})
	}
}

func TestEnvelopeTapBounds(t *testing.T) {
	tap := &envelopeTap{}
	// A huge MAIL packet is not kept (and go-milter refuses it anyway).
	huge := packet('M', "<a@corp.example>", string(bytes.Repeat([]byte("X"), maxTappedPacket)))
	tap.feed(huge)
	if len(tap.queue) != 0 {
		t.Fatalf("kept a %d-byte packet", len(huge))
	}
	for range maxTapped + 10 {
		tap.feed(packet('R', "<r@x.example>", "NOTIFY=NEVER"))
	}
	if len(tap.queue) != maxTapped {
		t.Fatalf("queue holds %d entries, want at most %d", len(tap.queue), maxTapped)
	}
	var nilTap *envelopeTap
	if got := nilTap.take('M', "a"); got != nil {
		t.Fatalf("nil tap gave %q", got)
	}
}

func FuzzEnvelopeTap(f *testing.F) {
	f.Add(slices.Concat(packet('M', "<a@b>", "RET=FULL"), packet('R', "<c@d>", "NOTIFY=NEVER")), uint8(3))
	f.Add([]byte{0, 0, 0, 0, 'M'}, uint8(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 'R', 0, 0}, uint8(2))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		tap := &envelopeTap{}
		step := int(chunk%16) + 1
		for b := stream; len(b) > 0; {
			n := min(step, len(b))
			tap.feed(b[:n])
			b = b[n:]
		}
		if len(tap.queue) > maxTapped {
			t.Fatalf("queue grew to %d", len(tap.queue))
		}
		for range len(tap.queue) + 1 {
			tap.take('R', "c@d")
			tap.take('M', "a@b")
		}
	})
}

func TestESMTPParametersReachTheTransaction(t *testing.T) {
	h := &recordingHandler{}
	_, addr := startServer(t, h, Options{})
	s := newClientSession(t, addr)
	if _, err := s.Mail("<a@corp.example>", []string{"RET=HDRS", "ENVID=abc"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		addr string
		args []string
	}{
		{"<b@x.example>", []string{"NOTIFY=SUCCESS", "ORCPT=rfc822;b@x.example"}},
		{"<refused@x.example>", []string{"NOTIFY=NEVER"}},
		{"<c@x.example>", nil},
	} {
		if _, err := s.Rcpt(r.addr, r.args); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.HeaderField("Subject", "s"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.End(); err != nil {
		t.Fatal(err)
	}
	if len(h.txs) != 1 {
		t.Fatalf("handler saw %d messages", len(h.txs))
	}
	tx := h.txs[0]
	if !slices.Equal(tx.FromParams, []string{"RET=HDRS", "ENVID=abc"}) {
		t.Errorf("FromParams = %q", tx.FromParams)
	}
	if got := tx.RcptParams["b@x.example"]; !slices.Equal(got, []string{"NOTIFY=SUCCESS", "ORCPT=rfc822;b@x.example"}) {
		t.Errorf("RcptParams[b] = %q", got)
	}
	if got, ok := tx.RcptParams["c@x.example"]; ok {
		t.Errorf("RcptParams[c] = %q, want none", got)
	}
	env := tx.envelope([]string{"c@x.example", "b@x.example"})
	if env.From != "a@corp.example" || env.Rcpts[1].Addr != "b@x.example" || len(env.Rcpts[1].Params) != 2 || env.Rcpts[0].Params != nil {
		t.Errorf("copy envelope %+v", env)
	}
}
