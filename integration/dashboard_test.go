package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

const dashboardFile = "../docs/grafana/mailseal-dashboard.json"

// Series the dashboard may query that are not on /metrics: Prometheus makes
// up `up` itself for each scrape.
var dashboardNotOnMetrics = map[string]string{
	"up": "made by Prometheus for each scrape",
}

// TestDashboardQueriesExistOnMetrics checks docs/grafana/mailseal-dashboard.json
// against a running daemon: after signed mail, a split whose copy the
// reinject listener did not take, a good and a bad reload and a socketmap
// lookup, every series a panel, annotation or variable queries is on
// /metrics. With a real Prometheus (scripts/deps.d/61-prometheus.sh) it
// also scrapes the daemon and evaluates every expression, so each one
// parses and returns data.
func TestDashboardQueriesExistOnMetrics(t *testing.T) {
	exprs := dashboardExprs(t)
	names := map[string]bool{}
	for _, e := range exprs {
		for _, n := range promMetricNames(e) {
			names[n] = true
		}
	}
	for _, must := range []string{"mailseal_messages_total", "mailseal_processing_seconds_bucket", "mailseal_certificates_issued_total", "mailseal_reinject_failures_total"} {
		if !names[must] {
			t.Errorf("the dashboard never queries %s (names found: %v)", must, sortedKeys(names))
		}
	}

	d := newDaemon(t)
	// Reinject points at a port nobody listens on (Postfix gets no reinject
	// listener): a split fails and is counted.
	cfg := d.BaseConfig() + "policy:\n  rules:\n    - name: no-sign\n      recipients: [\"*@plain.example\"]\n      sign: never\n"
	d.WriteConfig(cfg)
	d.Start()
	pf := postfixtest.Start(t, postfixtest.Options{Milter: d.MilterSocket()})
	from := "alice@corp.example"
	if err := pf.Send(t, postfixtest.Mail{From: from, To: []string{"bob@partner.example"}, Data: plainMail(from, "bob@partner.example", "signed"), SourceIP: trustedIP}); err != nil {
		t.Fatal(err)
	}
	pf.WaitDelivered(t, "bob@partner.example", 1, deliveryTimeout)
	split := []string{"bob@partner.example", "carol@plain.example"}
	err := pf.Send(t, postfixtest.Mail{From: from, To: split, Data: plainMail(from, split[0], "split"), SourceIP: trustedIP})
	var smtpErr *postfixtest.SMTPError
	if !errors.As(err, &smtpErr) || !smtpErr.Temporary() {
		t.Fatalf("a split with the reinject listener down must be tempfailed, got %v", err)
	}
	d.Signal(syscall.SIGHUP)
	d.WaitLog("configuration reloaded", 10*time.Second)
	d.WriteConfig("\n")
	d.Signal(syscall.SIGHUP)
	d.WaitLog("reload failed", 10*time.Second)
	socketmapQuery(t, d.Socketmap, "tlspolicy", "partner.example")

	metrics := d.Metrics()
	for _, n := range sortedKeys(names) {
		if why, ok := dashboardNotOnMetrics[n]; ok {
			t.Logf("%s: not checked on /metrics (%s)", n, why)
			continue
		}
		if !hasSeries(metrics, n) {
			t.Errorf("the dashboard queries %s, which is not on /metrics", n)
		}
	}

	t.Run("Prometheus", func(t *testing.T) {
		prom := prometheusBinary()
		if prom == "" {
			skipUnlessRequired(t, "no prometheus binary (scripts/deps.d/61-prometheus.sh extracts Debian's): PromQL not evaluated")
		}
		api := startPrometheus(t, prom, d.Admin)
		for _, e := range exprs {
			q := strings.NewReplacer("$__rate_interval", "1m", "$instance", ".+").Replace(e)
			// Grafana's label_values(metric, label) lists the label's
			// values among metric's series.
			var label string
			if m := labelValues.FindStringSubmatch(q); m != nil {
				q, label = m[1], m[2]
			}
			res := promQuery(t, api, q)
			if res.Status != "success" {
				t.Errorf("Prometheus refuses %q: %s %s", e, res.ErrorType, res.Error)
				continue
			}
			// A filter (the restart annotation's "> 0") is empty when
			// nothing happened; every other query has data.
			if !strings.HasSuffix(e, "> 0") && len(res.Data.Result) == 0 {
				t.Errorf("%q returns no data from a scraped daemon", q)
			}
			if label != "" && (len(res.Data.Result) == 0 || res.Data.Result[0].Metric[label] == "") {
				t.Errorf("%q: no series of %s has the label %s", e, q, label)
			}
		}
	})
}

// TestPromMetricNames pins the extractor the dashboard test relies on.
func TestPromMetricNames(t *testing.T) {
	cases := []struct{ expr, want string }{
		{`up{instance=~"$instance"}`, "up"},
		{`sum by (direction, action) (rate(mailseal_messages_total{instance=~"$instance",action=~"split:.*"}[$__rate_interval]))`, "mailseal_messages_total"},
		{`histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m]))) / ignoring(x) b_count offset 1h`, "a_bucket b_count"},
		{`time() - process_start_time_seconds`, "process_start_time_seconds"},
		{`label_values(mailseal_build_info, instance)`, "mailseal_build_info"},
		{`sum(increase(x_total{result="tempfail"}[1h])) or vector(0)`, "x_total"},
		{`(a - time()) / 86400 > 1e3 and on (instance) b`, "a b"},
	}
	for _, c := range cases {
		got := strings.Join(promMetricNames(c.expr), " ")
		if got != c.want {
			t.Errorf("promMetricNames(%q) = %q, want %q", c.expr, got, c.want)
		}
	}
}

// dashboardExprs returns every PromQL expression in the dashboard: panel
// targets (rows included), annotations and query variables. It also checks
// that each panel queries through the $datasource variable.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		Expr       string `json:"expr"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	}
	type panel struct {
		Type    string   `json:"type"`
		Title   string   `json:"title"`
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
	}
	var dash struct {
		Title       string  `json:"title"`
		UID         string  `json:"uid"`
		Panels      []panel `json:"panels"`
		Annotations struct {
			List []struct {
				Expr string `json:"expr"`
			} `json:"list"`
		} `json:"annotations"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Error("dashboard without title or uid")
	}
	var exprs []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" || tg.Datasource.UID != "${datasource}" {
					t.Errorf("panel %q: target %+v must have an expression and use ${datasource}", p.Title, tg)
				}
				exprs = append(exprs, tg.Expr)
			}
		}
	}
	walk(dash.Panels)
	for _, a := range dash.Annotations.List {
		if a.Expr != "" {
			exprs = append(exprs, a.Expr)
		}
	}
	vars := map[string]bool{}
	for _, v := range dash.Templating.List {
		vars[v.Name+"/"+v.Type] = true
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil || q.Query == "" {
			var s string
			if json.Unmarshal(v.Query, &s) != nil {
				t.Errorf("variable %s: unreadable query %s", v.Name, v.Query)
			}
			q.Query = s
		}
		exprs = append(exprs, q.Query)
	}
	if !vars["datasource/datasource"] || !vars["instance/query"] {
		t.Errorf("dashboard variables %v: want a datasource variable and an instance query variable", vars)
	}
	if len(exprs) < 20 {
		t.Fatalf("only %d expressions found in %s", len(exprs), dashboardFile)
	}
	return exprs
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	labelValues  = regexp.MustCompile(`^\s*label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true}
)

// promMetricNames returns the metric names a PromQL expression (or a
// Grafana label_values() variable query) selects, in order, without
// duplicates: identifiers that are not functions, keywords, label names in
// groupings or matchers, or parts of numbers and durations.
func promMetricNames(expr string) []string {
	if m := labelValues.FindStringSubmatch(expr); m != nil {
		return []string{m[1]}
	}
	s := promString.ReplaceAllString(expr, `""`)
	s = promMatchers.ReplaceAllString(s, " ")
	s = promRange.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range promIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if loc[0] > 0 && (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9' || s[loc[0]-1] == '.' || s[loc[0]-1] == '$') {
			continue // 1e3, 5m, $variable
		}
		rest := strings.TrimLeft(s[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") || promKeywords[strings.ToLower(name)] || slices.Contains(names, name) {
			continue
		}
		names = append(names, name)
	}
	return names
}

// hasSeries reports whether the exposition text has a sample of name (a
// bare histogram name counts when its _count is there).
func hasSeries(metrics, name string) bool {
	for _, n := range []string{name, name + "_count"} {
		for _, line := range strings.Split(metrics, "\n") {
			if strings.HasPrefix(line, n+"{") || strings.HasPrefix(line, n+" ") {
				return true
			}
		}
	}
	return false
}

func sortedKeys(m map[string]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// prometheusDir is where scripts/deps.d/61-prometheus.sh extracts Debian's
// prometheus package (not installed as a service).
const prometheusDir = "/opt/mailseal-test/prometheus"

func prometheusBinary() string {
	if p := filepath.Join(prometheusDir, "usr/bin/prometheus"); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// startPrometheus runs a private Prometheus that scrapes target every
// second, and waits until it has two scrapes (rate() needs two samples).
func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	body := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: mailseal\n    static_configs:\n      - targets: [%q]\n", target)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", postfixtest.FreePort(t))
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--web.console.templates="+dir, "--web.console.libraries="+dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_, _ = cmd.Process.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("--- prometheus log ---\n%s", b)
		}
	})
	api := "http://" + addr
	deadline := time.Now().Add(90 * time.Second)
	for {
		res, err := tryPromQuery(api, `count_over_time(up{job="mailseal"}[1m])`)
		if err == nil && res.Status == "success" && len(res.Data.Result) == 1 {
			var n float64
			if v, ok := res.Data.Result[0].Value[1].(string); ok {
				fmt.Sscanf(v, "%g", &n)
			}
			if n >= 3 {
				if up, _ := tryPromQuery(api, `up{job="mailseal"}`); up != nil && len(up.Data.Result) == 1 && up.Data.Result[0].Value[1] == "1" {
					return api
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus did not scrape the daemon within 90s (last: %+v, %v)", res, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

type promResult struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

func tryPromQuery(api, q string) (*promResult, error) {
	resp, err := http.Get(api + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var res promResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, err
	}
	return &res, nil
}

func promQuery(t *testing.T, api, q string) *promResult {
	t.Helper()
	res, err := tryPromQuery(api, q)
	if err != nil {
		t.Fatalf("query %q: %v", q, err)
	}
	return res
}
