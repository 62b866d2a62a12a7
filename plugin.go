// Package withauth is a Traefik middleware that admits requests carrying a valid RS256 bearer
// JWT, optionally only with any of the configured roles and any of the configured permissions,
// and tells the upstream who the caller is in request headers, as Frontegg's
// withAuthentication does inside an application.
package withauth

import (
	"context"
	"fmt"
	"net/http"
)

// Config is the middleware's configuration. Traefik decodes it with mapstructure: keys match
// field names case-insensitively, and every scalar may arrive as a string.
type Config struct {
	JWKSURL              string
	Issuer               string
	PublicKey            string
	Audience             []string
	Roles                []string
	Permissions          []string
	RolesClaim           string
	PermissionsClaim     string
	ClockSkew            string
	ForwardHeaders       map[string]string
	ForwardAuthorization bool
	SkipPreflight        bool
	RefreshInterval      string
	MinRefreshInterval   string
	HTTPTimeout          string
	CacheSize            int
	ClaimsHeader         string
	ClientID             string
	APIKey               string
	APIGatewayURL        string
	// Unknown collects the keys that match no field above (mapstructure's remain tag, under
	// Traefik's own decoder); New refuses them, since Traefik would otherwise drop them.
	Unknown map[string]interface{} `mapstructure:",remain"`
}

// CreateConfig returns the defaults. ForwardHeaders stays empty: Traefik merges the configured
// map into this one, so its defaults are applied in New when none are given.
func CreateConfig() *Config {
	return &Config{
		RolesClaim:           "roles",
		PermissionsClaim:     "permissions",
		ClockSkew:            "30s",
		ForwardAuthorization: true,
		SkipPreflight:        true,
		RefreshInterval:      "10m",
		MinRefreshInterval:   "5s",
		HTTPTimeout:          "5s",
		CacheSize:            10000,
	}
}

// Middleware enforces the configuration on every request.
type Middleware struct {
	next         http.Handler
	name         string
	keys         keySource
	epoch        *keyEpoch
	rules        claimRules
	roles        requirement
	permissions  requirement
	forward      []forwardedHeader
	forwardNames []string // the names of forward, in its order
	// ownedKeys are the headerKey of every identity header (forwarded and default), whose
	// every spelling is deleted from every request. ownedSpellings lists those spellings as
	// Go's server canonicalizes header names; normalizeNames is set when there would be too
	// many, and every request header name is then compared by its headerKey.
	ownedKeys            map[string]bool
	ownedSpellings       map[string]bool
	normalizeNames       bool
	forwardAuthorization bool
	skipPreflight        bool
	// cache holds grants of Authorization values, apiKeyCache of x-api-key values: one string
	// is judged by other rules in each header, so neither can find the other's grants.
	cache       *tokenCache
	apiKeyCache *tokenCache
	// frontegg checks access tokens in x-api-key; nil outside Frontegg vendor mode.
	frontegg *fronteggAPI
}

// New builds the middleware. It does no network I/O and starts no goroutine: Traefik calls it
// for every router on every configuration reload. Keys are fetched on first use.
func New(_ context.Context, next http.Handler, config *Config, name string) (handler http.Handler, err error) {
	defer func() {
		if p := recover(); p != nil {
			handler = nil
			err = fmt.Errorf("withauth %s: invalid configuration: %v", name, p)
		}
	}()
	if config == nil {
		config = CreateConfig()
	}
	m, err := newMiddleware(next, config, name)
	if err != nil {
		return nil, fmt.Errorf("withauth %s: %w", name, err)
	}
	return m, nil
}

func newMiddleware(next http.Handler, config *Config, name string) (*Middleware, error) {
	if err := checkUnknownKeys(config.Unknown); err != nil {
		return nil, err
	}
	skew, err := parseDuration("clockSkew", config.ClockSkew)
	if err != nil {
		return nil, err
	}
	audiences, err := splitList("audience", config.Audience)
	if err != nil {
		return nil, err
	}
	roles, err := newRequirement("roles", config.Roles, "rolesClaim", config.RolesClaim)
	if err != nil {
		return nil, err
	}
	permissions, err := newRequirement("permissions", config.Permissions, "permissionsClaim", config.PermissionsClaim)
	if err != nil {
		return nil, err
	}
	keys, frontegg, err := newKeySource(config)
	if err != nil {
		return nil, err
	}
	forward, err := newForwardedHeaders(config.ForwardHeaders, config.RolesClaim, config.PermissionsClaim, config.ClaimsHeader)
	if err != nil {
		return nil, err
	}
	if config.CacheSize < 0 {
		return nil, fmt.Errorf("cacheSize: %d is negative; use 0 to disable the cache or a positive number of tokens", config.CacheSize)
	}
	m := &Middleware{
		next:                 next,
		name:                 name,
		keys:                 keys,
		epoch:                keys.epoch(),
		rules:                claimRules{issuer: config.Issuer, audiences: toSet(audiences), skew: skew.Seconds()},
		roles:                roles,
		permissions:          permissions,
		forward:              forward,
		forwardAuthorization: config.ForwardAuthorization,
		skipPreflight:        config.SkipPreflight,
		cache:                newTokenCache(config.CacheSize),
		frontegg:             frontegg,
	}
	if frontegg != nil {
		m.apiKeyCache = newTokenCache(config.CacheSize)
	}
	for _, h := range forward {
		m.forwardNames = append(m.forwardNames, h.name)
	}
	m.ownedKeys, m.ownedSpellings = ownedHeaders(forward)
	m.normalizeNames = m.ownedSpellings == nil
	return m, nil
}
