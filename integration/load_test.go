package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// Load: N mails (MAILSEAL_LOAD_N, default 500; bench/load.sh runs 10,000)
// with mixed treatments through Postfix + mailseal, sent by concurrent
// SMTP clients. It asserts behaviour only: every (Message-ID, recipient)
// pair delivered exactly once, each copy treated as the policy says. It
// logs throughput, SMTP transaction times (p50/p99; with
// MAILSEAL_LOAD_BASELINE=1 also for the same mails through a Postfix
// without milter, so the difference is mailseal's added latency),
// submit→delivered times and the daemon's peak RSS.

// loadKind is one treatment of the mix.
type loadKind int

const (
	loadInbound   loadKind = iota // outside sender → internal: untouched
	loadSigned                    // internal → partner without key: signed
	loadSplitBcc                  // To: partner (signed) + Bcc: partner with key (own encrypted copy)
	loadEncrypted                 // internal → partner with key: S/MIME encrypted
	loadKinds
)

func (k loadKind) String() string {
	return [...]string{"inbound-plain", "signed", "split-bcc", "encrypted"}[k]
}

type loadMail struct {
	i     int
	kind  loadKind
	id    string
	from  string
	rcpts []string // envelope
	data  []byte
}

const (
	loadBob   = "bob@partner.example"   // no key: signed
	loadErin  = "erin@smime.example"    // imported certificate: encrypted
	loadCarol = "carol@smime.example"   // imported certificate: encrypted
	loadDan   = "dan@corp.example"      // internal recipient of outside mail
	loadOut   = "carol@outside.example" // outside sender
)

func makeLoadMail(i int, run string) loadMail {
	m := loadMail{i: i, kind: loadKind(i % int(loadKinds))}
	m.id = fmt.Sprintf("<load-%s-%05d@corp.example>", run, i)
	m.from = fmt.Sprintf("user%d@corp.example", i%10)
	to := ""
	switch m.kind {
	case loadInbound:
		m.from, to, m.rcpts = loadOut, loadDan, []string{loadDan}
	case loadSigned:
		to, m.rcpts = loadBob, []string{loadBob}
	case loadSplitBcc:
		to, m.rcpts = loadBob, []string{loadBob, loadErin}
	case loadEncrypted:
		to, m.rcpts = loadCarol, []string{loadCarol}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: load %d\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\nMessage-ID: %s\r\n", m.from, to, i, m.id)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	fmt.Fprintf(&b, "secret-marker-%05d\r\n", i)
	for l := range 30 {
		fmt.Fprintf(&b, "Line %02d of mail %d: the quarterly figures, in words and numbers.\r\n", l, i)
	}
	m.data = b.Bytes()
	return m
}

// loadN is MAILSEAL_LOAD_N or 500.
func loadN(t *testing.T) int {
	n := 500
	if s := os.Getenv("MAILSEAL_LOAD_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < int(loadKinds) {
			t.Fatalf("MAILSEAL_LOAD_N=%q: want a number >= %d", s, loadKinds)
		}
		n = v
	}
	return n
}

// loadResult is what one pass measured.
type loadResult struct {
	start, end time.Time       // first submission, last delivery
	txn        []time.Duration // SMTP transaction times
	submitted  map[string]time.Time
	retries    int64
}

// sendLoad submits every mail with `workers` concurrent SMTP clients; a
// 4xx reply is retried after a pause (as a client's queue would), a 5xx
// fails the test.
func sendLoad(t *testing.T, pf *postfixtest.Instance, mails []loadMail, workers int) *loadResult {
	t.Helper()
	res := &loadResult{submitted: map[string]time.Time{}, start: time.Now()}
	var mu sync.Mutex
	jobs := make(chan loadMail)
	var wg sync.WaitGroup
	var failed atomic.Value
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range jobs {
				src := trustedIP
				if m.kind == loadInbound {
					src = untrustedIP
				}
				for attempt := 0; ; attempt++ {
					t0 := time.Now()
					r := pf.Submit(postfixtest.Mail{From: m.from, To: m.rcpts, Data: m.data, SourceIP: src})
					d := time.Since(t0)
					err := r.Error()
					if err == nil {
						mu.Lock()
						res.txn = append(res.txn, d)
						res.submitted[m.id] = t0
						mu.Unlock()
						break
					}
					temp := r.Err == nil && len(r.Errors) > 0 && r.Errors[0].Temporary()
					if r.Err != nil && attempt < 5 {
						temp = true // a connection error under load: try again
					}
					if !temp || attempt >= 5 {
						failed.Store(fmt.Errorf("mail %d (%s): %v", m.i, m.kind, err))
						break
					}
					atomic.AddInt64(&res.retries, 1)
					time.Sleep(time.Duration(attempt+1) * time.Second)
				}
			}
		}()
	}
	for _, m := range mails {
		jobs <- m
	}
	close(jobs)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("submission: %v", err)
	}
	return res
}

// deliveredAt is the delivery time in a postfixtest file name
// (<unixnano>-<queueid>.eml).
func deliveredAt(file string) time.Time {
	base := filepath.Base(file)
	ns, _ := strconv.ParseInt(base[:strings.IndexByte(base, '-')], 10, 64)
	return time.Unix(0, ns)
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// vmHWM is the peak resident set size of pid in kB.
func vmHWM(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return n
		}
	}
	return 0
}

func TestLoadMixedTreatments(t *testing.T) {
	n := loadN(t)
	const workers = 16
	timeout := deliveryTimeout + time.Duration(n)*100*time.Millisecond
	d := newDaemon(t)
	d.Start()
	erin, carol := newSMIMEPartner(t, loadErin, "rsa"), newSMIMEPartner(t, loadCarol, "rsa")
	if out, err := d.CLI("certs", "import", erin.certFile, carol.certFile); err != nil {
		t.Fatalf("certs import: %v\n%s", err, out)
	}
	opts := d.PostfixOptions()
	opts.ExtraMain = map[string]string{"default_process_limit": "200", "milter_content_timeout": "300s"}
	back := postfixtest.Start(t, opts)

	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	mails := make([]loadMail, n)
	for i := range mails {
		mails[i] = makeLoadMail(i, run)
	}
	res := sendLoad(t, back, mails, workers)

	// Accounting: every (Message-ID, recipient) exactly once.
	want := map[string]int{} // rcpt → copies expected
	for _, m := range mails {
		for _, r := range m.rcpts {
			want[r]++
		}
	}
	rcpts := []string{loadBob, loadErin, loadCarol, loadDan}
	deadline := time.Now().Add(timeout)
	for {
		missing := 0
		for _, r := range rcpts {
			missing += max(0, want[r]-len(back.DeliveredFiles(r)))
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d copies not delivered within %v; queue: %d", missing, timeout, len(back.QueueIDs(t)))
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // late duplicates would arrive now
	rss := vmHWM(d.cmd.Process.Pid)

	byID := map[string]loadMail{}
	for _, m := range mails {
		byID[m.id] = m
	}
	seen := map[string]int{} // id|rcpt
	var e2e []time.Duration
	var signed, encrypted []string
	signer := map[string]string{}
	for _, r := range rcpts {
		for _, f := range back.DeliveredFiles(r) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			raw = postfixtest.ToCRLF(raw)
			id := messageIDOf(raw)
			m, ok := byID[id]
			if !ok {
				t.Errorf("%s got an unknown message %q", r, id)
				continue
			}
			seen[id+"|"+r]++
			if at, ok := res.submitted[id]; ok {
				e2e = append(e2e, deliveredAt(f).Sub(at))
				if at := deliveredAt(f); at.After(res.end) {
					res.end = at
				}
			}
			ct := parseMail(t, raw).Header.Get("Content-Type")
			marker := fmt.Sprintf("secret-marker-%05d", m.i)
			switch {
			case m.kind == loadInbound:
				_, body := postfixtest.SplitMessage(raw)
				_, sent := postfixtest.SplitMessage(m.data)
				if !bytes.Equal(body, sent) || ct != "text/plain; charset=us-ascii" {
					t.Errorf("inbound %s changed on the way to %s", id, r)
				}
			case r == loadErin || r == loadCarol:
				if !strings.HasPrefix(ct, "application/pkcs7-mime") || bytes.Contains(raw, []byte(marker)) {
					t.Errorf("%s's copy of %s is not encrypted (Content-Type %q)", r, id, ct)
				}
				encrypted = append(encrypted, f)
			default: // bob: signed, never encrypted
				if !strings.HasPrefix(ct, "multipart/signed") {
					t.Errorf("%s's copy of %s is not signed (Content-Type %q)", r, id, ct)
				}
				signed = append(signed, f)
				signer[f] = m.from
			}
		}
	}
	lost, dup := 0, 0
	for _, m := range mails {
		for _, r := range m.rcpts {
			switch c := seen[m.id+"|"+r]; {
			case c == 0:
				lost++
				t.Errorf("%s never got %s", r, m.id)
			case c > 1:
				dup++
				t.Errorf("%s got %s %d times", r, m.id, c)
			}
		}
	}

	// Signatures and encryption checked with openssl on a sample: every
	// k-th copy, so the full run stays minutes, not hours.
	sample := func(files []string, limit int) []string {
		slices.Sort(files)
		step := max(1, len(files)/limit)
		var out []string
		for i := 0; i < len(files); i += step {
			out = append(out, files[i])
		}
		return out
	}
	wantSigner := map[string]string{}
	for _, f := range sample(signed, 40) {
		wantSigner[f] = signer[f]
	}
	verifyAll(t, d.CAFile(), wantSigner)
	for _, f := range sample(encrypted, 10) {
		raw, _ := os.ReadFile(f)
		p := erin
		if strings.Contains(f, loadCarol) {
			p = carol
		}
		inner := opensslDecrypt(t, p, postfixtest.ToCRLF(raw))
		opensslVerify(t, d.CAFile(), inner)
	}

	elapsed := res.end.Sub(res.start)
	copies := 0
	for _, c := range want {
		copies += c
	}
	t.Logf("load: %d mails (%d copies) in %.1fs with %d clients: %.1f mails/s; lost %d, duplicated %d, client retries %d",
		n, copies, elapsed.Seconds(), workers, float64(n)/elapsed.Seconds(), lost, dup, res.retries)
	t.Logf("load: SMTP transaction with mailseal p50 %v p99 %v; submit→delivered p50 %v p99 %v; mailseal peak RSS (VmHWM) %d kB",
		pct(res.txn, 0.5).Round(time.Millisecond), pct(res.txn, 0.99).Round(time.Millisecond),
		pct(e2e, 0.5).Round(time.Millisecond), pct(e2e, 0.99).Round(time.Millisecond), rss)

	if os.Getenv("MAILSEAL_LOAD_BASELINE") == "1" {
		plain := postfixtest.Start(t, postfixtest.Options{ExtraMain: opts.ExtraMain})
		base := sendLoad(t, plain, mails, workers)
		deadline := time.Now().Add(timeout)
		for {
			got := 0
			for _, r := range rcpts {
				got += len(plain.DeliveredFiles(r))
			}
			if got >= copies || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		var last time.Time
		var be2e []time.Duration
		for _, r := range rcpts {
			for _, f := range plain.DeliveredFiles(r) {
				at := deliveredAt(f)
				if at.After(last) {
					last = at
				}
				raw, _ := os.ReadFile(f)
				if s, ok := base.submitted[messageIDOf(postfixtest.ToCRLF(raw))]; ok {
					be2e = append(be2e, at.Sub(s))
				}
			}
		}
		bel := last.Sub(base.start)
		t.Logf("load baseline (same mails, Postfix without milter): %.1fs, %.1f mails/s; SMTP transaction p50 %v p99 %v; submit→delivered p50 %v p99 %v",
			bel.Seconds(), float64(n)/bel.Seconds(), pct(base.txn, 0.5).Round(time.Millisecond), pct(base.txn, 0.99).Round(time.Millisecond),
			pct(be2e, 0.5).Round(time.Millisecond), pct(be2e, 0.99).Round(time.Millisecond))
		added := func(p float64) string {
			d := pct(res.txn, p) - pct(base.txn, p)
			if d < 0 {
				return "not measurable (the baseline was slower: machine noise)"
			}
			return d.Round(time.Millisecond).String()
		}
		t.Logf("load: added latency (mailseal − baseline) SMTP transaction p50 %s, p99 %s", added(0.5), added(0.99))
	}
}
