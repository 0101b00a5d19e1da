package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/config"
	"github.com/mailseal/mailseal/enroll"
)

// defaultLDAPFailures is where `certs enroll --ldap` lists its failures
// unless --failures says otherwise (the current directory: the admin who
// ran it finds it there).
const defaultLDAPFailures = "enroll-failures.txt"

func newEnrollCommand(cfgPath func() string) *cobra.Command {
	var from, retry, failures string
	var useLDAP bool
	var workers int
	cmd := &cobra.Command{
		Use:   "enroll (--from FILE | --retry FILE | --ldap)",
		Short: "Issue certificates ahead of the first mail for a list of addresses or an LDAP group",
		Long: `Issue a certificate for every address that has no usable one yet.

--from FILE reads one address a line (blank lines and # comments skipped) or a
CSV file whose header row has a "mail" column. --ldap asks the directory that
enroll.ldap.* describes (and, with enroll.ldap.revoke_departed, revokes the
certificates of people it no longer returns). Addresses outside
internal_domains are reported, not enrolled.

Failures are written to --failures (default: FILE.failed next to the input,
enroll-failures.txt in the current directory for --ldap; for --retry FILE the
file itself, which is removed when everything succeeded); --retry takes that
file back. The exit code is 1 when anything failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n := 0
			for _, set := range []bool{from != "", retry != "", useLDAP} {
				if set {
					n++
				}
			}
			if n != 1 {
				return &exitError{code: 2, err: errors.New("certs enroll: give exactly one of --from FILE, --retry FILE, --ldap")}
			}
			if workers < 0 {
				return &exitError{code: 2, err: fmt.Errorf("certs enroll: --workers must be positive, got %d", workers)}
			}
			cfg, err := loadConfig(cfgPath())
			if err != nil {
				return err
			}
			if useLDAP && !cfg.Enroll.LDAP.Enabled() {
				return &exitError{code: 2, err: errors.New("certs enroll --ldap: enroll.ldap.url is not set in the config")}
			}
			log := newLogger(cfg)
			// The per-certificate lines of thousands of issuances would
			// bury the summary: the manager logs warnings only.
			m, err := openCerts(cmd.Context(), cfg, newLogger(&config.Config{Log: config.LogConfig{Level: "warn", Format: cfg.Log.Format, Output: cfg.Log.Output}}), nil)
			if err != nil {
				return err
			}
			defer m.Close()
			opts := enroll.Options{Workers: workers}
			bar := newProgress(cmd.OutOrStdout())
			opts.Start, opts.Done = bar.start, bar.done

			var inputFailures []enroll.Failure
			var res enroll.Result
			var revokeFailed []enroll.Failure
			switch {
			case useLDAP:
				if failures == "" {
					failures = defaultLDAPFailures
				}
				r, err := runLDAPEnroll(cmd.Context(), m, &cfg.Enroll.LDAP, opts)
				bar.finish()
				if err != nil {
					log.Error("enroll: LDAP enrolment failed; nothing revoked", "err", err)
					return &exitError{code: 1, err: err, logged: true}
				}
				enroll.LogSync(log, r)
				res, revokeFailed = r.Result, r.RevokeFailed
			default:
				file := from
				if file == "" {
					file = retry
				}
				if failures == "" {
					failures = file + ".failed"
					if retry != "" {
						failures = retry
					}
				}
				addrs, bad, err := readListFile(file)
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				inputFailures = bad
				res = enroll.Run(cmd.Context(), m, addrs, opts)
				bar.finish()
				log.Info("enroll: "+resultSummary(res, len(bad)), "file", file, "workers", effectiveWorkers(workers))
				for _, f := range res.Failed {
					log.Warn("enroll: could not enrol", "email", f.Address, "err", f.Reason)
				}
			}
			all := append(append(inputFailures, res.Failed...), revokeFailed...)
			if err := writeFailureFile(failures, all); err != nil {
				return err
			}
			if len(all) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d failed; the list is in %s: fix what it says, then run `mailseal certs enroll --retry %s`\n", len(all), failures, failures)
				return &exitError{code: 1, err: fmt.Errorf("certs enroll: %d failed", len(all)), logged: true}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "file with one address a line, or CSV with a \"mail\" column")
	f.StringVar(&retry, "retry", "", "failure list of an earlier run to try again")
	f.BoolVar(&useLDAP, "ldap", false, "enrol the members of the LDAP directory in enroll.ldap.*")
	f.IntVar(&workers, "workers", 0, "certificates issued at once (default: the number of CPUs Go uses)")
	f.StringVar(&failures, "failures", "", "where to write the addresses that failed")
	return cmd
}

// runLDAPEnroll is one directory pass under the store-wide job lease, so it
// never overlaps serve's scheduled job or another command.
func runLDAPEnroll(ctx context.Context, m *certs.Manager, l *config.LDAPEnrollConfig, opts enroll.Options) (*enroll.SyncResult, error) {
	lease, ok, err := m.TryJobLease(ctx, enroll.JobName, 3*time.Minute)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("enroll: another LDAP enrolment is running (serve's scheduled job or another command); try again later")
	}
	defer lease.Release()
	d, err := ldapDirectory(l)
	if err != nil {
		return nil, err
	}
	return enroll.Sync(ctx, m, d, l.RevokeDeparted, opts)
}

// ldapDirectory turns the validated config into the directory to ask.
func ldapDirectory(l *config.LDAPEnrollConfig) (*enroll.Directory, error) {
	d := &enroll.Directory{URL: l.URL, BindDN: l.BindDN, Password: l.Password, BaseDN: l.BaseDN,
		Filter: l.Filter, MailAttribute: l.MailAttribute, Timeout: l.Timeout}
	if l.CAFile != "" {
		pool, err := config.LoadCertPool(l.CAFile)
		if err != nil {
			return nil, fmt.Errorf("enroll.ldap.ca_file: %w", err)
		}
		d.RootCAs = pool
	}
	return d, nil
}

func resultSummary(r enroll.Result, unreadable int) string {
	r.Failed = append(r.Failed, make([]enroll.Failure, unreadable)...)
	return r.Summary()
}

func effectiveWorkers(w int) int {
	if w <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return w
}

func readListFile(path string) ([]string, []enroll.Failure, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("certs enroll: %w", err)
	}
	defer f.Close()
	addrs, bad, err := enroll.ReadList(f)
	if err != nil {
		return nil, nil, fmt.Errorf("certs enroll: %s: %w", path, err)
	}
	return addrs, bad, nil
}

// writeFailureFile writes the failure list, or removes a stale one when
// nothing failed (so a successful --retry leaves no file behind).
func writeFailureFile(path string, failures []enroll.Failure) error {
	if len(failures) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("certs enroll: remove old failure list: %w", err)
		}
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".enroll-failures-*")
	if err != nil {
		return fmt.Errorf("certs enroll: failure list: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := enroll.WriteFailures(tmp, failures); err != nil {
		tmp.Close()
		return fmt.Errorf("certs enroll: failure list: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("certs enroll: failure list: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("certs enroll: failure list: %w", err)
	}
	return nil
}

// progress draws a bar when w is a terminal and does nothing otherwise
// (logs and pipes get the summary line only).
type progress struct {
	w   io.Writer
	tty bool
	mu  sync.Mutex
	bar *progressbar.ProgressBar
}

func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, tty: ok && term.IsTerminal(int(f.Fd()))}
}

func (p *progress) start(total int) {
	if !p.tty || total == 0 {
		return
	}
	p.mu.Lock()
	p.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription("enrolling"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("certs"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish())
	p.mu.Unlock()
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Add(1)
	}
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}

// startLDAPJob starts serve's scheduled directory enrolment when
// enroll.ldap.interval is set. It uses half the CPUs, leaving the rest to
// mail, which must not stall while a new department is enrolled.
func startLDAPJob(ctx context.Context, cfg *config.Config, m *certs.Manager, log *slog.Logger) {
	l := &cfg.Enroll.LDAP
	if !l.Enabled() || l.Interval <= 0 {
		return
	}
	d, err := ldapDirectory(l)
	if err != nil {
		log.Error("enroll: LDAP job not started", "err", err)
		return
	}
	log.Info("enroll: LDAP job scheduled", "url", l.URL, "base_dn", l.BaseDN, "filter", l.Filter,
		"interval", l.Interval, "revoke_departed", l.RevokeDeparted)
	go enroll.Schedule(ctx, m, d, l.RevokeDeparted, l.Interval,
		enroll.Options{Workers: max(1, runtime.GOMAXPROCS(0)/2)}, log)
}
