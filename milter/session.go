package milter

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/textproto"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	gomilter "github.com/emersion/go-milter"

	"github.com/mailseal/mailseal/policy"
)

// maxHeaderBytes bounds the memory one message's header may take. A message
// with more is refused whole at end of message: the fields past the cut
// could be forged verdicts, a confidential tag or a second From:, and none
// of them may be decided on without being seen.
const maxHeaderBytes = 1 << 20

// session is one milter connection. go-milter calls its methods from the
// connection's goroutine; connClosed may come from Shutdown's goroutine, so
// message ownership changes hands under mu.
type session struct {
	srv    *Server
	client Client
	tap    *envelopeTap // ESMTP parameters go-milter drops; nil is fine

	mu  sync.Mutex
	msg *message
	// replyPending is set when end of message was handled but go-milter has
	// not written our reply yet; the message stays in flight until then, so
	// Shutdown never closes a connection under a reply.
	replyPending bool
}

// message is the state of one mail transaction, rebuilt at every MAIL FROM.
type message struct {
	started     time.Time
	queueID     string
	authUser    string
	authType    string
	from        string
	fromParams  []string
	rcpts       []string
	rcptParams  map[string][]string
	keys        map[string]policy.KeyAvailability // found at RCPT, reused at end of data
	headers     []Header
	headerBytes int
	headerCut   bool // headers past maxHeaderBytes were dropped
	spool       *spool
}

var _ gomilter.Milter = (*session)(nil)

// noReply answers the stages that protocol marks as no-reply: go-milter
// writes nothing for a nil Response.
var noReply gomilter.Response

func (s *session) Connect(host, family string, port uint16, addr net.IP, m *gomilter.Modifier) (gomilter.Response, error) {
	s.client = Client{Hostname: host}
	if a, ok := netip.AddrFromSlice(addr); ok && (family == "tcp4" || family == "tcp6") {
		s.client.Addr = a.Unmap()
	}
	s.captureMacros(m.Macros)
	return noReply, nil
}

func (s *session) Helo(name string, m *gomilter.Modifier) (gomilter.Response, error) {
	s.client.Helo = name
	// {tls_version} is sent at HELO; a new EHLO after STARTTLS resends it.
	s.client.TLSVersion, s.client.TLSCipher = "", ""
	s.captureMacros(m.Macros)
	return noReply, nil
}

func (s *session) MailFrom(from string, m *gomilter.Modifier) (gomilter.Response, error) {
	s.dropMessage() // a previous message on this connection ended without Abort
	msg := &message{
		started:    time.Now(),
		from:       from,
		fromParams: s.tap.take('M', from),
		spool:      newSpool(s.srv.opts.SpoolMemory, s.srv.opts.MaxMessageSize, s.srv.opts.TempDir),
	}
	s.mu.Lock()
	s.msg = msg
	s.mu.Unlock()
	s.srv.messageStarted()
	s.captureMacros(m.Macros)
	return noReply, nil
}

func (s *session) RcptTo(rcpt string, m *gomilter.Modifier) (gomilter.Response, error) {
	params := s.tap.take('R', rcpt)
	s.captureMacros(m.Macros)
	var tx *Transaction
	s.withMessage(func(msg *message) {
		tx = &Transaction{QueueID: msg.queueID, Client: s.client, AuthUser: msg.authUser, AuthType: msg.authType, From: msg.from}
	})
	if tx != nil {
		// Refusing here refuses only this recipient; Postfix keeps the others.
		if r := s.srv.checkRecipient(tx, rcpt); !r.Accepted() {
			return replyResponse(r), nil
		}
	}
	s.withMessage(func(msg *message) {
		msg.rcpts = append(msg.rcpts, rcpt)
		if tx != nil && len(tx.Keys) > 0 {
			if msg.keys == nil {
				msg.keys = map[string]policy.KeyAvailability{}
			}
			maps.Copy(msg.keys, tx.Keys)
		}
		if len(params) > 0 {
			if msg.rcptParams == nil {
				msg.rcptParams = map[string][]string{}
			}
			msg.rcptParams[rcpt] = params
		}
	})
	return gomilter.RespContinue, nil
}

func (s *session) Header(name, value string, m *gomilter.Modifier) (gomilter.Response, error) {
	s.withMessage(func(msg *message) {
		if msg.headerCut {
			return
		}
		msg.headerBytes += len(name) + len(value) + 4
		if msg.headerBytes > maxHeaderBytes {
			msg.headerCut, msg.headers = true, nil // refused at end of message
			return
		}
		msg.headers = append(msg.headers, Header{Name: name, Value: value})
	})
	return noReply, nil
}

// Headers (end of headers) is not negotiated (OptNoEOH); it stays for
// clients that send it anyway.
func (s *session) Headers(_ textproto.MIMEHeader, m *gomilter.Modifier) (gomilter.Response, error) {
	s.captureMacros(m.Macros)
	return gomilter.RespContinue, nil
}

func (s *session) BodyChunk(chunk []byte, m *gomilter.Modifier) (gomilter.Response, error) {
	s.withMessage(func(msg *message) {
		if !msg.headerCut { // refused anyway: keep neither memory nor disk busy
			_, _ = msg.spool.Write(chunk)
		}
	})
	return noReply, nil
}

// Body is end of message: hand the transaction to the handler and apply its
// result. Every answer is RespContinue or a custom reply, never a final
// library response: those make go-milter build a fresh handler and lose the
// connection facts for the next message of the same SMTP session.
func (s *session) Body(m *gomilter.Modifier) (gomilter.Response, error) {
	s.captureMacros(m.Macros)
	s.mu.Lock()
	msg := s.msg
	s.msg = nil
	s.mu.Unlock()
	if msg == nil {
		return replyResponse(TempFail("4.3.0", "mail filter lost track of this message, please try again")), nil
	}
	defer s.finishAfterReply(msg)

	tx := &Transaction{
		QueueID: msg.queueID, Client: s.client, AuthUser: msg.authUser, AuthType: msg.authType,
		From: msg.from, FromParams: msg.fromParams, Rcpts: msg.rcpts, RcptParams: msg.rcptParams, Headers: msg.headers, Keys: msg.keys,
		BodySize: msg.spool.Size(), SpoolErr: msg.spool.Err(), body: msg.spool.Reader(),
	}
	res, incomplete := s.srv.refuseIncomplete(tx, msg.headerCut)
	if !incomplete {
		res = s.srv.handle(tx)
	}
	if s.srv.opts.Observe != nil {
		defer func() { s.srv.opts.Observe(res, time.Since(msg.started)) }()
	}
	if !res.Reply.Accepted() {
		return replyResponse(res.Reply), nil
	}
	// Sending a new body copies every chunk (go-milter turns CRLF into
	// LF): for a large one, collect what the treatment left behind first,
	// or the heap goal lets that garbage and the copies pile up to twice
	// the message.
	if res.Body != nil {
		collectBig(int64(len(res.Body)))
	}
	defer func() {
		// The new body is sent: drop it before returning this message's
		// garbage (Observe holds res until the very end), or it stays until
		// the next large message's packets fill the heap goal it set.
		res.Body = nil
		releaseBig(tx.BodySize)
	}()
	if err := applyResult(m, tx, res); err != nil {
		// The connection is broken half-way through our edits: returning the
		// error closes it, and Postfix applies milter_default_action (tempfail).
		res.Action, res.Detail = "tempfailed", err.Error()
		res.Reply = TempFail("4.3.0", "connection to the mail filter broke while applying changes")
		return nil, fmt.Errorf("milter: apply result for %s: %w", tx.QueueID, err)
	}
	return gomilter.RespContinue, nil
}

func (s *session) Abort(m *gomilter.Modifier) error {
	s.dropMessage()
	return nil
}

// connClosed runs when the connection goes away, also mid-message.
func (s *session) connClosed() {
	s.dropMessage()
	s.replyWritten()
}

// replyWritten runs before every read of the next command: by then
// go-milter has written the reply to the previous one.
func (s *session) replyWritten() {
	s.mu.Lock()
	pending := s.replyPending
	s.replyPending = false
	s.mu.Unlock()
	if pending {
		s.srv.messageDone()
	}
}

// finishAfterReply releases the spool now and the in-flight count once the
// reply is on its way (see replyWritten).
func (s *session) finishAfterReply(msg *message) {
	if err := msg.spool.Close(); err != nil {
		s.srv.opts.Logger.Warn("milter: closing spool", "queue_id", msg.queueID, "err", err)
	}
	s.mu.Lock()
	s.replyPending = true
	s.mu.Unlock()
}

func (s *session) dropMessage() {
	s.mu.Lock()
	msg := s.msg
	s.msg = nil
	s.mu.Unlock()
	if msg != nil {
		s.finish(msg)
	}
}

func (s *session) finish(msg *message) {
	if err := msg.spool.Close(); err != nil {
		s.srv.opts.Logger.Warn("milter: closing spool", "queue_id", msg.queueID, "err", err)
	}
	s.srv.messageDone()
}

func (s *session) withMessage(f func(*message)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.msg != nil {
		f(s.msg)
	}
}

// captureMacros copies what we need at once: go-milter replaces the macro
// map at every stage.
func (s *session) captureMacros(macros map[string]string) {
	for k, v := range macros {
		switch k {
		case "{daemon_name}":
			s.client.DaemonName = v
		case "{tls_version}":
			s.client.TLSVersion = v
		case "{cipher}":
			s.client.TLSCipher = v
		case "{client_addr}":
			if a, err := netip.ParseAddr(v); err == nil && !s.client.Addr.IsValid() {
				s.client.Addr = a.Unmap()
			}
		}
	}
	s.withMessage(func(msg *message) {
		if v := macros["i"]; v != "" {
			msg.queueID = v
		}
		if v, ok := macros["{auth_authen}"]; ok {
			msg.authUser = v
		}
		if v, ok := macros["{auth_type}"]; ok {
			msg.authType = v
		}
	})
}

// refuseIncomplete answers a message mailseal could not hold whole before
// any handler sees it: whatever the direction, nothing is decided on part of
// a header or a body. Too much is refused (552 5.3.4, the sender must send
// less), a spool failure tempfailed. The log names the real cause.
func (srv *Server) refuseIncomplete(tx *Transaction, headerCut bool) (Result, bool) {
	var cause string
	var r Reply
	switch {
	case headerCut:
		cause = fmt.Sprintf("header fields exceed %d bytes", maxHeaderBytes)
		r = Reject(552, "5.3.4", "Message header too large for this gateway; send it with fewer or shorter header fields")
	case tx.SpoolErr == errTooBig:
		cause = fmt.Sprintf("message exceeds milter.max_message_size (%d bytes)", srv.opts.MaxMessageSize)
		r = Reject(552, "5.3.4", "Message too big for this gateway")
	case tx.SpoolErr != nil:
		cause = "spooling the body failed: " + tx.SpoolErr.Error()
		r = TempFail("4.3.0", "The mail filter could not store your message right now; please try again later")
	default:
		return Result{}, false
	}
	res := Result{Reply: r, Action: "rejected", Detail: cause}
	if r.Code < 500 {
		res.Action = "tempfailed"
	}
	srv.opts.Logger.Warn("message refused: incomplete", "queue_id", tx.QueueID, "from", tx.From,
		"rcpts", len(tx.Rcpts), "cause", cause, "reply", r.String())
	return res, true
}

// handle runs the handler behind recover and a deadline: whatever happens
// inside, the message gets an answer, and an unexpected failure is tempfail.
func (srv *Server) handle(tx *Transaction) (res Result) {
	ctx, cancel := context.WithTimeout(context.Background(), srv.opts.HandleTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			srv.opts.Logger.Error("milter: handler panic", "queue_id", tx.QueueID, "panic", v, "stack", string(debug.Stack()))
			res = Result{
				Reply:  TempFail("4.3.0", "the mail filter failed on this message; it will be retried"),
				Action: "tempfailed", Detail: fmt.Sprint("panic: ", v),
			}
		}
	}()
	return srv.handler.Handle(ctx, tx)
}

// checkRecipient runs the handler's RCPT check behind recover; a failure
// there tempfails the recipient rather than letting it through unchecked.
func (srv *Server) checkRecipient(tx *Transaction, rcpt string) (r Reply) {
	ctx, cancel := context.WithTimeout(context.Background(), srv.opts.HandleTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			srv.opts.Logger.Error("milter: recipient check panic", "rcpt", rcpt, "panic", v, "stack", string(debug.Stack()))
			r = TempFail("4.3.0", "the mail filter failed on this recipient; please try again later")
		}
	}()
	return srv.handler.Recipient(ctx, tx, rcpt)
}

func replyResponse(r Reply) gomilter.Response {
	text := strings.Map(func(c rune) rune {
		if c < ' ' || c > '~' {
			return ' '
		}
		return c
	}, r.Text)
	return gomilter.NewResponseStr(byte(gomilter.ActReplyCode), fmt.Sprintf("%d %s %s", r.Code, r.Enhanced, text))
}
