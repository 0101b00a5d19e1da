package pdfpass

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCheckURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://sms.example/api/send", true},
		{"http://127.0.0.1:8080/sms", true},
		{"http://[::1]:8080/sms", true},
		{"http://localhost/sms", true},
		{"http://sms.example/api", false},
		{"http://10.0.0.1/api", false},
		{"ftp://sms.example/", false},
		{"https:///nohost", false},
		{"sms.example", false},
		{"", false},
	} {
		if err := CheckURL(tc.url); (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
	if err := CheckURL("http://sms.example/"); err == nil || !strings.Contains(err.Error(), "use https") {
		t.Errorf("http error %v does not say to use https", err)
	}
}

func TestRenderBody(t *testing.T) {
	m := NewMessage("en", "+4930123456", `pw"with\quote`, "alice@corp.example", "kim@partner.example")
	for _, tc := range []struct{ name, tmpl, want string }{
		{"default", DefaultBody, `{"to":"+4930123456","text":"Password for the encrypted PDF from alice@corp.example: pw\"with\\quote"}`},
		{"form", "to={{.Number}}&pw={{.Password | urlquery}}", `to=+4930123456&pw=pw%22with%5Cquote`},
		{"fields", "{{.Recipient}} {{.Sender}}", "kim@partner.example alice@corp.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tm, err := ParseBody(tc.tmpl)
			if err != nil {
				t.Fatal(err)
			}
			got, err := (&Webhook{Body: tm}).Render(m)
			if err != nil || string(got) != tc.want {
				t.Errorf("got %s (%v), want %s", got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{"{{.Phone}}", "{{.Number", "{{nosuchfunc .Number}}"} {
		if _, err := ParseBody(bad); err == nil {
			t.Errorf("ParseBody(%q) accepted", bad)
		}
	}
}

func TestWebhookSend(t *testing.T) {
	var got struct {
		ctype, auth string
		body        map[string]string
	}
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.ctype, got.auth = r.Header.Get("Content-Type"), r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		got.body = nil
		_ = json.Unmarshal(b, &got.body)
		w.WriteHeader(status)
		if status != http.StatusOK {
			w.Write(b) // a gateway that echoes the request in its error
		}
	}))
	defer srv.Close()
	tm, err := ParseBody(DefaultBody)
	if err != nil {
		t.Fatal(err)
	}
	w := &Webhook{URL: srv.URL, Body: tm, ContentType: "application/json", Token: "tok", Timeout: time.Minute}
	m := NewMessage("en", "+4930123456", "secret-pw", "alice@corp.example", "kim@partner.example")
	if err := w.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if got.ctype != "application/json" || got.auth != "Bearer tok" || got.body["to"] != "+4930123456" || !strings.HasSuffix(got.body["text"], ": secret-pw") {
		t.Errorf("request %+v", got)
	}
	for _, s := range []int{http.StatusInternalServerError, http.StatusFound, http.StatusUnauthorized} {
		status = s
		if err := w.Send(context.Background(), m); err == nil || strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("status %d: err %v, want an error without the password", s, err)
		}
	}
}

func TestMessageText(t *testing.T) {
	for lang, want := range map[string]string{
		"en": "Password for the encrypted PDF from a@corp.example: pw-123",
		"de": "Passwort für die verschlüsselte PDF von a@corp.example: pw-123",
		"":   "Password for the encrypted PDF from a@corp.example: pw-123",
	} {
		if got := NewMessage(lang, "+4930123456", "pw-123", "a@corp.example", "b@x.example").Text; got != want {
			t.Errorf("%q: %q, want %q", lang, got, want)
		}
	}
}
