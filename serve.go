package withauth

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// ServeHTTP admits a request whose credentials are cached as allowed with a few map lookups
// and an atomic load; everything else takes serveUncached. Under Yaegi every call and every
// local costs, so this path stays in one small function; its grant application is the
// documented inline copy of authorize's.
func (m *Middleware) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	header := req.Header
	// Every spelling of every identity header goes, before anything can be let through: one map
	// lookup a header, unless an owned name is too long to list its spellings (see ownedHeaders).
	for name := range header {
		if m.ownedSpellings[name] {
			delete(header, name)
		}
	}
	if m.normalizeNames {
		stripNormalized(m.ownedKeys, header)
	}
	credentials := header["Authorization"]
	if len(credentials) == 1 && m.cache != nil {
		m.cache.mu.Lock()
		g := m.cache.grants[credentials[0]]
		m.cache.mu.Unlock()
		if g != nil && g.allowed {
			if time.Now().UnixNano() <= g.usableUntil && g.generation == m.epoch.generation.Load() {
				for i, name := range m.forwardNames {
					if values := g.headerValues[i]; values != nil {
						header[name] = values
					}
				}
				if !m.forwardAuthorization {
					delete(header, "Authorization")
					delete(header, "X-Api-Key")
				}
				m.next.ServeHTTP(rw, req)
				return
			}
		}
	}
	m.serveUncached(rw, req)
}

func (m *Middleware) serveUncached(rw http.ResponseWriter, req *http.Request) {
	// ServeHTTP stripped the identity headers already.
	if m.skipPreflight && req.Method == http.MethodOptions &&
		req.Header.Get("Origin") != "" && req.Header.Get("Access-Control-Request-Method") != "" {
		// Browsers send no credentials on a preflight: whatever a "preflight" carries was not
		// verified, so the upstream must not see it.
		delete(req.Header, "Authorization")
		delete(req.Header, "X-Api-Key")
		m.next.ServeHTTP(rw, req)
		return
	}
	if !m.authorize(rw, req) {
		return
	}
	if !m.forwardAuthorization {
		delete(req.Header, "Authorization")
		delete(req.Header, "X-Api-Key")
	}
	m.next.ServeHTTP(rw, req)
}

// authorize admits the request (setting the identity headers) or answers it. A panic in it
// answers 500 for this request alone: Traefik and the other requests carry on.
func (m *Middleware) authorize(rw http.ResponseWriter, req *http.Request) (admitted bool) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "withauth %s: internal error: %v\n", m.name, p)
			writeError(rw, http.StatusInternalServerError, "server_error", "internal error in the authentication middleware", "")
			admitted = false
		}
	}()

	token, viaAPIKey, problem := m.credentials(req.Header)
	if problem != "" {
		if problem == problemNoToken {
			writeChallenge(rw, http.StatusUnauthorized, "", "")
		} else {
			writeChallenge(rw, http.StatusBadRequest, "invalid_request", problem)
		}
		return false
	}

	// The Authorization cache is keyed by the header's value as ServeHTTP looks it up:
	// "Bearer <token>" exactly (other spellings are verified every time, so one token cannot
	// fill the cache). Access tokens have a cache of their own.
	cache := m.apiKeyCache
	cacheKey := token
	if !viaAPIKey {
		cache = m.cache
		cacheKey = "Bearer " + token
		if cacheKey != req.Header["Authorization"][0] {
			cache = nil
		}
	}
	now := time.Now().UnixNano()
	var g *grant
	if cache != nil {
		g = cache.get(cacheKey)
	}
	if g != nil && (now > g.usableUntil || g.generation != m.epoch.generation.Load()) {
		g = m.revalidate(req.Context(), cache, cacheKey, g, now)
	}
	if g == nil {
		var err error
		if g, err = m.verify(req.Context(), token, viaAPIKey, now); err != nil {
			m.rejectToken(rw, err)
			return false
		}
		if cache != nil {
			cache.add(cacheKey, g)
		}
	}

	if !g.allowed {
		writeChallenge(rw, http.StatusForbidden, "insufficient_scope", "the token lacks the roles or permissions this route requires")
		return false
	}
	for i, name := range m.forwardNames {
		if values := g.headerValues[i]; values != nil {
			req.Header[name] = values
		}
	}
	return true
}

// revalidate decides on a grant past its usableUntil: dropped once expired or when its key is
// no longer the source's (asking the source also starts the due refresh), otherwise cached
// again until the next refresh is due.
func (m *Middleware) revalidate(ctx context.Context, cache *tokenCache, cacheKey string, g *grant, now int64) *grant {
	generation := m.epoch.generation.Load()
	if now > g.expires || g.generation != generation {
		cache.remove(cacheKey)
		return nil
	}
	if key, err := m.keys.lookup(ctx, g.kid); err != nil || key != g.key {
		cache.remove(cacheKey)
		return nil
	}
	renewed := *g
	renewed.usableUntil = usableUntil(g.expires, m.epoch)
	cache.add(cacheKey, &renewed)
	return &renewed
}

// usableUntil bounds a grant's use without asking the key source: its expiry, or the key
// set's next refresh if that comes first.
func usableUntil(expires int64, epoch *keyEpoch) int64 {
	if due := epoch.refreshDue.Load(); due < expires {
		return due
	}
	return expires
}

// credentials finds the token: a bearer token in Authorization or, in Frontegg vendor mode,
// an access token in x-api-key.
func (m *Middleware) credentials(header http.Header) (token string, viaAPIKey bool, problem string) {
	token, problem = bearerToken(header["Authorization"])
	if problem != problemNoToken || m.frontegg == nil {
		return token, false, problem
	}
	values := header["X-Api-Key"]
	if len(values) == 0 {
		return "", false, problemNoToken
	}
	if len(values) > 1 {
		return "", false, "more than one x-api-key header"
	}
	return strings.TrimSpace(values[0]), true, ""
}

const problemNoToken = "no bearer token"

// bearerToken extracts the token of an RFC 6750 Authorization header; the scheme is
// case-insensitive. problem is problemNoToken when there are no bearer credentials at all.
func bearerToken(values []string) (token, problem string) {
	if len(values) == 0 {
		return "", problemNoToken
	}
	if len(values) > 1 {
		return "", "more than one Authorization header"
	}
	value := values[0]
	if len(value) < 7 || !strings.EqualFold(value[:7], "bearer ") {
		return "", problemNoToken
	}
	token = strings.TrimLeft(value[7:], " ")
	if token == "" || strings.IndexByte(token, ' ') >= 0 {
		return "", "the Authorization header is not Bearer followed by one token"
	}
	return token, ""
}
