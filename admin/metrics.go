// Package admin serves mailseal's HTTP side: health, Prometheus metrics and
// the built-in CA's certificate and CRL.
package admin

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the counters and histograms mailseal exports.
type Metrics struct {
	Registry *prometheus.Registry
	messages *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	issued   prometheus.Counter
	reloads  *prometheus.CounterVec
	rules    *prometheus.CounterVec
}

// NewMetrics registers mailseal's metrics (and the Go runtime's) in a new registry.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailseal_messages_total",
			Help: "Messages handled, by direction (inbound|outbound), action (signed|none|tempfailed|rejected) and SMTP result (accept|tempfail|reject).",
		}, []string{"direction", "action", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mailseal_processing_seconds",
			Help:    "Time from MAIL FROM to our end-of-message answer, by direction.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"direction"}),
		issued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mailseal_certificates_issued_total",
			Help: "User certificates issued (on demand, by the renewer or by the CLI while this process ran).",
		}),
		rules: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailseal_policy_decisions_total",
			Help: "Per-recipient policy decisions, by deciding rule (\"defaults\" when none matched) and treatment.",
		}, []string{"rule", "treatment"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailseal_config_reloads_total",
			Help: "SIGHUP configuration reloads, by result (ok|error).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.messages, m.latency, m.issued, m.reloads, m.rules,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveMessage counts one finished message.
func (m *Metrics) ObserveMessage(direction, action, result string, elapsed time.Duration) {
	if direction == "" {
		direction = "unknown"
	}
	m.messages.WithLabelValues(direction, action, result).Inc()
	m.latency.WithLabelValues(direction).Observe(elapsed.Seconds())
}

// ObserveDecision counts one recipient's decision.
func (m *Metrics) ObserveDecision(rule, treatment string) {
	if rule == "" {
		rule = "defaults"
	}
	m.rules.WithLabelValues(rule, treatment).Inc()
}

// CertificateIssued counts one issuance.
func (m *Metrics) CertificateIssued() { m.issued.Inc() }

// Reloaded counts one configuration reload attempt.
func (m *Metrics) Reloaded(ok bool) {
	if ok {
		m.reloads.WithLabelValues("ok").Inc()
	} else {
		m.reloads.WithLabelValues("error").Inc()
	}
}
