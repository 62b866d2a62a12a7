// Package withauth is a Traefik middleware that admits requests carrying a valid signed bearer
// JWT, optionally only with any of the configured roles and any of the configured permissions,
// and tells the upstream who the caller is in request headers, as Frontegg's
// withAuthentication does inside an application.
package withauth

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// Config is the middleware's configuration, one per router. Traefik decodes it with
// mapstructure: keys match field names case-insensitively, every scalar may arrive as a string,
// and a comma-separated string is a list (Docker labels). New refuses an empty list, an empty
// item and an unknown key rather than weaken the route.
type Config struct {
	// JWKSURL is the identity provider's JSON Web Key Set. Exclusive with PublicKey.
	JWKSURL string
	// Issuer is the expected iss, matched exactly. Alone, it is also the key source: the
	// jwks_uri of its OpenID discovery document (RFC 8414's too), else
	// <Issuer>/.well-known/jwks.json.
	Issuer string
	// PublicKey is one PEM public key (RSA of 2048 to 16384 bits, EC, Ed25519) that verifies
	// every token, whatever kid it names; "\n" escapes are accepted. Exclusive with JWKSURL.
	PublicKey string
	// Issuers trusts several issuers, each with its own keys; a token's iss picks its entry.
	// Exclusive with Issuer, JWKSURL and PublicKey.
	Issuers []IssuerConfig
	// Algorithms are the accepted JWS algorithms (default RS256): any of RS256, RS384, RS512,
	// PS256, PS384, PS512, ES256, ES384, ES512, EdDSA. A key verifies only the algorithms its
	// type (and its JWK's alg) allows; none and HS* are never accepted.
	Algorithms []string
	// AuthorizedParties, if set, must hold the token's azp, else its client_id.
	AuthorizedParties []string
	// Typ, if set, must hold the token header's typ ("at+jwt" and "application/at+jwt" alike).
	Typ []string
	// Audience, if set, must hold one of the token's aud values.
	Audience []string
	// Roles and Permissions: any of each must be in RolesClaim and PermissionsClaim; both
	// set, both must pass. Unset, nothing is required.
	Roles       []string
	Permissions []string
	// GrantWildcards lets a granted role or permission "prefix.*" cover the required names
	// under prefix, as Frontegg's entitlements do (default false: exact matches only).
	GrantWildcards bool
	// Tenants, if set: the token's TenantClaim (default "tenantId", and then an item of
	// Frontegg's tenantIds counts too) must be one of them.
	Tenants     []string
	TenantClaim string
	// StepUp requires multi-factor authentication: acr one of AcrValues (default Frontegg's
	// multi-factor policy) and amr holding one of AmrValues (default "mfa" and one of otp,
	// sms, hwk, sso); StepUpMaxAge (Go duration) bounds the age of auth_time.
	StepUp       bool
	StepUpMaxAge string
	AcrValues    []string
	AmrValues    []string
	// RolesClaim and PermissionsClaim name the claims (default "roles", "permissions"), each
	// a JSON array of strings, a space-separated string (OAuth scopes) or an object whose keys
	// are the names; a dotted path reaches nested claims ("\." is a literal dot), a
	// top-level name holding dots wins.
	RolesClaim       string
	PermissionsClaim string
	// ClockSkew is the leeway for exp, nbf and iat (Go duration, default "30s").
	ClockSkew string
	// ForwardHeaders maps request headers for the upstream to claims. Unset: X-User-Id (id),
	// X-Tenant-Id, X-User-Email, X-User-Roles (RolesClaim), X-User-Permissions
	// (PermissionsClaim). Those five names are stripped from every request either way.
	ForwardHeaders map[string]string
	// TokenHeader, TokenCookie and TokenQueryParameter are further token sources, tried in
	// this order after Authorization (and Frontegg's x-api-key); the first present one is the
	// only one judged. TokenHeader's value may start with "Bearer ". The query parameter is
	// always removed from the URL the upstream receives.
	TokenHeader         string
	TokenCookie         string
	TokenQueryParameter string
	// Optional lets a request without any credentials through, every identity header stripped;
	// a request with invalid credentials is still refused. Exclusive with requirements.
	Optional bool
	// LoginURL, an absolute http(s) URL, receives browser navigations that would get 401
	// (302); "{url}" in it becomes the escaped URL the browser asked for.
	LoginURL string
	// LogRejections logs one line per refused request in Traefik's log: "off" (default),
	// "debug" or "error"; at most 10 lines a second per middleware.
	LogRejections string
	// ForwardAuthorization passes the token on to the upstream in the source that carried it
	// (default true); false removes every token source, whichever carried it (other cookies
	// stay).
	ForwardAuthorization bool
	// SkipPreflight lets a CORS preflight through without a token, its credentials stripped
	// (default true).
	SkipPreflight bool
	// RefreshInterval schedules the refresh of remote keys (default "10m");
	// MinRefreshInterval, at least "1s" (default "5s"), is the least time between the fetches
	// that unknown kids and failures cause; either may be the longer. HTTPTimeout bounds every
	// call to a key endpoint or Frontegg's API (default "5s").
	RefreshInterval    string
	MinRefreshInterval string
	HTTPTimeout        string
	// CacheSize is how many verified tokens are remembered until they expire (default 10000,
	// 0 disables the cache).
	CacheSize int
	// ClaimsHeader, if set, carries all verified claims to the upstream as base64url JSON.
	ClaimsHeader string
	// ClientID, APIKey and APIGatewayURL select Frontegg vendor mode when JWKSURL, Issuer and
	// PublicKey are all unset; each falls back to FRONTEGG_CLIENT_ID, FRONTEGG_API_KEY and
	// FRONTEGG_API_GATEWAY_URL in Traefik's environment, the gateway to https://api.frontegg.com.
	ClientID      string
	APIKey        string
	APIGatewayURL string
	// AccessTokenGrants "always" fetches an access token's roles and permissions from Frontegg
	// (cached 10 s) also on routes that require none, to forward them; by default they are
	// fetched only to check a requirement, and the token's placeholders are never forwarded.
	AccessTokenGrants string
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
		TenantClaim:          "tenantId",
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
	next http.Handler
	name string
	// trust holds the trusted issuers: their keys and claim rules.
	trust             trust
	algorithms        map[string]bool
	authorizedParties map[string]bool
	typs              map[string]bool // normalized by mediaType
	roles             requirement
	permissions       requirement
	tenants           requirement
	// required are those of roles, permissions and tenants that require something.
	required []*requirement
	stepUp   *stepUpRule // nil: no step-up required
	// fetchAccessTokenGrants: an access token's roles and permissions are fetched from
	// Frontegg (accessTokenGrants "always", or roles or permissions required).
	fetchAccessTokenGrants bool
	forward                []forwardedHeader
	// ownedKeys are the headerKey of every identity header (forwarded and default), whose
	// every spelling is deleted from every request. ownedSpellings lists those spellings as
	// Go's server canonicalizes header names; normalizeNames is set when there would be too
	// many, and every request header name is then compared by its headerKey.
	ownedKeys            map[string]bool
	ownedSpellings       map[string]bool
	normalizeNames       bool
	forwardAuthorization bool
	skipPreflight        bool
	cache                *tokenCache
	// frontegg checks access tokens in x-api-key; nil outside Frontegg vendor mode.
	frontegg *fronteggAPI
	// sources are the token sources beside Authorization; caches holds each source's grants
	// (nil where caching is off), cache the Authorization one as ServeHTTP's fast path reads
	// it, nil when the fast path may not be taken (a query token must leave every URL).
	sources    tokenSources
	caches     [credentialSources]*tokenCache
	optional   bool
	loginURL   string
	rejections *rejectionLog // nil: rejections are not logged
}

// New builds the middleware. It does no network I/O and starts no goroutine: Traefik calls it
// for every router on every configuration reload. Keys are fetched on first use. No setting is
// known to make it panic; should one, its recover keeps Traefik's configuration build going.
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
	roles, err := newRequirement("roles", config.Roles, "rolesClaim", config.RolesClaim, config.GrantWildcards)
	if err != nil {
		return nil, err
	}
	permissions, err := newRequirement("permissions", config.Permissions, "permissionsClaim", config.PermissionsClaim, config.GrantWildcards)
	if err != nil {
		return nil, err
	}
	tenants, err := newTenantRequirement(config)
	if err != nil {
		return nil, err
	}
	stepUp, err := newStepUp(config)
	if err != nil {
		return nil, err
	}
	t, err := newTrust(config, audiences, skew.Seconds())
	if err != nil {
		return nil, err
	}
	algorithms, err := newAlgorithms(config.Algorithms)
	if err != nil {
		return nil, err
	}
	parties, err := splitList("authorizedParties", config.AuthorizedParties)
	if err != nil {
		return nil, err
	}
	typs, err := newTyps(config.Typ)
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
		trust:                t,
		algorithms:           algorithms,
		authorizedParties:    toSet(parties),
		typs:                 typs,
		roles:                roles,
		tenants:              tenants,
		stepUp:               stepUp,
		permissions:          permissions,
		forward:              forward,
		forwardAuthorization: config.ForwardAuthorization,
		skipPreflight:        config.SkipPreflight,
		frontegg:             t.frontegg,
	}
	switch strings.TrimSpace(config.AccessTokenGrants) {
	case "":
	case "always":
		if m.frontegg == nil {
			return nil, fmt.Errorf("accessTokenGrants: applies to Frontegg vendor mode only (access tokens in x-api-key); remove it")
		}
		m.fetchAccessTokenGrants = true
	default:
		return nil, fmt.Errorf("accessTokenGrants: %q is not a setting; use \"always\" or remove the key", config.AccessTokenGrants)
	}
	if len(roles.anyOf) > 0 || len(permissions.anyOf) > 0 {
		m.fetchAccessTokenGrants = true
	}
	for _, r := range []*requirement{&m.roles, &m.permissions, &m.tenants} {
		if len(r.anyOf) > 0 {
			m.required = append(m.required, r)
		}
	}
	m.ownedKeys, m.ownedSpellings = ownedHeaders(forward)
	m.normalizeNames = m.ownedSpellings == nil
	if err := m.configureSources(config, name); err != nil {
		return nil, err
	}
	t.addUser(name)
	return m, nil
}
