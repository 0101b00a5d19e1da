package revocation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

var (
	errTooManyRedirects = errors.New("too many redirects")
	errBadRedirect      = errors.New("redirect to a URL that is not http or https")
)

// httpURL accepts only absolute http and https URLs: a certificate may name
// ldap:, file: or worse, which are never fetched.
func httpURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%s URLs are not fetched (only http and https)", strings.ToLower(u.Scheme))
	}
	if u.Host == "" {
		return nil, errors.New("URL without host")
	}
	return u, nil
}

// fetch does one HTTP exchange (GET when body is nil, else POST with
// contentType) and returns a 200 answer's body, at most limit bytes.
func (c *Checker) fetch(ctx context.Context, raw string, contentType string, body []byte, limit int64) ([]byte, error) {
	u, err := httpURL(raw)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	method := http.MethodGet
	var rd io.Reader
	if body != nil {
		method, rd = http.MethodPost, bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", "mailseal-revocation")
	resp, err := c.o.Client.Do(req)
	if err != nil {
		return nil, describe(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("answer of %d bytes is larger than the limit of %d", resp.ContentLength, limit)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, describe(ctx, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("answer larger than the limit of %d bytes", limit)
	}
	return b, nil
}

// describe turns transport errors into short words for Status.Problem.
func describe(ctx context.Context, err error) error {
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return errors.New("timeout")
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("cancelled")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
