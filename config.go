package withauth

// Turning configuration strings into checked values; every error names the key and the fix.

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// configKeys are the keys Config accepts, as the README spells them, for the suggestions of
// checkUnknownKeysOf; decodeGiven matches them case-insensitively.
var configKeys = []string{
	"jwksUrl", "issuer", "publicKey", "audience", "roles", "permissions", "rolesClaim",
	"permissionsClaim", "clockSkew", "forwardHeaders", "forwardAuthorization", "skipPreflight",
	"refreshInterval", "minRefreshInterval", "httpTimeout", "cacheSize", "claimsHeader",
	"clientId", "apiKey", "apiGatewayUrl", "issuers", "algorithms", "authorizedParties", "typ",
	"grantWildcards", "tenants", "tenantClaim", "stepUp", "stepUpMaxAge", "acrValues", "amrValues",
	"accessTokenGrants", "tokenHeader", "tokenCookie", "tokenQueryParameter", "optional", "loginUrl",
	"logRejections",
}

// minRefreshFloor is the least minRefreshInterval accepted: below it, tokens naming made-up
// kids could make every request fetch keys. A variable so tests need not wait.
var minRefreshFloor = time.Second

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

// splitList trims list items and splits those that arrive as one comma-separated string, as
// lists do from Docker labels. A list given but empty is an error: Traefik decodes "" (an
// empty label, an unset ${VARIABLE}, an empty Secret value) as an empty list, and taking that
// as "nothing required" would open the route. An empty item is an error for the same reason.
func splitList(key string, values []string) ([]string, error) {
	if values != nil && len(values) == 0 {
		return nil, fmt.Errorf("%s: is set but empty (an empty label, an unset variable or an empty Secret value); give the names, or remove the key to require nothing", key)
	}
	var items []string
	for _, value := range values {
		for _, item := range strings.Split(value, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				return nil, fmt.Errorf("%s: %q has an empty item; remove the stray comma or give the names", key, strings.Join(values, ","))
			}
			items = append(items, item)
		}
	}
	return items, nil
}

func toSet(items []string) map[string]bool {
	if len(items) == 0 {
		return nil
	}
	set := make(map[string]bool, len(items))
	for _, item := range items {
		set[item] = true
	}
	return set
}

func newRequirement(key string, values []string, claimKey, claim string, wildcards bool) (requirement, error) {
	names, err := splitList(key, values)
	if err != nil {
		return requirement{}, err
	}
	claim = strings.TrimSpace(claim)
	if claim == "" {
		return requirement{}, fmt.Errorf("%s: must name a claim, such as %q", claimKey, key)
	}
	return requirement{claim: newClaimPath(claim), anyOf: toSet(names), wildcards: wildcards, names: names}, nil
}

// newTenantRequirement checks tenants and tenantClaim: the claim is one tenant, a string.
// Frontegg's tenantIds (every tenant of the user) does not count: the tenant judged is the
// one the token is for, the one X-Tenant-Id forwards.
func newTenantRequirement(config *Config) (requirement, error) {
	r, err := newRequirement("tenants", config.Tenants, "tenantClaim", config.TenantClaim, false)
	r.single = true
	return r, err
}

// fetchTiming holds the durations that govern a remote key source.
type fetchTiming struct {
	refresh, minRefresh, timeout time.Duration
}

// parseFetchTiming checks the remote key source's durations. refreshInterval may be shorter
// than minRefreshInterval: the first schedules refreshes, the second throttles the fetches
// that unknown kids and failures cause.
func parseFetchTiming(config *Config) (fetchTiming, error) {
	var t fetchTiming
	var err error
	if t.refresh, err = parseDuration("refreshInterval", config.RefreshInterval); err != nil {
		return t, err
	}
	if t.minRefresh, err = parseDuration("minRefreshInterval", config.MinRefreshInterval); err != nil {
		return t, err
	}
	if t.timeout, err = parseDuration("httpTimeout", config.HTTPTimeout); err != nil {
		return t, err
	}
	if t.refresh <= 0 {
		return t, fmt.Errorf("refreshInterval: must be positive, such as \"10m\", or keys would be fetched on every request")
	}
	if t.minRefresh < minRefreshFloor {
		return t, fmt.Errorf("minRefreshInterval: %s is below %s; raise it (default 5s): it bounds how often tokens naming unknown kids can make withauth fetch keys", t.minRefresh, minRefreshFloor)
	}
	if t.timeout <= 0 {
		return t, fmt.Errorf("httpTimeout: must be positive, such as \"5s\", so that a slow key endpoint cannot hang requests")
	}
	return t, nil
}

// id names a shared remote key source: middlewares with the same endpoint and timing share it.
func (t fetchTiming) id(kind, endpoint string) string {
	return kind + " " + endpoint + " " + t.refresh.String() + " " + t.minRefresh.String() + " " + t.timeout.String()
}

func (t fetchTiming) remoteKeys(fetcher keyFetcher) *remoteKeys {
	return newRemoteKeys(fetcher, t.refresh, t.minRefresh, t.timeout)
}

func checkEndpointURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL; give an absolute URL such as https://app.example.com/.well-known/jwks.json", redactURL(raw))
	}
	return nil
}

func parseDuration(key, value string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(value))
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s: %q is not a duration; use a non-negative Go duration such as \"30s\" or \"10m\"", key, value)
	}
	return d, nil
}

// newAlgorithms checks algorithms (default RS256). none and HS* are refused by name: a public
// key must never double as an HMAC secret.
func newAlgorithms(values []string) (map[string]bool, error) {
	if values == nil {
		return map[string]bool{"RS256": true}, nil
	}
	names, err := splitList("algorithms", values)
	if err != nil {
		return nil, err
	}
	accepted := make(map[string]bool, len(names))
	for _, name := range names {
		if _, ok := supportedAlgorithms[name]; !ok {
			return nil, fmt.Errorf("algorithms: %q is not supported; use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA (none and HS* never: withauth verifies with public keys)", name)
		}
		accepted[name] = true
	}
	return accepted, nil
}

// newTyps checks typ, normalized as RFC 7515 §4.1.9 compares media types.
func newTyps(values []string) (map[string]bool, error) {
	names, err := splitList("typ", values)
	if err != nil || names == nil {
		return nil, err
	}
	typs := make(map[string]bool, len(names))
	for _, name := range names {
		typs[mediaType(name)] = true
	}
	return typs, nil
}

// mediaType is a typ value compared as RFC 7515 §4.1.9 says: case-insensitive, "application/"
// optional (so at+jwt and application/at+jwt are one).
func mediaType(typ string) string {
	typ = strings.ToLower(typ)
	return strings.TrimPrefix(typ, "application/")
}

// configureSources checks the token sources, optional, loginUrl and logRejections, and makes
// one cache per source.
func (m *Middleware) configureSources(config *Config, name string) error {
	header := strings.TrimSpace(config.TokenHeader)
	if header != "" {
		header = http.CanonicalHeaderKey(header)
		if !isHeaderName(header) || headersNotForwardable[headerKey(header)] || header == "X-Api-Key" || forwardsHeader(m.forward, header) {
			return fmt.Errorf("tokenHeader: %q cannot carry the token; give a header of your own such as X-Auth-Token", config.TokenHeader)
		}
	}
	m.sources = tokenSources{header: header, cookie: strings.TrimSpace(config.TokenCookie), query: strings.TrimSpace(config.TokenQueryParameter)}
	if m.optional = config.Optional; m.optional &&
		(len(m.roles.anyOf) > 0 || len(m.permissions.anyOf) > 0 || len(m.tenants.anyOf) > 0 || m.stepUp != nil) {
		return fmt.Errorf("optional: cannot be combined with roles, permissions, tenants or stepUp: an anonymous caller would get in where a signed-in one is refused; use two routes")
	}
	var err error
	if m.loginURL, err = checkLoginURL(config.LoginURL); err != nil {
		return err
	}
	if m.rejections, err = newRejectionLog(config.LogRejections, name); err != nil {
		return err
	}
	for source := fromAuthorization; source < credentialSources; source++ {
		m.caches[source] = newTokenCache(config.CacheSize)
	}
	if m.sources.query == "" {
		m.cache = m.caches[fromAuthorization]
	}
	return nil
}
