package withauth

// The verified-token cache: grants kept until they expire, looked up by ServeHTTP's fast path.

import (
	"sync"
)

// grant is what a middleware concluded from one verified token: kept in its cache so that the
// token is not parsed, verified or decoded again until it expires.
type grant struct {
	kid string
	key *publicKey
	// keys and epoch are those of the issuer whose key verified the token.
	keys  *keySource
	epoch *keyEpoch
	// generation is epoch's generation when the token was verified; a grant of an
	// older generation is verified anew, so tokens of keys that left the set are dropped.
	generation      int64
	expiresUnixNano int64 // clock skew included
	// usableUntilUnixNano is expiresUnixNano, or earlier the time the key set is due for a
	// refresh: past it the grant is checked against the key source again.
	usableUntilUnixNano int64
	// allowed tells whether the token meets this middleware's roles and permissions;
	// refusal, when not and rejections are logged, what the log line says of the token.
	allowed bool
	refusal string
	// forwardNames and forwardValues are the forwarded headers the claims give a value, in the
	// middleware's order: a header of an absent claim is not listed, so that a hit sets the
	// headers without a check each. They are shared by every request with the token, never
	// modified.
	forwardNames  []string
	forwardValues [][]string
}

// tokenCache maps credentials (the Authorization header's value) to grants, for at most size
// of them. When it is full, an eighth of it, taken in Go's random map order, makes room: no
// per-entry bookkeeping on the request path, and a token reused in a cycle longer than the
// cache still hits in proportion to what fits. It is read and written through plain functions,
// not methods: under Yaegi a method call costs several times a function call.
type tokenCache struct {
	mu     sync.Mutex
	size   int
	grants map[string]*grant
}

func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	return &tokenCache{size: size, grants: make(map[string]*grant)}
}

func cachedGrant(c *tokenCache, key string) *grant {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	g := c.grants[key]
	c.mu.Unlock()
	return g
}

func cacheGrant(c *tokenCache, key string, g *grant) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if len(c.grants) >= c.size {
		c.evictLocked()
	}
	c.grants[key] = g
	c.mu.Unlock()
}

func (c *tokenCache) evictLocked() {
	room := c.size/8 + 1
	for key := range c.grants {
		delete(c.grants, key)
		if room--; room == 0 {
			return
		}
	}
}

func uncacheGrant(c *tokenCache, key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	delete(c.grants, key)
	c.mu.Unlock()
}

// usableUntil bounds a grant's use without asking the key source: its expiry, or the key
// set's next refresh if that comes first (Unix nanoseconds).
func usableUntil(expiresUnixNano int64, epoch *keyEpoch) int64 {
	if due := epoch.refreshDueUnixNano.Load(); due < expiresUnixNano {
		return due
	}
	return expiresUnixNano
}
