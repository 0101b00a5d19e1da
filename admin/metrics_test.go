package admin

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func TestExpiryGauges(t *testing.T) {
	cases := []struct {
		name    string
		soonest time.Time
		err     error
		ca      time.Time
		want    []string
		absent  []string
	}{
		{"both", time.Unix(1800000000, 0), nil, time.Unix(2000000000, 0),
			[]string{"mailseal_certificate_soonest_expiry_timestamp_seconds 1.8e+09", "mailseal_ca_expiry_timestamp_seconds 2e+09"}, nil},
		{"no certificates yet", time.Time{}, nil, time.Unix(2000000000, 0),
			[]string{"mailseal_ca_expiry_timestamp_seconds 2e+09"}, []string{"mailseal_certificate_soonest_expiry_timestamp_seconds "}},
		{"store error", time.Unix(1, 0), errors.New("store down"), time.Time{},
			nil, []string{"mailseal_certificate_soonest_expiry_timestamp_seconds ", "mailseal_ca_expiry_timestamp_seconds "}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMetrics()
			m.Expiries(func() (time.Time, error) { return tc.soonest, tc.err }, func() time.Time { return tc.ca })
			m.BuildInfo("v1.2.3", "go1.x")
			m.SocketmapLookup("tlspolicy", true)
			m.ReinjectFailed("temporary")
			m.RenewalFailures(2)
			out := scrape(t, m)
			want := append(tc.want, `mailseal_build_info{goversion="go1.x",version="v1.2.3"} 1`,
				`mailseal_socketmap_lookups_total{map="tlspolicy",result="found"} 1`,
				`mailseal_reinject_failures_total{kind="temporary"} 1`,
				"mailseal_certificate_renewal_failures_total 2")
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("metrics lack %q", w)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(out, a) {
					t.Errorf("metrics have %q", a)
				}
			}
		})
	}
}
