package revocation

import (
	"sync"
	"time"
)

// cache keeps values until their expiry, at most max of them. When full it
// first drops expired entries, then arbitrary ones (Go's map order): a
// dropped answer only costs one more fetch.
type cache[T any] struct {
	mu      sync.Mutex
	max     int
	entries map[string]cacheEntry[T]
}

type cacheEntry[T any] struct {
	val     T
	expires time.Time
}

func newCache[T any](max int) *cache[T] {
	return &cache[T]{max: max, entries: make(map[string]cacheEntry[T])}
}

// get returns the value for key when it has not expired at now.
func (c *cache[T]) get(key string, now time.Time) (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.expires) {
		var zero T
		return zero, false
	}
	return e.val, true
}

// put stores val for key until expires (nothing when expires is not after now).
func (c *cache[T]) put(key string, val T, now, expires time.Time) {
	if !expires.After(now) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = cacheEntry[T]{val: val, expires: expires}
}

func (c *cache[T]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
