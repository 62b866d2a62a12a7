package withauth

import (
	"crypto/rsa"
	"sync"
)

// grant is what a middleware concluded from one verified token: kept in its cache so that the
// token is not parsed, verified or decoded again until it expires.
type grant struct {
	kid     string
	key     *rsa.PublicKey
	expires int64 // Unix nanoseconds, clock skew included
	// allowed tells whether the token meets this middleware's roles and permissions.
	allowed bool
	// headerValues are the values of the forwarded headers, in the middleware's order; "" for absent claims.
	headerValues []string
}

// tokenCache maps token strings to grants. It holds two generations of at most half its size
// each: a lookup promotes a hit from the older one, and when the newer is full the older is
// dropped whole. Memory stays bounded without per-entry bookkeeping.
type tokenCache struct {
	mu         sync.Mutex
	generation int
	recent     map[string]*grant
	older      map[string]*grant
}

func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	generation := size / 2
	if generation < 1 {
		generation = 1
	}
	return &tokenCache{generation: generation, recent: make(map[string]*grant)}
}

func (c *tokenCache) get(token string) *grant {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	g := c.recent[token]
	if g == nil {
		if g = c.older[token]; g != nil {
			c.addLocked(token, g)
		}
	}
	c.mu.Unlock()
	return g
}

func (c *tokenCache) add(token string, g *grant) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.addLocked(token, g)
	c.mu.Unlock()
}

func (c *tokenCache) addLocked(token string, g *grant) {
	if len(c.recent) >= c.generation {
		c.older = c.recent
		c.recent = make(map[string]*grant)
	}
	c.recent[token] = g
}

func (c *tokenCache) remove(token string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.recent, token)
	delete(c.older, token)
	c.mu.Unlock()
}
