package withauth

// The clock tests move instead of sleeping.

import (
	"sync"
	"time"
)

// fakeClock is the clock tests move instead of sleeping (Config.Now): it starts at the real
// time, against which tokens are minted, and moves only by Advance.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
