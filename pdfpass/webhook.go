package pdfpass

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"text/template"
	"time"
)

// DefaultBody is the default pdf.sms.body: a small JSON object.
const DefaultBody = `{"to":{{json .Number}},"text":{{json .Text}}}`

// Message is what the body template sees.
type Message struct {
	Number    string // the recipient's mobile number, e.g. +4930123456
	Password  string // the PDF's password
	Sender    string // who sent the mail
	Recipient string // whose number it is
	Text      string // a ready sentence with sender and password
}

// NewMessage fills in Text, in German for lang "de", else in English.
func NewMessage(lang, number, password, sender, recipient string) Message {
	text := "Password for the encrypted PDF from %s: %s"
	if lang == "de" {
		text = "Passwort für die verschlüsselte PDF von %s: %s"
	}
	return Message{Number: number, Password: password, Sender: sender, Recipient: recipient,
		Text: fmt.Sprintf(text, sender, password)}
}

// ParseBody parses a body template. It offers the func json, which writes
// a value as a JSON string (quotes included): {"to":{{json .Number}}}.
func ParseBody(text string) (*template.Template, error) {
	t, err := template.New("pdf.sms.body").Option("missingkey=error").Funcs(template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
	}).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("pdfpass: body template: %w", err)
	}
	// A template that names a field Message lacks fails on every mail:
	// find it now, with a sample.
	if err := t.Execute(io.Discard, NewMessage("en", "+4930123456", "sample-password", "a@example.org", "b@example.org")); err != nil {
		return nil, fmt.Errorf("pdfpass: body template: %w", err)
	}
	return t, nil
}

// CheckURL accepts https URLs, and http only to a loopback address (a
// local relay): the password must not cross a network in clear.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("pdfpass: %q is not a URL", raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("pdfpass: %q has no host", raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("pdfpass: %q would send passwords unencrypted over the network: use https (http only to 127.0.0.1, ::1 or localhost)", raw)
	default:
		return fmt.Errorf("pdfpass: %q is not an https URL", raw)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Webhook posts the password to an SMS gateway.
type Webhook struct {
	URL         string
	Body        *template.Template // from ParseBody
	ContentType string
	Token       string // sent as "Authorization: Bearer TOKEN" when set
	Timeout     time.Duration
	Client      *http.Client // nil: a client that follows no redirects
}

// Render is the request body for m.
func (w *Webhook) Render(m Message) ([]byte, error) {
	var b bytes.Buffer
	if err := w.Body.Execute(&b, m); err != nil {
		return nil, fmt.Errorf("pdfpass: body template: %w", err)
	}
	return b.Bytes(), nil
}

// Send posts m; any answer but 2xx is an error (the PDF must then wait).
func (w *Webhook) Send(ctx context.Context, m Message) error {
	body, err := w.Render(m)
	if err != nil {
		return err
	}
	if w.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("pdfpass: SMS webhook: %w", err)
	}
	req.Header.Set("Content-Type", w.ContentType)
	if w.Token != "" {
		req.Header.Set("Authorization", "Bearer "+w.Token)
	}
	client := w.Client
	if client == nil {
		client = noRedirects
	}
	resp, err := client.Do(req)
	if err != nil {
		// The URL error repeats the URL only, never the body.
		return fmt.Errorf("pdfpass: SMS webhook: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The answer goes to the log: a gateway that echoes the request
		// must not put the password there.
		text := string(snippet)
		if m.Password != "" {
			text = strings.ReplaceAll(text, m.Password, "[password]")
		}
		return fmt.Errorf("pdfpass: SMS webhook answered %s: %q", resp.Status, text)
	}
	return nil
}

// noRedirects treats a redirect as a failure: the password must go where
// the admin configured, not where an answer points.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
	return errors.New("redirect refused")
}}

// Tail is the last digits of a number, for logs and the sender's mail.
func Tail(number string) string {
	if len(number) <= 4 {
		return number
	}
	return "…" + number[len(number)-4:]
}
