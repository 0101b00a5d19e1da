package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailseal/mailseal/admin"
	"github.com/mailseal/mailseal/config"
	"github.com/mailseal/mailseal/ledger"
	"github.com/mailseal/mailseal/milter"
	"github.com/mailseal/mailseal/pdfmail"
	"github.com/mailseal/mailseal/policy"
	"github.com/mailseal/mailseal/reinject"
	"github.com/mailseal/mailseal/socketmap"
)

func newServeCommand(cfgPath func() string) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the milter daemon (embedded defaults when no config is given)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath())
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg)
		},
	}
}

// settingsFrom builds the processor's settings; config.Load has validated
// the policy, so Compile cannot fail here.
func settingsFrom(cfg *config.Config) (*milter.Settings, error) {
	engine, problems := policy.Compile(cfg.Policy)
	if len(problems) > 0 {
		return nil, fmt.Errorf("policy: %s", problems[0])
	}
	return &milter.Settings{
		AuthservID: cfg.AuthservID,
		Engine:     engine,
		PDF: milter.PDFSettings{Lang: cfg.PDF.Language, MaxSize: int(cfg.Milter.MaxMessageSize),
			Delivery: pdfmail.PasswordDelivery(cfg.PDF.PasswordDelivery), SMS: cfg.PDF.SMS.Webhook, Numbers: cfg.PDF.SMS.Numbers},
		Policy: policy.Settings{
			InternalDomains: append([]string(nil), cfg.InternalDomains...),
			TrustedNetworks: cfg.TrustedPrefixes(),
			LoginMap:        cfg.Auth.LoginMap,
			// Whether to sign is the engine's decision (policy.sign and
			// rules); Decide only answers whether we may sign for the sender.
			Sign: policy.SignAlways,
		},
	}, nil
}

func serve(parent context.Context, cfg *config.Config) (err error) {
	if parent == nil {
		parent = context.Background()
	}
	log := newLogger(cfg)
	defer func() {
		if err != nil {
			err = logFatal(log, err)
		}
	}()
	// Signals are caught from the start: a SIGTERM that arrives while the
	// listeners come up must drain and exit 0, not kill the process.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(signals)
	milterConns, socketmapConns := connectionLimits(raiseOpenFiles(log), cfg.Milter.MaxConnections, cfg.Socketmap.MaxConnections)
	ctx, stop := context.WithCancel(parent)
	defer stop()

	metrics := admin.NewMetrics()
	metrics.BuildInfo(version, runtime.Version())
	first := probeFirstStart(cfg)
	mgr, err := openCerts(ctx, cfg, log, func(string, *x509.Certificate) { metrics.CertificateIssued() })
	if err != nil {
		return err
	}
	defer mgr.Close()
	logIdentitySetup(cfg, mgr, log)
	metrics.Expiries(func() (time.Time, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return mgr.SoonestExpiry(ctx)
	}, func() time.Time {
		if ca := mgr.CACertificate(); ca != nil {
			return ca.NotAfter
		}
		return time.Time{}
	})

	settings, err := settingsFrom(cfg)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	wiring := newInboundWiring(cfg, mgr.CACertificate())
	if settings.Inbound, err = inboundFrom(cfg, wiring); err != nil {
		return &exitError{code: 2, err: err}
	}
	var reinjector milter.Reinjector
	if cfg.Reinject != "" {
		reinjector = countingReinjector{&reinject.Client{Addr: cfg.Reinject, Helo: cfg.AuthservID, Logger: log}, metrics}
	}
	proc := milter.NewProcessor(settings, mgr, reinjector, log)
	copies, err := openLedger(ctx, cfg)
	if err != nil {
		return err
	}
	defer copies.Close()
	proc.SetLedger(copies)
	proc.SetKeys(mgr.Directory(), mgr)
	proc.SetDecryptionKeys(mgr)
	srv := milter.NewServer(proc, milter.Options{
		ReadTimeout:    cfg.Milter.ReadTimeout,
		WriteTimeout:   cfg.Milter.WriteTimeout,
		SpoolMemory:    int64(cfg.Milter.SpoolMemory),
		MaxMessageSize: int64(cfg.Milter.MaxMessageSize),
		MaxConnections: milterConns,
		Logger:         log,
		Observe: func(res milter.Result, elapsed time.Duration) {
			result := "accept"
			switch {
			case res.Reply.Code >= 500:
				result = "reject"
			case res.Reply.Code >= 400:
				result = "tempfail"
			}
			metrics.ObserveMessage(res.Direction, res.Action, result, elapsed)
			for _, d := range res.Decisions {
				metrics.ObserveDecision(d.Rule, d.Treatment.String())
			}
		},
	})

	network, address, _ := config.SplitSocket(cfg.Listen)
	ln, err := milter.Listen(network, address)
	if err != nil {
		return fmt.Errorf("listen: cannot listen on %s: %w", cfg.Listen, err)
	}
	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(ln) }()

	var httpSrv *http.Server
	if cfg.AdminListen != "" {
		aln, err := net.Listen("tcp", cfg.AdminListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin_listen: cannot listen on %s: %w", cfg.AdminListen, err)
		}
		healthy := func(ctx context.Context) error {
			if srv.Closing() {
				return errors.New("milter is shutting down")
			}
			return mgr.Ping(ctx)
		}
		httpSrv = &http.Server{Handler: admin.Handler(mgr, metrics, healthy, log), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := httpSrv.Serve(aln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("admin: %w", err)
			}
		}()
	}
	// With several instances on PostgreSQL only the leader renews.
	go mgr.RunAsLeader(ctx, "renewer", func(ctx context.Context) {
		mgr.RunRenewerObserved(ctx, cfg.CA.RenewInterval, metrics.RenewalFailures)
	})
	startLDAPJob(ctx, cfg, mgr, log)

	var tlsMap *socketmap.Server
	if cfg.SocketmapListen != "" {
		sln, err := net.Listen("tcp", cfg.SocketmapListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("socketmap_listen: cannot listen on %s: %w", cfg.SocketmapListen, err)
		}
		tlsMap = socketmap.New(map[string]socketmap.Lookup{
			"tlspolicy": func(_ context.Context, key string) (string, bool, error) {
				v, ok := proc.Settings().Engine.TLSPolicy(key)
				metrics.SocketmapLookup("tlspolicy", ok)
				return v, ok, nil
			},
		}, socketmap.Options{Logger: log, MaxConnections: socketmapConns})
		go func() {
			if err := tlsMap.Serve(sln); err != nil {
				serveErr <- fmt.Errorf("socketmap: %w", err)
			}
		}()
	}

	for _, w := range tlsBypassWarnings(cfg) {
		log.Warn("require_tls not enforced: " + w)
	}
	if len(cfg.InternalDomains) == 0 {
		log.Warn("internal_domains is empty: no mail will be signed; set it in the config or MAILSEAL_INTERNAL_DOMAINS")
	}
	log.Info("mailseal serving", "listen", cfg.Listen, "admin", cfg.AdminListen, "socketmap", cfg.SocketmapListen,
		"reinject", cfg.Reinject, "rules", len(cfg.Policy.Rules), "state_dir", cfg.StateDir,
		"milter_max_connections", milterConns, "socketmap_max_connections", socketmapConns,
		"internal_domains", cfg.InternalDomains, "config", cfg.Source,
		"ca_fingerprint_sha256", caFingerprint(mgr.CACertificate()))
	first.report(log)

	for {
		select {
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				cfg = reload(cfg, proc, wiring, metrics, log)
				logCADomainWarnings(cfg, mgr, log)
				continue
			}
			log.Info("shutting down", "signal", sig.String(), "in_flight", srv.InFlight())
			return shutdown(srv, httpSrv, tlsMap, cfg.Milter.ShutdownTimeout, log)
		case err := <-serveErr:
			if err == nil {
				return nil
			}
			_ = shutdown(srv, httpSrv, tlsMap, cfg.Milter.ShutdownTimeout, log)
			return err
		case <-parent.Done():
			return shutdown(srv, httpSrv, tlsMap, cfg.Milter.ShutdownTimeout, log)
		}
	}
}

// reload swaps in a new config atomically; a bad file keeps the old one.
func reload(old *config.Config, proc *milter.Processor, wiring inboundWiring, metrics *admin.Metrics, log *slog.Logger) *config.Config {
	cfg, err := config.Load(old.Source)
	var settings *milter.Settings
	if err == nil {
		settings, err = settingsFrom(cfg)
	}
	if err == nil {
		settings.Inbound, err = inboundFrom(cfg, wiring)
	}
	if err != nil {
		metrics.Reloaded(false)
		log.Error("reload failed, keeping the running configuration", "file", old.Source, "err", err)
		return old
	}
	proc.SetSettings(settings)
	metrics.Reloaded(true)
	for _, k := range restartOnlyChanges(old, cfg) {
		log.Warn("reload: this key changes only after a restart", "key", k)
	}
	for _, w := range protectionDropped(old, cfg) {
		log.Warn(w.msg, "key", w.key, "file", cfg.Source)
	}
	log.Info("configuration reloaded", "file", cfg.Source, "internal_domains", cfg.InternalDomains)
	return cfg
}

type dropWarning struct{ key, msg string }

// protectionDropped names what a reload switched off that the old config
// enforced, since a valid but truncated file would otherwise stop signing or
// require_tls without a word.
func protectionDropped(a, b *config.Config) []dropWarning {
	var ws []dropWarning
	if len(a.InternalDomains) > 0 && len(b.InternalDomains) == 0 {
		ws = append(ws, dropWarning{"internal_domains", "reload: internal_domains is now empty: no mail will be signed"})
	}
	if requireTLSRules(a) > 0 && requireTLSRules(b) == 0 {
		ws = append(ws, dropWarning{"policy.rules", "reload: no require_tls rule is left: TLS is no longer required for any partner"})
	}
	return ws
}

func requireTLSRules(c *config.Config) int {
	n := 0
	for _, r := range c.Policy.Rules {
		if r.RequireTLS {
			n++
		}
	}
	return n
}

// restartOnlyChanges lists keys whose new value the running daemon cannot
// take over (sockets, storage, CA) so the admin knows a restart is needed.
func restartOnlyChanges(a, b *config.Config) []string {
	var keys []string
	check := func(key string, changed bool) {
		if changed {
			keys = append(keys, key)
		}
	}
	check("listen", a.Listen != b.Listen)
	check("admin_listen", a.AdminListen != b.AdminListen)
	check("socketmap_listen", a.SocketmapListen != b.SocketmapListen)
	check("reinject", a.Reinject != b.Reinject)
	check("state_dir", a.StateDir != b.StateDir)
	check("store", a.Store != b.Store)
	check("ca", a.CA != b.CA)
	check("enroll.ldap", a.Enroll.LDAP != b.Enroll.LDAP)
	check("master_key", a.MasterKey != b.MasterKey || a.MasterKeyFile != b.MasterKeyFile)
	// shutdown_timeout is read at shutdown, so a reload does take it over.
	am, bm := a.Milter, b.Milter
	am.ShutdownTimeout, bm.ShutdownTimeout = 0, 0
	check("milter", am != bm)
	check("log", a.Log != b.Log)
	check("socketmap", a.Socketmap != b.Socketmap)
	check("trust.revocation_timeout", a.Trust.RevocationTimeout != b.Trust.RevocationTimeout)
	check("trust.revocation_cache_max", a.Trust.RevocationCacheMax != b.Trust.RevocationCacheMax)
	return keys
}

func shutdown(srv *milter.Server, httpSrv *http.Server, tlsMap *socketmap.Server, timeout time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	if err != nil {
		// Postfix tempfails what we did not finish: the client retries, nothing is lost.
		log.Warn("shutdown: gave up waiting", "err", err)
	}
	if httpSrv != nil {
		_ = httpSrv.Shutdown(ctx)
	}
	if tlsMap != nil {
		_ = tlsMap.Shutdown(ctx)
	}
	log.Info("mailseal stopped")
	return nil
}

// copyLedger is the durable copy ledger serve hands the milter.
type copyLedger interface {
	milter.CopyLedger
	Close() error
}

// openLedger opens the copy ledger: a file in state_dir, or with
// store.driver: postgres the table every instance shares.
func openLedger(ctx context.Context, cfg *config.Config) (copyLedger, error) {
	if cfg.Postgres() {
		dsn, err := cfg.PostgresDSN()
		if err != nil {
			return nil, &exitError{code: 2, err: fmt.Errorf("config: store.dsn_file: %w", err)}
		}
		return ledger.OpenPostgres(ctx, dsn, cfg.Milter.CopyRetention)
	}
	return ledger.Open(ctx, filepath.Join(cfg.StateDir, "copies.db"), cfg.Milter.CopyRetention)
}
