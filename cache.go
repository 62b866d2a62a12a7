package withauth

// The verified-token cache: one store for the process (process.grants), shared by every withauth
// middleware and kept across reloads, bounded in bytes; ServeHTTP's fast path reads it.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
)

// maxStoreBytes bounds what every cached grant of the process takes together, as grantBytes
// estimates it, whatever the number of routes and reloads.
const maxStoreBytes = 64 << 20

// tokenStore holds every tokenCache of the process, one per configuration and token source: a
// route whose configuration did not change finds its grants again after a reload, and routes
// configured alike share theirs. Every cache is read and written under its store's mu: one
// lock, so that evicting across caches needs no lock order.
type tokenStore struct {
	mu       sync.Mutex
	maxBytes int64
	bytes    int64
	// caches are kept for the life of the process (about 200 bytes each, beside their grants):
	// one per distinct configuration loaded, not per reload.
	caches map[string]*tokenCache
}

func newTokenStore(maxBytes int64) *tokenStore {
	return &tokenStore{maxBytes: maxBytes, caches: make(map[string]*tokenCache)}
}

// tokenCache maps credentials (the Authorization header's value, or another source's token) to
// the grants of one configuration, for at most size of them. When it is full, an eighth of it,
// taken in Go's random map order, makes room: no per-entry bookkeeping on the request path, and
// a token reused in a cycle longer than the cache still hits in proportion to what fits. It is
// read and written through plain functions, not methods: under Yaegi a method call costs
// several times a function call.
type tokenCache struct {
	store  *tokenStore
	size   int
	grants map[string]*grant
	bytes  int64 // grantBytes of its grants
	// peak is the most grants its map held since it was made: a Go map keeps its buckets when
	// entries leave, so a cache that shrank to a quarter of it gets a new map.
	peak int
}

// sharedTokenCache is the cache of a configuration (configID) and token source, made on first
// use; nil when size is 0 (cacheSize 0: caching off).
func sharedTokenCache(s *tokenStore, configID string, source credentialSource, size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	id := fmt.Sprintf("%s/%d", configID, source)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.caches[id]
	if c == nil {
		c = &tokenCache{store: s, size: size, grants: make(map[string]*grant)}
		s.caches[id] = c
	}
	return c
}

// configID names a configuration by everything a grant depends on: every setting, Frontegg's as
// resolved from Traefik's environment too (withEnvironment); not the clock (decisions read each
// middleware's own) and not Given (already decoded into the settings).
func configID(config *Config) string {
	settings := *config
	settings.Now = nil
	settings.Given = nil
	sum := sha256.Sum256([]byte(fmt.Sprintf("%#v", settings)))
	return hex.EncodeToString(sum[:])
}

func cachedGrant(c *tokenCache, key string) *grant {
	if c == nil {
		return nil
	}
	c.store.mu.Lock()
	g := c.grants[key]
	c.store.mu.Unlock()
	return g
}

func cacheGrant(c *tokenCache, key string, g *grant) {
	if c == nil {
		return
	}
	size := grantBytes(key, g)
	s := c.store
	s.mu.Lock()
	if old := c.grants[key]; old != nil {
		forget(s, c, key, old)
	} else if len(c.grants) >= c.size {
		evict(s, c, c.size/8+1)
	}
	if s.bytes+size > s.maxBytes {
		evictStore(s)
	}
	c.grants[key] = g
	c.bytes += size
	s.bytes += size
	if len(c.grants) > c.peak {
		c.peak = len(c.grants)
	}
	s.mu.Unlock()
}

func uncacheGrant(c *tokenCache, key string) {
	if c == nil {
		return
	}
	c.store.mu.Lock()
	if g := c.grants[key]; g != nil {
		forget(c.store, c, key, g)
	}
	c.store.mu.Unlock()
}

// forget removes one grant; s.mu is held.
func forget(s *tokenStore, c *tokenCache, key string, g *grant) {
	delete(c.grants, key)
	size := grantBytes(key, g)
	c.bytes -= size
	s.bytes -= size
}

// evict removes up to count grants of c in map order; s.mu is held.
func evict(s *tokenStore, c *tokenCache, count int) {
	for key, g := range c.grants {
		if count <= 0 {
			break
		}
		forget(s, c, key, g)
		count--
	}
	if len(c.grants) < c.peak/4 {
		grants := make(map[string]*grant, len(c.grants))
		for key, g := range c.grants {
			grants[key] = g
		}
		c.grants = grants
		c.peak = len(grants)
	}
}

// evictStore brings the store down to seven eighths of its bound, taking an eighth of every
// cache in turn (the caches in map order), so that the caches of configurations no route uses
// any more empty as the others fill; s.mu is held.
func evictStore(s *tokenStore) {
	target := s.maxBytes / 8 * 7
	for evicted := true; s.bytes > target && evicted; {
		evicted = false
		for _, c := range s.caches {
			if len(c.grants) > 0 {
				evict(s, c, len(c.grants)/8+1)
				evicted = true
			}
			if s.bytes <= target {
				return
			}
		}
	}
}

// grantOverheadBytes is what a cached grant takes beyond the bytes of its strings: the grant,
// its slices' arrays, the map's slot and string headers (measured by
// TestGrantBytesCoverTheHeap, compiled and under Yaegi).
const grantOverheadBytes = 400

// grantBytes estimates the memory of a cached grant under key.
func grantBytes(key string, g *grant) int64 {
	size := grantOverheadBytes + len(key) + len(g.kid) + len(g.refusal) + len(g.verified) + len(g.assertionClaims) + len(g.assertionAudience) + len(g.assertionHost) + len(g.jkt) + len(g.x5t)
	for _, values := range g.forwardValues {
		size += 56 + len(values[0])
	}
	return int64(size)
}
