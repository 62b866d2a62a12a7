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

// Config is the middleware's configuration, one per router. Traefik hands every key over in
// Given, as its provider gave it; New reads Given itself (decode.go), so that a key given
// without a value ("" or null), misspelled, given twice or of the wrong type is refused by
// name instead of weakening the route. The typed fields are the same settings for Go callers
// and tests, with CreateConfig's defaults; Traefik's decoder never fills them (the "-" tag).
type Config struct {
	// JWKSURL is the identity provider's JSON Web Key Set (absolute http(s) URL). Exclusive
	// with PublicKey and Issuers.
	JWKSURL string `mapstructure:"-"`
	// Issuer is the expected iss, matched exactly. Alone, it is also the key source: the
	// jwks_uri of its OpenID discovery document (RFC 8414's too), else
	// <Issuer>/.well-known/jwks.json.
	Issuer string `mapstructure:"-"`
	// PublicKey is one PEM public key (RSA of 2048 to 16384 bits, EC, Ed25519) that verifies
	// every token, whatever kid it names; "\n" escapes are accepted. Exclusive with JWKSURL.
	PublicKey string `mapstructure:"-"`
	// Issuers trusts several issuers, each with its own keys; a token's iss picks its entry.
	// Exclusive with Issuer, JWKSURL and PublicKey.
	Issuers []IssuerConfig `mapstructure:"-"`
	// Algorithms are the accepted JWS algorithms (default RS256): any of RS256, RS384, RS512,
	// PS256, PS384, PS512, ES256, ES384, ES512, EdDSA. A key verifies only the algorithms its
	// type (and its JWK's alg) allows; none and HS* are never accepted.
	Algorithms []string `mapstructure:"-"`
	// AuthorizedParties, if set, must hold the token's azp, else its client_id.
	AuthorizedParties []string `mapstructure:"-"`
	// Typ, if set, must hold the token header's typ ("at+jwt" and "application/at+jwt" alike).
	Typ []string `mapstructure:"-"`
	// Audience, if set, must hold one of the token's aud values.
	Audience []string `mapstructure:"-"`
	// Roles, if set: the token's RolesClaim must hold any of them. With Permissions set too,
	// both must pass. Exclusive with Optional.
	Roles []string `mapstructure:"-"`
	// Permissions, if set: the token's PermissionsClaim must hold any of them. With Roles set
	// too, both must pass. Exclusive with Optional.
	Permissions []string `mapstructure:"-"`
	// GrantWildcards lets a granted role or permission "prefix.*" cover the required names
	// under prefix, as Frontegg's entitlements do (default false: exact matches only).
	GrantWildcards bool `mapstructure:"-"`
	// Tenants, if set: the token's TenantClaim must be a string equal to one of them; a list,
	// an object or a space-separated string is refused (403). Exclusive with Optional.
	Tenants []string `mapstructure:"-"`
	// TenantClaim names the claim Tenants judges (default "tenantId", Frontegg's active
	// tenant); a dotted path reaches a nested claim.
	TenantClaim string `mapstructure:"-"`
	// StepUp requires multi-factor authentication: acr one of AcrValues and amr holding one of
	// AmrValues (default false). Exclusive with Optional.
	StepUp bool `mapstructure:"-"`
	// StepUpMaxAge (Go duration, at least "1s"), with StepUp, bounds the age of auth_time;
	// unset, any age passes.
	StepUpMaxAge string `mapstructure:"-"`
	// AcrValues, with StepUp, are the accepted acr values (default Frontegg's multi-factor
	// policy, http://schemas.openid.net/pape/policies/2007/06/multi-factor).
	AcrValues []string `mapstructure:"-"`
	// AmrValues, with StepUp, are the amr values of which the token must hold one (default:
	// "mfa" and one of otp, sms, hwk, sso, as Frontegg's validator wants).
	AmrValues []string `mapstructure:"-"`
	// RolesClaim names the claim Roles judges and X-User-Roles forwards (default "roles"): a
	// JSON array of strings, a space-separated string (OAuth scopes) or an object whose keys
	// are the names. A dotted path reaches nested claims ("\." is a literal dot); a top-level
	// name holding dots wins.
	RolesClaim string `mapstructure:"-"`
	// PermissionsClaim names the claim Permissions judges and X-User-Permissions forwards
	// (default "permissions"), read as RolesClaim is.
	PermissionsClaim string `mapstructure:"-"`
	// ClockSkew is the leeway for exp, nbf and iat (Go duration, default "30s").
	ClockSkew string `mapstructure:"-"`
	// ForwardHeaders maps request headers for the upstream to claims. Unset: X-User-Id (id),
	// X-Tenant-Id, X-User-Email, X-User-Roles (RolesClaim), X-User-Permissions
	// (PermissionsClaim). Every spelling of those five, and of every header any withauth
	// middleware of the process forwards, is stripped from every request either way.
	ForwardHeaders map[string]string `mapstructure:"-"`
	// TokenHeader is a token source tried after Authorization (and Frontegg's x-api-key): a
	// header of your own whose value may start with "Bearer ". The first present source is the
	// only one judged.
	TokenHeader string `mapstructure:"-"`
	// TokenCookie is a token source tried after TokenHeader: a cookie holding the token; two
	// cookies of that name are refused (400).
	TokenCookie string `mapstructure:"-"`
	// TokenQueryParameter is the last token source: a query parameter, always removed from
	// the URL the upstream receives and from a login redirect's {url}.
	TokenQueryParameter string `mapstructure:"-"`
	// Optional lets a request without any credentials through, every identity header
	// stripped; a request with invalid credentials is still refused (default false).
	// Exclusive with Roles, Permissions, Tenants and StepUp.
	Optional bool `mapstructure:"-"`
	// LoginURL, an absolute http(s) URL, receives browser navigations that would get 401
	// (302); "{url}" in it becomes the escaped URL the browser asked for.
	LoginURL string `mapstructure:"-"`
	// LogRejections logs one line per refused request in Traefik's log: "off" (default),
	// "debug" or "error"; at most 10 lines a second per middleware.
	LogRejections string `mapstructure:"-"`
	// ForwardAuthorization passes the token on to the upstream in the source that carried it
	// (default true); false removes every token source, whichever carried it (other cookies
	// stay).
	ForwardAuthorization bool `mapstructure:"-"`
	// SkipPreflight lets a CORS preflight through without a token, its credentials stripped
	// (default true).
	SkipPreflight bool `mapstructure:"-"`
	// RefreshInterval schedules the refresh of remote keys (Go duration, default "10m").
	RefreshInterval string `mapstructure:"-"`
	// MinRefreshInterval, at least "1s" (default "5s"), is the least time between the fetches
	// that unknown kids and failures cause; it may be longer than RefreshInterval.
	MinRefreshInterval string `mapstructure:"-"`
	// HTTPTimeout bounds every call to a key endpoint or Frontegg's API (default "5s").
	HTTPTimeout string `mapstructure:"-"`
	// CacheSize is how many verified tokens are remembered until they expire (default 10000,
	// 0 disables the cache).
	CacheSize int `mapstructure:"-"`
	// ClaimsHeader, if set, carries all verified claims to the upstream as base64url JSON.
	ClaimsHeader string `mapstructure:"-"`
	// ClientID selects Frontegg vendor mode, with APIKey, when JWKSURL, Issuer, PublicKey and
	// Issuers are all unset; it falls back to FRONTEGG_CLIENT_ID in Traefik's environment.
	ClientID string `mapstructure:"-"`
	// APIKey is the vendor's Frontegg API key (vendor mode); it falls back to
	// FRONTEGG_API_KEY. It never appears in a log line or an answer.
	APIKey string `mapstructure:"-"`
	// APIGatewayURL is Frontegg's API for the vendor's region (vendor mode); it falls back to
	// FRONTEGG_API_GATEWAY_URL, then https://api.frontegg.com.
	APIGatewayURL string `mapstructure:"-"`
	// AccessTokenGrants "always" fetches an access token's roles and permissions from Frontegg
	// (cached 10 s) also on routes that require none, to forward them; by default they are
	// fetched only to check a requirement, and the token's placeholders are never forwarded.
	AccessTokenGrants string `mapstructure:"-"`
	// Given holds every key exactly as Traefik hands it over (mapstructure's remain tag
	// collects them all, since no typed field is decoded); New reads it when it is set.
	Given map[string]interface{} `mapstructure:",remain"`
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
	forwardAuthorization   bool
	skipPreflight          bool
	cache                  *tokenCache
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
// for every router on every configuration reload. Keys are fetched on first use.
//
// A configuration it refuses does not become an error: Traefik would disable the router, and a
// lower-priority router that matches too (a catch-all PathPrefix(`/`), a default route) would
// then serve the path unprotected. The route is instead answered 500 "misconfigured" on every
// request, and the reason (key and fix) is logged at ERROR on every load. A panic while
// building is refused the same way.
func New(_ context.Context, next http.Handler, config *Config, name string) (http.Handler, error) {
	m, err := build(next, config, name)
	if err != nil {
		errorLine(refusedConfiguration(name, err))
		return misconfigured{}, nil
	}
	return m, nil
}

// refusedConfiguration is the log line of a configuration New refused.
func refusedConfiguration(name string, err error) string {
	return "withauth " + name + ": configuration refused, its routes answer 500 until it is fixed: " + err.Error()
}

// build is New's work, its panics turned into errors.
func build(next http.Handler, config *Config, name string) (m *Middleware, err error) {
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
		if config, err = decodeGiven(config.Given); err != nil {
			return nil, err
		}
	}
	m, err = newMiddleware(next, config, name)
	return m, err
}

// misconfigured answers every request of a route whose configuration New refused, and never
// calls the next handler.
type misconfigured struct{}

func (misconfigured) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	writeRefusal(rw, refusals[errMisconfigured])
}

func newMiddleware(next http.Handler, config *Config, name string) (*Middleware, error) {
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
	if err := m.configureSources(config, name); err != nil {
		return nil, err
	}
	if err := identityHeaders.register(forward, m.sources.header); err != nil {
		return nil, err
	}
	t.addUser(name)
	return m, nil
}
