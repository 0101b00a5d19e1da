package admin

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// CA is what the admin server publishes of the built-in CA.
type CA interface {
	CACertificate() *x509.Certificate
	CRL(ctx context.Context) ([]byte, error)
}

// OCSPResponder is the optional OCSP power of a CA: it answers a DER OCSP
// request with a DER OCSP response (always something to send; err says
// what went wrong on our side, for the log).
type OCSPResponder interface {
	OCSPResponse(ctx context.Context, req []byte) ([]byte, error)
}

// maxOCSPRequest bounds a request body or GET path: a request for one
// certificate is about 100 bytes.
const maxOCSPRequest = 16 << 10

// Handler returns the admin HTTP routes. healthy reports readiness: nil
// means the milter is serving and the store answers.
func Handler(ca CA, m *Metrics, healthy func(ctx context.Context) error, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := healthy(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("unhealthy: " + err.Error() + "\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /ca.pem", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		_ = pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: ca.CACertificate().Raw})
	})
	mux.HandleFunc("GET /ca.crt", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pkix-cert")
		_, _ = w.Write(ca.CACertificate().Raw)
	})
	mux.HandleFunc("GET /ca.crl", func(w http.ResponseWriter, r *http.Request) {
		crl, err := ca.CRL(r.Context())
		if err != nil {
			log.Error("admin: CRL", "err", err)
			http.Error(w, "CRL unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		_, _ = w.Write(crl)
	})
	o, ok := ca.(OCSPResponder)
	if !ok {
		return mux
	}
	oh := ocspHandler(o, log)
	// /ocsp is routed before the mux: a GET request's base64 path may hold
	// "//", which the mux would "clean" with a redirect.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ocsp" || strings.HasPrefix(r.URL.Path, "/ocsp/") {
			oh.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// ocspHandler serves RFC 6960 appendix A: POST with an
// application/ocsp-request body to /ocsp, or GET /ocsp/{url-encoded
// base64 of the DER request}.
func ocspHandler(o OCSPResponder, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req []byte
		switch r.Method {
		case http.MethodPost:
			b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOCSPRequest))
			if err != nil {
				http.Error(w, "OCSP request too large or unreadable", http.StatusRequestEntityTooLarge)
				return
			}
			req = b
		case http.MethodGet:
			raw := strings.TrimPrefix(strings.TrimPrefix(r.URL.EscapedPath(), "/ocsp"), "/")
			if raw == "" || len(raw) > maxOCSPRequest {
				http.Error(w, "GET /ocsp/ needs the base64 OCSP request in the path", http.StatusBadRequest)
				return
			}
			req = decodeOCSPPath(raw)
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// A request that does not decode goes to the responder as empty
		// bytes and gets its malformedRequest answer.
		resp, err := o.OCSPResponse(r.Context(), req)
		if err != nil {
			log.Error("admin: OCSP", "err", err)
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		_, _ = w.Write(resp)
	})
}

// decodeOCSPPath undoes the URL and base64 encoding of a GET request
// (clients differ in padding and in escaping '+', '/' and '='); nil when
// it is not base64.
func decodeOCSPPath(raw string) []byte {
	s, err := url.PathUnescape(raw)
	if err != nil {
		return nil
	}
	s = strings.TrimRight(s, "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b
		}
	}
	return nil
}
