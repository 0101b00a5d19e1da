package admin

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// CA is what the admin server publishes of the built-in CA.
type CA interface {
	CACertificate() *x509.Certificate
	CRL(ctx context.Context) ([]byte, error)
}

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
	return mux
}
