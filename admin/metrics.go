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

	renewFailures prometheus.Counter
	lookups       *prometheus.CounterVec
	reinjectFails *prometheus.CounterVec
}

// NewMetrics registers mailseal's metrics (and the Go runtime's) in a new registry.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailseal_messages_total",
			Help: "Messages handled, by direction (inbound|outbound|internal-unauthorised), action (signed|encrypted-smime|encrypted-pgp|pdf|none|split:…|tempfailed|rejected) and SMTP result (accept|tempfail|reject).",
		}, []string{"direction", "action", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mailseal_processing_seconds",
			Help:    "Time from MAIL FROM to our end-of-message answer, by direction.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"direction"}),
		issued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mailseal_certificates_issued_total",
			Help: "User certificates this process issued, on demand or by the renewer (certificates issued with the CLI are not counted).",
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
	m.renewFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "mailseal_certificate_renewal_failures_total",
		Help: "Renewals of user certificates that failed (one per address and renewal pass).",
	})
	m.lookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mailseal_socketmap_lookups_total",
		Help: "Socketmap lookups from Postfix, by map and result (found|notfound).",
	}, []string{"map", "result"})
	m.reinjectFails = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mailseal_reinject_failures_total",
		Help: "Copies that could not be handed to the reinject listener, by kind (temporary|permanent|connection).",
	}, []string{"kind"})
	reg.MustRegister(m.messages, m.latency, m.issued, m.reloads, m.rules,
		m.renewFailures, m.lookups, m.reinjectFails,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// BuildInfo exports mailseal_build_info{version,goversion} = 1.
func (m *Metrics) BuildInfo(version, goVersion string) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "mailseal_build_info",
		Help:        "Always 1; the labels tell the running mailseal version and Go version.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": goVersion},
	})
	g.Set(1)
	m.Registry.MustRegister(g)
}

// Expiries exports the soonest user-certificate and CA expiry as Unix
// timestamps, read at each scrape. soonest returns the zero time when
// there is no certificate (the gauge is then absent) or fails.
func (m *Metrics) Expiries(soonest func() (time.Time, error), ca func() time.Time) {
	m.Registry.MustRegister(&expiryCollector{soonest: soonest, ca: ca})
}

var (
	certExpiryDesc = prometheus.NewDesc("mailseal_certificate_soonest_expiry_timestamp_seconds",
		"Unix time when the first current, unrevoked user certificate expires (the renewer replaces it ca.renew_before earlier).", nil, nil)
	caExpiryDesc = prometheus.NewDesc("mailseal_ca_expiry_timestamp_seconds",
		"Unix time when the CA certificate expires; user certificates cannot outlive it.", nil, nil)
)

type expiryCollector struct {
	soonest func() (time.Time, error)
	ca      func() time.Time
}

func (c *expiryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- certExpiryDesc
	ch <- caExpiryDesc
}

func (c *expiryCollector) Collect(ch chan<- prometheus.Metric) {
	if t, err := c.soonest(); err == nil && !t.IsZero() {
		ch <- prometheus.MustNewConstMetric(certExpiryDesc, prometheus.GaugeValue, float64(t.Unix()))
	}
	if t := c.ca(); !t.IsZero() {
		ch <- prometheus.MustNewConstMetric(caExpiryDesc, prometheus.GaugeValue, float64(t.Unix()))
	}
}

// RenewalFailures counts n failed renewals.
func (m *Metrics) RenewalFailures(n int) { m.renewFailures.Add(float64(n)) }

// SocketmapLookup counts one lookup in map name.
func (m *Metrics) SocketmapLookup(name string, found bool) {
	result := "notfound"
	if found {
		result = "found"
	}
	m.lookups.WithLabelValues(name, result).Inc()
}

// ReinjectFailed counts one copy the reinject listener did not take.
func (m *Metrics) ReinjectFailed(kind string) { m.reinjectFails.WithLabelValues(kind).Inc() }

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
