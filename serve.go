package withauth

// The request path: the cache-hit fast path, credentials, and the decision to admit or refuse.

import (
	"context"
	"net/http"
)

// ServeHTTP admits a request whose credentials are cached as allowed with a few map lookups
// and an atomic load; everything else takes serveUncached. Under Yaegi every call and every
// local costs, so this path stays in one small function; its grant application is the
// documented inline copy of authorize's.
func (m *Middleware) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	header := req.Header
	// Every spelling of every identity header of the process goes, before anything can be let
	// through: one map lookup a header, unless an owned name is too long to list its spellings
	// (see ownedNames).
	owned := m.owned.Load().(*ownedNames)
	for name := range header {
		if owned.spellings[name] {
			delete(header, name)
		}
	}
	if owned.longKeys != nil {
		stripNormalized(owned.longKeys, header)
	}
	credentials := header["Authorization"]
	if cache := m.cache; len(credentials) == 1 && cache != nil {
		m.grantsLock.Lock()
		g := cache.grants[credentials[0]]
		m.grantsLock.Unlock()
		if g != nil && g.allowed {
			if m.now().UnixNano() <= g.usableUntilUnixNano && g.generation == g.epoch.generation.Load() && (g.assertionHost == "" || g.assertionHost == req.Host) {
				for i, name := range g.forwardNames {
					header[name] = g.forwardValues[i]
				}
				if !m.forwardAuthorization {
					removeCredential(req, m.sources)
				}
				m.next.ServeHTTP(rw, req)
				return
			}
		}
	}
	serveUncached(m, rw, req, false)
}

// ServeHTTP strips the identity headers keeping the token header, then judges the request.
func (t *tokenHeaderRoute) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	owned := t.m.owned.Load().(*ownedNames)
	consume := stripOwnedKeepingTokenHeader(req.Header, owned, t.m.sources.header)
	serveUncached(t.m, rw, req, consume)
}

// serveUncached judges a request the fast path did not admit; consumeTokenHeader: the route's
// tokenHeader is an identity name another route forwards, never passed on.
func serveUncached(m *Middleware, rw http.ResponseWriter, req *http.Request, consumeTokenHeader bool) {
	// ServeHTTP stripped the identity headers already.
	if m.skipPreflight && req.Method == http.MethodOptions &&
		req.Header.Get("Origin") != "" && req.Header.Get("Access-Control-Request-Method") != "" {
		// Browsers send no credentials on a preflight: whatever a "preflight" carries was not
		// verified, so the upstream must not see it.
		removeCredential(req, m.sources)
	} else if !authorize(m, rw, req) {
		return
	} else if !m.forwardAuthorization {
		removeCredential(req, m.sources)
	}
	// The token never reaches the upstream in its URL, nor in a name that reads as an identity.
	if m.sources.query != "" {
		removeQueryToken(req, m.sources.query)
	}
	if consumeTokenHeader {
		delete(req.Header, m.sources.header)
	}
	m.next.ServeHTTP(rw, req)
}

// authorize admits the request (setting the identity headers) or answers it. A panic in it
// answers 500 for this request alone: Traefik and the other requests carry on.
func authorize(m *Middleware, rw http.ResponseWriter, req *http.Request) (admitted bool) {
	// A named function, not a closure: under Yaegi a closure copies the frame of authorize.
	defer answerPanic(m, rw, req, &admitted)

	token, source, err := credentials(&m.sources, req)
	if err == errNoCredentials && m.optional {
		return true // anonymous: every identity header stripped, none set
	}
	if err != nil {
		refuse(m, rw, req, err, "")
		return false
	}

	// Each source has its own cache. The Authorization cache is keyed by the header's value as
	// ServeHTTP looks it up: "Bearer <token>" exactly (other spellings are verified every time,
	// so one token cannot fill the cache).
	cache := m.caches[source]
	cacheKey := token
	if source == fromAuthorization && cache != nil {
		cacheKey = "Bearer " + token
		if cacheKey != req.Header["Authorization"][0] {
			cache = nil
		}
	}
	nowUnixNano := m.now().UnixNano()
	var g *grant
	if cache != nil {
		g = cachedGrant(cache, cacheKey)
	}
	if g != nil && (nowUnixNano > g.usableUntilUnixNano || g.generation != g.epoch.generation.Load()) {
		g = revalidate(req.Context(), cache, cacheKey, g, nowUnixNano)
	}
	if g == nil {
		var detail string
		if g, detail, err = verify(req.Context(), &m.tokenRules, token, requester(m, req), source, nowUnixNano); err != nil {
			refuse(m, rw, req, err, detail)
			return false
		}
		// An admitted grant with an assertion is cached by withAssertion, once it carries one.
		if cache != nil && (m.upstream == nil || !g.allowed) {
			cacheGrant(cache, cacheKey, g)
		}
	}

	if m.readConfirmations {
		if err := checkBinding(m.dpop, m.certificates, m.now(), req, rw.Header(), token, source, g); err != nil {
			refuse(m, rw, req, err, bindingDetail(m.rejections != nil, m.dpop, req, g, err))
			return false
		}
	}
	if !g.allowed {
		refuse(m, rw, req, grantRefusal(g), g.refusal)
		return false
	}
	if m.upstream != nil {
		if g, err = withAssertion(m.upstream, cache, cacheKey, g, req.Host, nowUnixNano); err != nil {
			m.log.errorf("withauth %s: signing the upstream assertion failed: %v", m.name, err)
			refuse(m, rw, req, errInternal, "")
			return false
		}
	}
	for i, name := range g.forwardNames {
		req.Header[name] = g.forwardValues[i]
	}
	return true
}

// grantRefusal is the error of a grant that refuses its token.
func grantRefusal(g *grant) error {
	if g.conditionsUnmet {
		return errClaimConditions
	}
	return errInsufficientScope
}

// requester is the client address a request's introspection calls are counted by; "" on routes
// without introspection, which need none.
func requester(m *Middleware, req *http.Request) string {
	if m.introspection == nil {
		return ""
	}
	return clientAddress(req)
}

// answerPanic, deferred by authorize, answers 500 if authorize panicked.
func answerPanic(m *Middleware, rw http.ResponseWriter, req *http.Request, admitted *bool) {
	if p := recover(); p != nil {
		m.log.errorf("withauth %s: internal error: %v", m.name, p)
		refuse(m, rw, req, errInternal, "")
		*admitted = false
	}
}

// revalidate decides on a grant past its usableUntilUnixNano: dropped once expired or when its
// key is no longer the source's (asking the source also starts the due refresh), otherwise
// cached again until the next refresh is due.
func revalidate(ctx context.Context, cache *tokenCache, cacheKey string, g *grant, nowUnixNano int64) *grant {
	if nowUnixNano > g.expiresUnixNano || g.generation != g.epoch.generation.Load() || g.keys == nil {
		uncacheGrant(cache, cacheKey)
		return nil
	}
	if key, err := lookupKey(ctx, g.keys, g.kid); err != nil || key != g.key {
		uncacheGrant(cache, cacheKey)
		return nil
	}
	renewed := *g
	renewed.usableUntilUnixNano = usableUntil(g.expiresUnixNano, g.epoch)
	if g.assertionAudience != "" && g.assertionRenewUnixNano < renewed.usableUntilUnixNano {
		renewed.usableUntilUnixNano = g.assertionRenewUnixNano // its assertion is renewed on time
	}
	cacheGrant(cache, cacheKey, &renewed)
	return &renewed
}
