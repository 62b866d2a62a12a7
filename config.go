package withauth

// Turning configuration strings into checked values; every error names the key and the fix.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is the middleware's configuration, one per router. Traefik hands every key over in
// Given, as its provider gave it; New reads Given itself (decode.go), so that a key given
// without a value ("" or null), misspelled, given twice or of the wrong type is refused by
// name instead of weakening the route. The typed fields are the same settings for Go callers
// and tests, with CreateConfig's defaults; Traefik's decoder never fills them (the "-" tag),
// and when Given is set they are not read: Given, over CreateConfig's defaults, is the whole
// configuration.
type Config struct {
	// JWKSURL is the identity provider's JSON Web Key Set (absolute http(s) URL). Exclusive
	// with PublicKey and Issuers.
	JWKSURL string `mapstructure:"-"`
	// Issuer is the expected iss, matched exactly. Alone, it is also the key source: the
	// jwks_uri of its OpenID discovery document (RFC 8414's too), else
	// <Issuer>/.well-known/jwks.json.
	Issuer string `mapstructure:"-"`
	// JWKS is a JSON Web Key Set given in the configuration (a Kubernetes Secret, a file
	// provider value), its keys judged as a fetched set's; never fetched. Exclusive with
	// JWKSURL, PublicKey and Issuers.
	JWKS string `mapstructure:"-"`
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
	// MaxTokenAge, if set (Go duration, at least "1s"), refuses a token whose exp - iat exceeds
	// it, or that has no iat: a cap on how long any token may live, whatever its issuer set.
	MaxTokenAge string `mapstructure:"-"`
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
	// CABundle (PEM, one or more certificates; "\n" escapes accepted) is trusted beside the
	// system's roots by every fetch: keys, discovery, Frontegg's API.
	CABundle string `mapstructure:"-"`
	// ClientCertificate and ClientKey (PEM) are presented to an identity provider that
	// requires mutual TLS; both or neither.
	ClientCertificate string `mapstructure:"-"`
	ClientKey         string `mapstructure:"-"`
	// ClaimConditions is one expression over any verified claim (conditions.go): Equals, Prefix,
	// Contains, SplitContains and OneOf of a claim and string values, joined with &&, || and !.
	// Unmet, the token is refused 403 (reason claim_conditions) before roles and permissions.
	ClaimConditions string `mapstructure:"-"`
	// UpstreamTokenKey (PEM: EC P-256 or Ed25519 private key) signs an assertion of the verified
	// identity for the upstream (assertion.go): UpstreamTokenIssuer (required with it) is its
	// iss, UpstreamTokenHeader (default X-Withauth-Assertion) carries it, UpstreamTokenLifetime
	// (default "60s", 10s to 10m) bounds it, UpstreamTokenAudience (default the request's Host)
	// is its aud, UpstreamTokenClaims (default sub, email, tenantId, the roles and permissions
	// claims) are copied in. UpstreamJWKSPath is a path the route answers, without a token, with
	// the public keys: the key's, then UpstreamTokenPreviousKeys' (a rotation's old keys).
	UpstreamTokenKey          string   `mapstructure:"-"`
	UpstreamTokenKeyFile      string   `mapstructure:"-"`
	UpstreamTokenIssuer       string   `mapstructure:"-"`
	UpstreamTokenHeader       string   `mapstructure:"-"`
	UpstreamTokenLifetime     string   `mapstructure:"-"`
	UpstreamTokenAudience     string   `mapstructure:"-"`
	UpstreamTokenClaims       []string `mapstructure:"-"`
	UpstreamTokenPreviousKeys []string `mapstructure:"-"`
	UpstreamJWKSPath          string   `mapstructure:"-"`
	// APIKeyFile, IntrospectionClientSecretFile, ClientKeyFile, DPoPNonceSecretFile and
	// ReplayStorePasswordFile name files holding those secrets instead (secrets.go): read by
	// New, one trailing newline trimmed; Traefik's API and dashboard then show the path only.
	APIKeyFile                    string `mapstructure:"-"`
	IntrospectionClientSecretFile string `mapstructure:"-"`
	ClientKeyFile                 string `mapstructure:"-"`
	DPoPNonceSecretFile           string `mapstructure:"-"`
	ReplayStorePasswordFile       string `mapstructure:"-"`
	// IntrospectionURL is an RFC 7662 token introspection endpoint (absolute http(s) URL):
	// tokens that are not JWTs (opaque tokens) are judged by its answer.
	IntrospectionURL string `mapstructure:"-"`
	// IntrospectionClientID and IntrospectionClientSecret authenticate withauth to the
	// endpoint (client_secret_basic); both or neither. The secret is never logged.
	IntrospectionClientID     string `mapstructure:"-"`
	IntrospectionClientSecret string `mapstructure:"-"`
	// Introspect is "opaque" (default: tokens that are not JWTs) or "always" (JWTs too, after
	// their local verification, so that a revoked token is refused).
	Introspect string `mapstructure:"-"`
	// IntrospectionCacheDuration (Go duration, default "30s") bounds how long an active answer
	// is trusted, never past its exp; an inactive one is remembered 5 s.
	IntrospectionCacheDuration string `mapstructure:"-"`
	// IntrospectionRate (default 100) and IntrospectionConcurrency (default 8) bound the calls
	// this Traefik makes to the endpoint, a second and at a time. A quarter of both is kept for
	// tokens already seen active; one client address gets at most an eighth of the rate, and
	// waits its turn (at most a second, then 429) past it.
	IntrospectionRate        int `mapstructure:"-"`
	IntrospectionConcurrency int `mapstructure:"-"`
	// DPoP is "off" (default), "allowed" (a DPoP-bound token, cnf.jkt, needs "Authorization:
	// DPoP" and its proof; Bearer tokens without cnf.jkt still pass) or "required" (only
	// DPoP-bound tokens, with their proof), as RFC 9449 says.
	DPoP string `mapstructure:"-"`
	// DPoPAlgorithms are the proofs' accepted algorithms (default ES256, EdDSA, PS256, RS256).
	DPoPAlgorithms []string `mapstructure:"-"`
	// DPoPProofMaxAge (Go duration, default "60s", from "1s" to "10m") is how old a proof's iat
	// may be (and at most 5 s in the future); a proof's jti is refused a second time for as long
	// as the longest dpopProofMaxAge the process has had.
	DPoPProofMaxAge string `mapstructure:"-"`
	// DPoPOrigins (required with DPoP) are the origins, scheme://host[:port], a proof's htu may
	// name: its path must be the request's. Never the client's Host or X-Forwarded-Host.
	DPoPOrigins []string `mapstructure:"-"`
	// DPoPNonce is "off" (default) or "required": a proof must carry a nonce this route (or any
	// replica with the same DPoPNonceSecret) issued, RFC 9449 §8-9; without one it is answered
	// 401 use_dpop_nonce with a fresh DPoP-Nonce.
	DPoPNonce string `mapstructure:"-"`
	// DPoPNonceSecret (at least 32 bytes) makes nonces: replicas given the same secret accept each
	// other's. Required with DPoPNonce "required".
	DPoPNonceSecret string `mapstructure:"-"`
	// DPoPNonceLifetime (Go duration, default "5m", from "10s" to "1h") is the most a nonce
	// lives; a fresh one is offered once half of it has passed.
	DPoPNonceLifetime string `mapstructure:"-"`
	// ReplayStore is where used DPoP proofs are recorded: "process" (default: this Traefik) or
	// redis://[user:password@]host:port[/db] (rediss:// for TLS, trusting CABundle too), so that
	// a proof is accepted once across every replica that names the same store.
	ReplayStore string `mapstructure:"-"`
	// CertificateBound is "off" (default), "allowed" (a token with cnf["x5t#S256"] needs the
	// TLS client certificate it names, RFC 8705) or "required" (only such tokens).
	CertificateBound string `mapstructure:"-"`
	// CacheSize is how many verified tokens are remembered until they expire (default 10000,
	// 0 disables the cache).
	CacheSize int `mapstructure:"-"`
	// ClaimsHeader, if set, carries the verified claims to the upstream as base64url JSON, with
	// "id" the user id withauth computes and, for a Frontegg access token, Frontegg's grants.
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
	// Now is the clock of every decision that depends on time: key refresh and throttling,
	// grant and answer expiry, the rejection log's window (nil: time.Now). For Go callers and
	// tests, as go-oidc's Config.Now: Traefik cannot set it, and it is not read from Given.
	Now func() time.Time `mapstructure:"-"`
	// Given holds every key exactly as Traefik hands it over (mapstructure's remain tag
	// collects them all, since no typed field is decoded); New reads it when it is set.
	Given map[string]interface{} `mapstructure:",remain"`
}

// IssuerConfig is one entry of Config.Issuers.
type IssuerConfig struct {
	// Issuer is the iss of the entry's tokens, matched exactly.
	Issuer string
	// JWKSURL is the entry's key set; unset, it is found by discovery from Issuer.
	JWKSURL string
	// Audience, if set, replaces the top-level audience for this entry's tokens.
	Audience []string
}

// defaultIntrospectionRate and defaultIntrospectionConcurrency bound the calls to one
// introspection endpoint (introspectionRate, introspectionConcurrency), whatever the number of
// distinct tokens clients send.
const (
	defaultIntrospectionRate        = 100
	defaultIntrospectionConcurrency = 8
)

// clockOf is config's Now, or time.Now.
func clockOf(config *Config) func() time.Time {
	if config.Now != nil {
		return config.Now
	}
	return time.Now
}

// CreateConfig returns the defaults. ForwardHeaders stays empty: its defaults depend on
// RolesClaim and PermissionsClaim, so New applies them when none are given.
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
		// The introspection endpoint's budget (introspection.go).
		IntrospectionRate:        defaultIntrospectionRate,
		IntrospectionConcurrency: defaultIntrospectionConcurrency,
	}
}

// checkUnknownKeysOf refuses the unknown keys of one part of the configuration (prefix names
// it, as in "issuers[0]."), naming the closest of its known keys.
func checkUnknownKeysOf(prefix string, known []string, unknown map[string]interface{}) error {
	if len(unknown) == 0 {
		return nil
	}
	var problems []string
	for key := range unknown {
		problem := fmt.Sprintf("%q", prefix+key)
		if closest := closestKey(key, known); closest != "" {
			problem += " (did you mean " + prefix + closest + "?)"
		}
		problems = append(problems, problem)
	}
	sort.Strings(problems)
	return fmt.Errorf("unknown key %s: a misspelled key would be ignored and leave the route less protected than configured; use the keys of the README's Configuration table",
		strings.Join(problems, ", "))
}

// closestKey is the known key nearest to key in edit distance (case and surrounding space
// ignored), or "" when none is near enough to be a likely misspelling.
func closestKey(key string, known []string) string {
	key = strings.ToLower(strings.TrimSpace(key))
	best, bestDistance := "", len(key)/3+2
	for _, candidate := range known {
		if d := editDistance(key, strings.ToLower(candidate)); d < bestDistance {
			best = candidate
			bestDistance = d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	previous := make([]int, len(b)+1)
	current := make([]int, len(b)+1)
	for j := range previous {
		previous[j] = j
	}
	for i := 1; i <= len(a); i++ {
		current[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := previous[j-1] + cost
			if previous[j]+1 < d {
				d = previous[j] + 1
			}
			if current[j-1]+1 < d {
				d = current[j-1] + 1
			}
			current[j] = d
		}
		swap := previous
		previous = current
		current = swap
	}
	return previous[len(b)]
}

// processKey names a shared object of kind by every setting it depends on: a SHA-256 of the
// settings, so that no secret or key is kept in it and no separator inside a setting can make
// two settings read alike.
func processKey(kind string, settings ...string) string {
	quoted := make([]string, len(settings))
	for i, setting := range settings {
		quoted[i] = strconv.Quote(setting)
	}
	sum := sha256.Sum256([]byte(strings.Join(quoted, " ")))
	return kind + " " + hex.EncodeToString(sum[:])
}
