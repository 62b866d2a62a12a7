package withauth

// The request path: the cache-hit fast path, credentials, and the decision to admit or refuse.

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
			if time.Now().UnixNano() <= g.usableUntilUnixNano && g.generation == g.epoch.generation.Load() {
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
			m.refuse(rw, errInternal)
			admitted = false
		}
	}()

	token, source, err := m.credentials(req.Header)
	if err != nil {
		m.refuse(rw, err)
		return false
	}

	// The Authorization cache is keyed by the header's value as ServeHTTP looks it up:
	// "Bearer <token>" exactly (other spellings are verified every time, so one token cannot
	// fill the cache). Access tokens have a cache of their own.
	cache := m.apiKeyCache
	cacheKey := token
	if source == fromAuthorization {
		cache = m.cache
		cacheKey = "Bearer " + token
		if cacheKey != req.Header["Authorization"][0] {
			cache = nil
		}
	}
	nowUnixNano := time.Now().UnixNano()
	var g *grant
	if cache != nil {
		g = cache.get(cacheKey)
	}
	if g != nil && (nowUnixNano > g.usableUntilUnixNano || g.generation != g.epoch.generation.Load()) {
		g = revalidate(req.Context(), cache, cacheKey, g, nowUnixNano)
	}
	if g == nil {
		if g, err = m.verify(req.Context(), token, source, nowUnixNano); err != nil {
			m.refuse(rw, err)
			return false
		}
		if cache != nil {
			cache.add(cacheKey, g)
		}
	}

	if !g.allowed {
		m.refuse(rw, errInsufficientScope)
		return false
	}
	for i, name := range m.forwardNames {
		if values := g.headerValues[i]; values != nil {
			req.Header[name] = values
		}
	}
	return true
}

// revalidate decides on a grant past its usableUntilUnixNano: dropped once expired or when its
// key is no longer the source's (asking the source also starts the due refresh), otherwise
// cached again until the next refresh is due.
func revalidate(ctx context.Context, cache *tokenCache, cacheKey string, g *grant, nowUnixNano int64) *grant {
	if nowUnixNano > g.expiresUnixNano || g.generation != g.epoch.generation.Load() {
		cache.remove(cacheKey)
		return nil
	}
	if key, err := g.keys.lookup(ctx, g.kid); err != nil || key != g.key {
		cache.remove(cacheKey)
		return nil
	}
	renewed := *g
	renewed.usableUntilUnixNano = usableUntil(g.expiresUnixNano, g.epoch)
	cache.add(cacheKey, &renewed)
	return &renewed
}

// usableUntil bounds a grant's use without asking the key source: its expiry, or the key
// set's next refresh if that comes first (Unix nanoseconds).
func usableUntil(expiresUnixNano int64, epoch *keyEpoch) int64 {
	if due := epoch.refreshDueUnixNano.Load(); due < expiresUnixNano {
		return due
	}
	return expiresUnixNano
}

// credentialSource is the header a token came from: one token string is judged by other
// rules in each.
type credentialSource int

const (
	fromAuthorization credentialSource = iota // Authorization: Bearer
	fromAPIKey                                // x-api-key, Frontegg vendor mode's access tokens
)

// credentials finds the token: a bearer token in Authorization or, in Frontegg vendor mode,
// an access token in x-api-key.
func (m *Middleware) credentials(header http.Header) (string, credentialSource, error) {
	token, err := bearerToken(header["Authorization"])
	if err != errNoCredentials || m.frontegg == nil {
		return token, fromAuthorization, err
	}
	values := header["X-Api-Key"]
	if len(values) == 0 {
		return "", fromAuthorization, errNoCredentials
	}
	if len(values) > 1 {
		return "", fromAPIKey, errTwoAPIKeys
	}
	return strings.TrimSpace(values[0]), fromAPIKey, nil
}

// bearerToken extracts the token of an RFC 6750 Authorization header; the scheme is
// case-insensitive. Without bearer credentials at all it fails with errNoCredentials.
func bearerToken(values []string) (string, error) {
	if len(values) == 0 {
		return "", errNoCredentials
	}
	if len(values) > 1 {
		return "", errTwoAuthorization
	}
	value := values[0]
	if len(value) < 7 || !strings.EqualFold(value[:7], "bearer ") {
		return "", errNoCredentials
	}
	token := strings.TrimLeft(value[7:], " ")
	if token == "" || strings.IndexByte(token, ' ') >= 0 {
		return "", errNotOneBearerToken
	}
	return token, nil
}
