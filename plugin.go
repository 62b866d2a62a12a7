// Package withauth is a Traefik middleware that admits requests carrying a valid RS256 bearer
// JWT, optionally only with any of the configured roles and any of the configured permissions,
// and tells the upstream who the caller is in request headers, as Frontegg's
// withAuthentication does inside an application.
package withauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
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

const realm = "withauth"

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

// requirement is an any-of set of names expected in a list claim; empty means none required.
type requirement struct {
	claim claimPath
	anyOf map[string]bool
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

// newKeySource picks the one key source the configuration names; with none of jwksUrl,
// issuer and publicKey it is Frontegg's vendor mode, whose API also checks access tokens.
func newKeySource(config *Config) (keySource, *fronteggAPI, error) {
	jwksURL := strings.TrimSpace(config.JWKSURL)
	if jwksURL != "" && strings.TrimSpace(config.PublicKey) != "" {
		return nil, nil, fmt.Errorf("jwksUrl and publicKey are both set; keep only one key source")
	}
	if strings.TrimSpace(config.PublicKey) != "" {
		key, err := parsePublicKeyPEM(config.PublicKey)
		if err != nil {
			return nil, nil, fmt.Errorf("publicKey: %v; give an RSA public key of 2048 to 16384 bits in PEM (-----BEGIN PUBLIC KEY-----)", err)
		}
		return staticKeys{set: singleKeySet(key), epochs: newStaticEpoch()}, nil, nil
	}
	timing, err := parseFetchTiming(config)
	if err != nil {
		return nil, nil, err
	}
	key := "jwksUrl"
	if jwksURL == "" && config.Issuer != "" {
		key = "issuer"
		jwksURL = strings.TrimRight(config.Issuer, "/") + "/.well-known/jwks.json"
	}
	if jwksURL != "" {
		if err := checkEndpointURL(jwksURL); err != nil {
			return nil, nil, fmt.Errorf("%s: %v", key, err)
		}
		fetcher := jwksEndpoint{url: jwksURL, client: newHTTPClient(timing.timeout)}
		return sharedRemoteKeys(timing.id("jwks", jwksURL), timing.remoteKeys(fetcher)), nil, nil
	}
	gateway, clientID, apiKey, ok, err := fronteggSettings(config)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, fmt.Errorf("no key source: set jwksUrl (your identity provider's JWKS endpoint), issuer (keys from <issuer>/.well-known/jwks.json), publicKey (a PEM RSA public key), or clientId and apiKey for Frontegg (or FRONTEGG_CLIENT_ID and FRONTEGG_API_KEY in Traefik's environment)")
	}
	api := &fronteggAPI{gateway: gateway, clientID: clientID, apiKey: apiKey, client: newHTTPClient(timing.timeout)}
	endpoint := strconv.Quote(gateway) + " " + strconv.Quote(clientID) + " " + strconv.Quote(apiKey)
	keys := sharedRemoteKeys(timing.id("frontegg", endpoint), timing.remoteKeys(api))
	return keys, keys.fetcher.(*fronteggAPI), nil
}

// meets reports whether the claim is a list holding any of the names. A claim of another type
// (a string, say) never matches: no substring or splitting guesswork.
func meets(r requirement, claims map[string]interface{}) bool {
	if len(r.anyOf) == 0 {
		return true
	}
	value, _ := lookupClaim(r.claim, claims)
	list, _ := value.([]interface{})
	for _, item := range list {
		if name, ok := item.(string); ok && r.anyOf[name] {
			return true
		}
	}
	return false
}

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

// verify runs the checks in the order that trusts the least: header, key, signature, claims,
// then Frontegg's token rules.
// now is in Unix nanoseconds.
func (m *Middleware) verify(ctx context.Context, token string, viaAPIKey bool, now int64) (*grant, error) {
	raw, err := parseToken(token)
	if err != nil {
		return nil, err
	}
	// Read before the lookup: a key set replaced meanwhile leaves this grant outdated, not wrong.
	generation := m.epoch.generation.Load()
	key, err := m.keys.lookup(ctx, raw.kid)
	if err != nil {
		return nil, err
	}
	if err := verifySignature(raw, key); err != nil {
		return nil, err
	}
	claims, err := decodeClaims(raw)
	if err != nil {
		return nil, err
	}
	exp, err := validateClaims(m.rules, claims, float64(now)/1e9)
	if err != nil {
		return nil, err
	}
	if err := checkTokenType(claims, viaAPIKey, m.frontegg != nil); err != nil {
		return nil, err
	}
	expires := cacheExpiry(exp, m.rules.skew)
	if viaAPIKey {
		trustedUntil, err := m.frontegg.checkAccessToken(claims, len(m.roles.anyOf) > 0 || len(m.permissions.anyOf) > 0)
		if err != nil {
			return nil, err
		}
		if until := trustedUntil.UnixNano(); until < expires {
			expires = until
		}
	}
	if id, ok := userID(claims); ok {
		claims["id"] = id
	} else {
		delete(claims, "id")
	}
	g := &grant{
		kid:          raw.kid,
		key:          key,
		generation:   generation,
		expires:      expires,
		usableUntil:  usableUntil(expires, m.epoch),
		allowed:      meets(m.roles, claims) && meets(m.permissions, claims),
		headerValues: make([][]string, len(m.forward)),
	}
	for i, h := range m.forward {
		var value string
		if h.allClaims {
			value = encodeClaims(claims)
		} else if claim, ok := lookupClaim(h.claim, claims); ok {
			value = headerValue(claim)
		}
		if value != "" {
			g.headerValues[i] = []string{value}
		}
	}
	return g, nil
}

// checkTokenType applies Frontegg's token types: access tokens only in x-api-key, the others
// only in Authorization. Outside vendor mode a token without a type is a user token of
// another issuer; in vendor mode every token is signed by Frontegg, which always sets one.
func checkTokenType(claims map[string]interface{}, viaAPIKey, vendorMode bool) error {
	value, present := claims["type"]
	if !present && vendorMode {
		return errNoTokenType
	}
	tokenType, _ := value.(string)
	if viaAPIKey && !apiKeyTokenTypes[tokenType] || !viaAPIKey && present && !authorizationTokenTypes[tokenType] {
		return errTokenType
	}
	return nil
}

// encodeClaims renders all verified claims as base64url JSON, for backends that rebuild the
// user object of Frontegg's SDKs from one header.
func encodeClaims(claims map[string]interface{}) string {
	encoded, err := json.Marshal(claims)
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(encoded)
}

// cacheExpiry turns exp plus skew (seconds) into Unix nanoseconds, clamping absurd values
// instead of overflowing.
func cacheExpiry(exp, skew float64) int64 {
	const far = 1 << 62
	limit := (exp + skew) * 1e9
	if limit > far {
		return far
	}
	return int64(limit)
}

// headerValue renders a claim for a request header: lists joined with ",", numbers with their
// exact digits, objects as JSON. The upstream must never read a value withauth did not judge,
// so a string it would read otherwise (control characters, which a proxy may drop, or
// surrounding white space, which HTTP trims) is not forwarded, and neither is a list item
// holding a comma, which would read as two items.
func headerValue(value interface{}) string {
	switch v := value.(type) {
	case string:
		if !plainHeaderText(v) {
			return ""
		}
		return v
	case []interface{}:
		parts := make([]string, 0, len(v))
		for _, item := range v {
			if text := headerValue(item); text != "" && strings.IndexByte(text, ',') < 0 {
				parts = append(parts, text)
			}
		}
		return strings.Join(parts, ",")
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	// JSON escapes every control character.
	encoded, err := json.Marshal(value)
	if err != nil {
		return ""
	}
	return string(encoded)
}

// plainHeaderText reports whether s reaches the upstream as it is: no control character, no
// white space at either end (HTTP trims SP and HTAB; many frameworks trim more).
func plainHeaderText(s string) bool {
	return strings.TrimSpace(s) == s && !strings.ContainsAny(s, controlCharacters)
}

const controlCharacters = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f" +
	"\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f"

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

// rejectToken answers a token that failed verification: 401, or 503 when it could not be
// verified for want of keys or of an answer from Frontegg.
func (m *Middleware) rejectToken(rw http.ResponseWriter, err error) {
	if err != errKeysUnavailable && err != errCheckUnavailable {
		writeChallenge(rw, http.StatusUnauthorized, "invalid_token", err.Error())
		return
	}
	wait := time.Second
	if err == errKeysUnavailable {
		if d := m.keys.retryAfter(); d > 0 {
			wait = d
		}
	}
	rw.Header().Set("Retry-After", strconv.FormatInt(int64(wait/time.Second)+1, 10))
	writeError(rw, http.StatusServiceUnavailable, "temporarily_unavailable", err.Error(), "")
}

// writeChallenge answers with an RFC 6750 WWW-Authenticate challenge; code "" is the bare
// challenge for a request that carried no credentials.
func writeChallenge(rw http.ResponseWriter, status int, code, description string) {
	challenge := `Bearer realm="` + realm + `"`
	if code != "" {
		challenge += `, error="` + code + `", error_description="` + description + `"`
	} else {
		code = "unauthorized"
		description = "a bearer token is required"
	}
	writeError(rw, status, code, description, challenge)
}

func writeError(rw http.ResponseWriter, status int, code, description, challenge string) {
	body, _ := json.Marshal(map[string]string{"error": code, "error_description": description})
	header := rw.Header()
	if challenge != "" {
		header.Set("WWW-Authenticate", challenge)
	}
	header.Set("Content-Type", "application/json")
	header.Set("Cache-Control", "no-store")
	rw.WriteHeader(status)
	_, _ = rw.Write(body)
}
