package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestConnectionAndRetentionKeys: the keys of the milter and socketmap
// limits load from YAML and environment, default to "derived" (0) and 120h,
// and bad values name their key.
func TestConnectionAndRetentionKeys(t *testing.T) {
	cfg, err := load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Milter.CopyRetention != 120*time.Hour || cfg.Milter.MaxConnections != 0 || cfg.Socketmap.MaxConnections != 0 {
		t.Fatalf("defaults: %+v %+v", cfg.Milter, cfg.Socketmap)
	}
	t.Setenv("MAILSEAL_SOCKETMAP_MAX_CONNECTIONS", "60")
	cfg, err = load(writeFile(t, "milter:\n  copy_retention: 240h\n  max_connections: 300\nsocketmap:\n  max_connections: 50\n"), os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Milter.CopyRetention != 240*time.Hour || cfg.Milter.MaxConnections != 300 || cfg.Socketmap.MaxConnections != 60 {
		t.Fatalf("loaded: %+v %+v", cfg.Milter, cfg.Socketmap)
	}
	for _, tc := range []struct{ yaml, env, want string }{
		{"milter:\n  copy_retention: 0s\n", "", "config: milter.copy_retention: must be a positive duration"},
		{"milter:\n  max_connections: -1\n", "", "config: milter.max_connections: must be 0"},
		{"", "many", `config: socketmap.max_connections (from MAILSEAL_SOCKETMAP_MAX_CONNECTIONS): "many" is not a whole number`},
	} {
		file := ""
		if tc.yaml != "" {
			file = writeFile(t, tc.yaml)
		}
		value := "70"
		if tc.env != "" {
			value = tc.env
		}
		t.Setenv("MAILSEAL_SOCKETMAP_MAX_CONNECTIONS", value)
		_, err := load(file, os.Environ())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %q: got %v, want %q", tc.yaml, tc.env, err, tc.want)
		}
	}
}
