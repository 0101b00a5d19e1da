package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mailseal/mailseal/certs"
	"github.com/mailseal/mailseal/config"
)

func newMasterKeyCommand(cfgPath func() string) *cobra.Command {
	cmd := &cobra.Command{Use: "masterkey", Short: "Rotate the master key that seals the private keys in the store"}
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Replace the master key file by a new key and re-seal every key in the store under it (stop serve first)",
		Long: `Replace the master key file by a new random key and re-seal every sealed
private key, OpenPGP key and PDF password in the store under it, in one
transaction. The old key is kept as MASTER_KEY_FILE.old-TIMESTAMP: backups
of the store taken before the rotation need it. mailseal serve must be
stopped: a running daemon would go on sealing new keys under the old key.
An interrupted rotation is finished by running the command again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cfgPath())
			if err != nil {
				return err
			}
			return rotateMasterKey(cmd, cfg)
		},
	})
	return cmd
}

func rotateMasterKey(cmd *cobra.Command, cfg *config.Config) error {
	if cfg.MasterKey != "" {
		return &exitError{code: exitUsage, err: errors.New("config: master_key: the master key is given inline (master_key or MAILSEAL_MASTER_KEY); rotation replaces a key file: move the key into master_key_file first")}
	}
	if cfg.Store.Driver != "" && cfg.Store.Driver != "sqlite" {
		return &exitError{code: exitUsage, err: fmt.Errorf("config: store.driver: master key rotation supports the sqlite store only, not %q", cfg.Store.Driver)}
	}
	if addr := runningDaemon(cmd.Context(), cfg); addr != "" {
		return fmt.Errorf("masterkey rotate: mailseal serve seems to run (%s answers): stop it first (systemctl stop mailseal), then rotate and start it again", addr)
	}
	db := cfg.Store.DSN
	if db == "" {
		db = filepath.Join(cfg.StateDir, "mailseal.db")
	}
	keyFile := cfg.MasterKeyFile
	if keyFile == "" {
		keyFile = filepath.Join(cfg.StateDir, "master.key")
	}
	res, err := certs.RotateMasterKey(cmd.Context(), db, keyFile, rand.Reader, time.Now())
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if res.Resumed {
		fmt.Fprintf(out, "finished an interrupted rotation: %s now holds the new key\n", keyFile)
	} else {
		fmt.Fprintf(out, "master key rotated: %d sealed keys re-sealed; %s holds the new key\n", res.Resealed, keyFile)
	}
	fmt.Fprintf(out, "the old key is kept in %s: store backups taken before now need it.\n", res.Backup)
	fmt.Fprintln(out, "Back up the new key (apart from the store's backups), then start mailseal.")
	return nil
}

// runningDaemon returns the address of a listener of cfg that answers, as a
// sign that mailseal serve runs with this config: the milter port, or the
// admin server's /healthz.
func runningDaemon(ctx context.Context, cfg *config.Config) string {
	if addr, ok := strings.CutPrefix(cfg.Listen, "inet:"); ok {
		if c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr); err == nil {
			c.Close()
			return "listen " + addr
		}
	}
	if cfg.AdminListen != "" {
		client := &http.Client{Timeout: 2 * time.Second}
		if resp, err := client.Get("http://" + cfg.AdminListen + "/healthz"); err == nil {
			resp.Body.Close()
			return "admin_listen " + cfg.AdminListen
		}
	}
	return ""
}
