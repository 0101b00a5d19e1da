package certs

import (
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// pgpTestConfig is the go-crypto configuration tests sign and verify with:
// at the test's clock, not the wall clock.
type pgpTestConfig struct{ now time.Time }

func (c *pgpTestConfig) packet() *packet.Config {
	return &packet.Config{Time: func() time.Time { return c.now }}
}
