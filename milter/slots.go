package milter

import (
	"sync"
	"time"
)

// connSlots caps the connections served at once (milter.max_connections).
// A connection beyond the cap is not accepted: it waits in the listen queue
// until a slot frees, so idle connections cannot make the daemon run out of
// file descriptors.
type connSlots struct {
	ch   chan struct{}
	done chan struct{}
	once sync.Once
}

func newConnSlots(n int) *connSlots {
	return &connSlots{ch: make(chan struct{}, n), done: make(chan struct{})}
}

// acquire blocks until a slot is free; false once the server is closing.
func (s *connSlots) acquire() bool {
	select {
	case <-s.done:
		return false
	default:
	}
	select {
	case s.ch <- struct{}{}:
		return true
	case <-s.done:
		return false
	}
}

func (s *connSlots) release() { <-s.ch }

// inUse is the number of connections holding a slot.
func (s *connSlots) inUse() int { return len(s.ch) }

// sleep waits d; false if the server began closing meanwhile.
func (s *connSlots) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

func (s *connSlots) close() { s.once.Do(func() { close(s.done) }) }
