package withauth

// What a route judges in a verified token, built once in New from the configuration: the
// verification path reads this, never the whole Middleware.

import (
	"fmt"
	"strings"
	"sync"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// tokenRules are a route's rules for tokens: whose, signed how, with which claims, and what
// is forwarded.
type tokenRules struct {
	// trust holds the trusted issuers: their keys and claim rules.
	trust             trust
	algorithms        map[string]bool
	authorizedParties map[string]bool
	typs              map[string]bool // normalized by mediaType
	roles             requirement
	permissions       requirement
	tenants           requirement
	// required are those of roles, permissions and tenants that require something; conditions
	// is claimConditions compiled (nil: none).
	required   []*requirement
	conditions *conditions
	stepUp     *stepUpRule // nil: no step-up required
	// frontegg checks access tokens in x-api-key; nil outside Frontegg vendor mode.
	frontegg *fronteggAPI
	// introspection asks about opaque tokens (and with introspect "always", every token); nil
	// without introspectionUrl.
	introspection *introspection
	// fetchAccessTokenGrants: an access token's roles and permissions are fetched from
	// Frontegg (accessTokenGrants "always", or roles or permissions required).
	fetchAccessTokenGrants bool
	forward                []forwardedHeader
	forwardNames           []string // forward's names, in its order
	// logDetails: refusals are logged (logRejections), so verification keeps what the log
	// says of a verified token.
	logDetails bool
	// routeName names the middleware in the log lines verification writes.
	routeName string
	// readConfirmations: the route judges DPoP or certificate binding, so grants keep cnf.
	readConfirmations bool
	// upstream signs the identity for the upstream (upstreamTokenKey); nil: off.
	upstream *upstreamIdentity
	// tokenType judges a token's type for its source, and userID is the user id a header naming
	// "id" forwards: Frontegg's rules (frontegg_tokens.go), which tell other issuers' tokens by
	// their lack of Frontegg's types.
	tokenType func(claims map[string]interface{}, source credentialSource) error
	userID    func(claims map[string]interface{}) (interface{}, bool)
	// absentClaimsLogged is the process's record of the required claims logged absent; headers
	// its token headers already read; log its log.
	absentClaimsLogged *sync.Map
	headers            *knownHeaders
	log                *processLog
}

// newTokenRules checks the configuration of everything verification judges.
// absentClaimsLogged, headers and log are the process's.
func newTokenRules(config *Config, timing fetchTiming, log *processLog, absentClaimsLogged *sync.Map, headers *knownHeaders) (tokenRules, error) {
	r := tokenRules{absentClaimsLogged: absentClaimsLogged, headers: headers, log: log}
	skew, err := parseDuration("clockSkew", config.ClockSkew)
	if err != nil {
		return r, err
	}
	audiences, err := splitList("audience", config.Audience)
	if err != nil {
		return r, err
	}
	if r.roles, err = newRequirement("roles", config.Roles, "rolesClaim", config.RolesClaim, config.GrantWildcards); err != nil {
		return r, err
	}
	if r.permissions, err = newRequirement("permissions", config.Permissions, "permissionsClaim", config.PermissionsClaim, config.GrantWildcards); err != nil {
		return r, err
	}
	if r.tenants, err = newTenantRequirement(config); err != nil {
		return r, err
	}
	if r.stepUp, err = newStepUp(config); err != nil {
		return r, err
	}
	if r.conditions, err = newConditions(config.ClaimConditions); err != nil {
		return r, err
	}
	maxAge, err := parseMaxTokenAge(config.MaxTokenAge)
	if err != nil {
		return r, err
	}
	if r.algorithms, err = newAlgorithms(config.Algorithms); err != nil {
		return r, err
	}
	parties, err := splitList("authorizedParties", config.AuthorizedParties)
	if err != nil {
		return r, err
	}
	r.authorizedParties = toSet(parties)
	if r.typs, err = newTyps(config.Typ); err != nil {
		return r, err
	}
	// The checks above and these forwarded names make nothing shared: a refused configuration
	// leaves nothing behind in the process. Key sources and endpoints come last.
	if r.forward, err = newForwardedHeaders(config.ForwardHeaders, config.RolesClaim, config.PermissionsClaim, config.ClaimsHeader); err != nil {
		return r, err
	}
	for _, h := range r.forward {
		r.forwardNames = append(r.forwardNames, h.name)
	}
	if r.upstream, err = newUpstreamIdentity(config, r.forwardNames); err != nil {
		return r, err
	}
	if r.trust, err = newTrust(config, audiences, jose.ClaimRules{SkewSeconds: skew.Seconds(), MaxAgeSeconds: maxAge.Seconds()}, timing); err != nil {
		return r, err
	}
	if r.introspection, err = newIntrospection(config, timing); err != nil {
		return r, err
	}
	r.frontegg = r.trust.frontegg
	r.tokenType = fronteggTokenTypes(r.frontegg != nil)
	r.userID = userID
	switch strings.TrimSpace(config.AccessTokenGrants) {
	case "":
	case "always":
		if r.frontegg == nil {
			return r, fmt.Errorf("accessTokenGrants: applies to Frontegg vendor mode only (access tokens in x-api-key); remove it")
		}
		r.fetchAccessTokenGrants = true
	default:
		return r, fmt.Errorf("accessTokenGrants: %q is not a setting; use \"always\" or remove the key", config.AccessTokenGrants)
	}
	if len(r.roles.anyOf) > 0 || len(r.permissions.anyOf) > 0 {
		r.fetchAccessTokenGrants = true
	}
	return r, nil
}

// requireSomething reports whether the rules refuse some signed-in users: requirements or
// step-up.
func (r *tokenRules) requireSomething() bool {
	return len(r.roles.anyOf) > 0 || len(r.permissions.anyOf) > 0 || len(r.tenants.anyOf) > 0 || r.stepUp != nil || r.conditions != nil
}

// newTyps checks typ, normalized as RFC 7515 §4.1.9 compares media types.
func newTyps(values []string) (map[string]bool, error) {
	names, err := splitList("typ", values)
	if err != nil || names == nil {
		return nil, err
	}
	typs := make(map[string]bool, len(names))
	for _, name := range names {
		typs[jose.MediaType(name)] = true
	}
	return typs, nil
}
