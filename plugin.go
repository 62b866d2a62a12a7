// Package withauth is a Traefik middleware that admits requests carrying a valid signed bearer
// JWT, optionally only with any of the configured roles and any of the configured permissions,
// and tells the upstream who the caller is in request headers, as Frontegg's
// withAuthentication does inside an application.
package withauth

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Middleware enforces the configuration on every request.
type Middleware struct {
	tokenRules
	// owned holds the process's identity headers (headerRegistry.owned), stripped from every
	// request; grantsLock is the lock of the process's grants; log its log.
	owned                *atomic.Value
	grantsLock           *sync.Mutex
	log                  *processLog
	next                 http.Handler
	name                 string
	forwardAuthorization bool
	skipPreflight        bool
	// sources are the token sources; caches holds each source's grants (nil where caching is
	// off), cache the Authorization one as ServeHTTP's fast path reads it, nil when the fast
	// path may not be taken (a query token must leave every URL).
	sources    tokenSources
	caches     [credentialSources]*tokenCache
	cache      *tokenCache
	optional   bool
	loginURL   string
	rejections *rejectionLog    // nil: rejections are not logged
	now        func() time.Time // Config.Now
	// dpop and certificates judge tokens bound to their client (nil: off); either turns off
	// the fast path, since a bound token is judged with its request every time.
	dpop         *dpopRule
	certificates *certificateRule
}

// New builds the middleware. It does no network I/O and starts no goroutine: Traefik calls it
// for every router on every configuration reload. Keys are fetched on first use.
//
// A configuration it refuses does not become an error: Traefik would disable the router, and a
// lower-priority router that matches too (a catch-all PathPrefix(`/`), a default route) would
// then serve the path unprotected. The route is instead answered 500 "misconfigured" on every
// request, and the reason (key and fix) is logged at ERROR on every load. A panic while
// building is refused the same way.
func New(_ context.Context, next http.Handler, config *Config, name string) (http.Handler, error) {
	handler := handlerIn(shared, next, config, name)
	return handler, nil
}

// handlerIn is New in the process p: the middleware (in a tokenHeaderRoute with a tokenHeader, in
// a jwksRoute with upstreamJwksPath), or misconfigured.
func handlerIn(p *process, next http.Handler, config *Config, name string) http.Handler {
	m, err := build(p, next, config, name)
	if err != nil {
		p.log.error(refusedConfiguration(name, err))
		return misconfigured{}
	}
	var handler http.Handler = m
	if m.sources.header != "" {
		handler = &tokenHeaderRoute{m: m}
	}
	if m.upstream != nil && m.upstream.jwksPath != "" {
		handler = &jwksRoute{next: handler, path: m.upstream.jwksPath, body: m.upstream.jwks}
	}
	return handler
}

// tokenHeaderRoute is the handler of a route with tokenHeader: that header may be an identity
// header another route forwards (headers.go), so its requests are stripped keeping it, and judged
// by serveUncached; the other routes' ServeHTTP stays free of the case.
type tokenHeaderRoute struct {
	m *Middleware
}

// jwksRoute answers upstreamJwksPath with the published key set, without a token; every other
// request goes to the route's handler.
type jwksRoute struct {
	next http.Handler
	path string
	body []byte
}

// refusedConfiguration is the log line of a configuration New refused.
func refusedConfiguration(name string, err error) string {
	return "withauth " + name + ": configuration refused, its routes answer 500 until it is fixed: " + err.Error()
}

// build is New's work, its panics turned into errors.
func build(p *process, next http.Handler, config *Config, name string) (m *Middleware, err error) {
	defer func() {
		if p := recover(); p != nil {
			m = nil
			err = fmt.Errorf("invalid configuration: %v", p)
		}
	}()
	if config == nil {
		config = CreateConfig()
	}
	if config.Given != nil {
		// Traefik's copy is shared by every New of the middleware: it is read, never modified.
		now := config.Now
		if config, err = decodeGiven(config.Given); err != nil {
			return nil, err
		}
		config.Now = now
	}
	if config, err = withSecretFiles(config, readSecretFile); err != nil {
		return nil, err
	}
	config = withEnvironment(config)
	m, err = newMiddleware(p, next, config, name)
	return m, err
}

// misconfigured answers every request of a route whose configuration New refused, and never
// calls the next handler.
type misconfigured struct{}

func (misconfigured) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	writeRefusal(rw, refusals[errMisconfigured])
}

func newMiddleware(p *process, next http.Handler, config *Config, name string) (*Middleware, error) {
	timing, err := parseFetchTiming(config, p.minRefreshFloor, p.log)
	if err != nil {
		return nil, err
	}
	rules, err := newTokenRules(config, timing, p.log, &p.absentClaimsLogged, p.tokenHeaders)
	if err != nil {
		return nil, err
	}
	sources, err := newTokenSources(config, rules.forward, rules.frontegg != nil)
	if err != nil {
		return nil, err
	}
	if config.Optional && rules.requireSomething() {
		return nil, fmt.Errorf("optional: cannot be combined with roles, permissions, tenants or stepUp: an anonymous caller would get in where a signed-in one is refused; use two routes")
	}
	loginURL, err := checkLoginURL(config.LoginURL)
	if err != nil {
		return nil, err
	}
	rejections, err := newRejectionLog(config.LogRejections, name, clockOf(config), p.log)
	if err != nil {
		return nil, err
	}
	dpop, err := newDPoP(config, timing)
	if err != nil {
		return nil, err
	}
	certificates, err := newCertificateRule(config)
	if err != nil {
		return nil, err
	}
	sources.dpop = dpop != nil
	if config.CacheSize < 0 {
		return nil, fmt.Errorf("cacheSize: %d is negative; use 0 to disable the cache or a positive number of tokens", config.CacheSize)
	}
	m := &Middleware{
		tokenRules:           rules,
		owned:                &p.headers.owned,
		grantsLock:           &p.grants.mu,
		log:                  p.log,
		next:                 next,
		name:                 name,
		forwardAuthorization: config.ForwardAuthorization,
		skipPreflight:        config.SkipPreflight,
		sources:              sources,
		optional:             config.Optional,
		loginURL:             loginURL,
		rejections:           rejections,
		now:                  clockOf(config),
		dpop:                 dpop,
		certificates:         certificates,
	}
	m.logDetails = rejections != nil
	m.routeName = name
	m.readConfirmations = dpop != nil || certificates != nil
	for _, r := range []*requirement{&m.roles, &m.permissions, &m.tenants} {
		if len(r.anyOf) > 0 {
			m.required = append(m.required, r)
		}
	}
	share(p, m, configID(config), config.CacheSize)
	return m, nil
}

// share gives an accepted middleware what the process shares: key sources, Frontegg's client, the
// introspection endpoint, the DPoP stores, its caches (by configID), the identity headers. Only
// here does New touch the process, once nothing can be refused any more: a refused
// configuration leaves nothing shared behind.
func share(p *process, m *Middleware, id string, cacheSize int) {
	shareTrust(p, &m.trust, m.name)
	m.frontegg = m.trust.frontegg
	if m.introspection != nil {
		shareIntrospection(p, m.introspection, m.name)
	}
	if m.dpop != nil {
		shareDPoP(p, m.dpop, m.name)
	}
	read := [credentialSources]bool{true, m.sources.apiKey, m.sources.header != "", m.sources.cookie != "", m.sources.query != "", m.sources.dpop}
	for source := fromAuthorization; source < credentialSources; source++ {
		if read[source] {
			m.caches[source] = sharedTokenCache(p.grants, id, source, cacheSize)
		}
	}
	if m.sources.query == "" && !m.readConfirmations {
		m.cache = m.caches[fromAuthorization]
	}
	p.headers.register(m.forward)
	if m.upstream != nil {
		p.headers.register([]forwardedHeader{{name: m.upstream.header}})
	}
}
