package config

import (
	"fmt"
	"io"
	"os"

	"github.com/mailseal/mailseal/policy"
)

// maxLoginMapSize bounds auth.login_maps: a mistaken path (a log, a
// database) must not be read into memory whole.
const maxLoginMapSize = 16 << 20

// loadLoginMap reads and parses the auth.login_maps file.
func loadLoginMap(path string) (*policy.LoginMap, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: login map: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxLoginMapSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: login map %s: %w", path, err)
	}
	if len(data) > maxLoginMapSize {
		return nil, fmt.Errorf("config: login map %s is larger than %d MiB", path, maxLoginMapSize>>20)
	}
	return policy.ParseLoginMap(path, data)
}
