package withauth

// What a route requires of verified claims: any-of requirements, read through claim paths.

import (
	"fmt"
	"strings"
)

// requirement is an any-of set of names expected in a list claim, or (single) the one name a
// claim holds; empty means none required.
type requirement struct {
	claim claimPath
	anyOf map[string]bool
	// single: the claim is one name, a string equal to one of anyOf (tenants); a list, an
	// object or a space-separated string never meets it.
	single bool
	// wildcards lets a granted "prefix.*" cover the required names under prefix
	// (grantWildcards): then anyOf is also kept as a list, to compare prefixes with.
	wildcards bool
	names     []string
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

// meets reports whether the claim holds any of the names, in any of the shapes identity
// providers give lists: a JSON array of strings, a string of space-separated names (OAuth
// scopes, RFC 6749 §3.3, so "admin" is a list of one) or an object whose keys are the names
// (Zitadel's roles). Names match exactly: no substrings, no other separators.
func meets(r *requirement, claims map[string]interface{}) bool {
	if len(r.anyOf) == 0 {
		return true
	}
	value, found := claims[r.claim.name] // lookupClaim, its top-level read inlined
	if !found {
		value, _ = nestedClaim(r.claim, claims)
	}
	if r.single {
		name, isString := value.(string)
		return isString && r.anyOf[name]
	}
	if list, ok := value.([]interface{}); ok && !r.wildcards {
		for _, item := range list {
			if name, ok := item.(string); ok && r.anyOf[name] {
				return true
			}
		}
		return false
	}
	return meetsOtherShape(r, value)
}

// meetsAll reports whether the claims meet every requirement.
func meetsAll(required []*requirement, claims map[string]interface{}) bool {
	for _, r := range required {
		if !meets(r, claims) {
			return false
		}
	}
	return true
}

// meetsOtherShape is meets for the shapes other than a JSON array, apart so that the common
// case stays a small function under Yaegi.
func meetsOtherShape(r *requirement, value interface{}) bool {
	switch v := value.(type) {
	case []interface{}:
		for _, item := range v {
			if name, ok := item.(string); ok && granted(r, name) {
				return true
			}
		}
	case string:
		for _, name := range strings.Split(v, " ") {
			if granted(r, name) {
				return true
			}
		}
	case map[string]interface{}:
		for name := range v {
			if granted(r, name) {
				return true
			}
		}
	}
	return false
}

// granted reports whether one granted name satisfies the requirement: it is one of the names,
// or, with wildcards, it is "prefix.*" and a required name lies under prefix ("fe.secure.*"
// covers "fe.secure.read.users"; "fe.*" never covers "fex.read", and "*" alone covers nothing).
func granted(r *requirement, name string) bool {
	if r.anyOf[name] {
		return true
	}
	if !r.wildcards || len(name) < 3 || !strings.HasSuffix(name, ".*") {
		return false
	}
	prefix := name[:len(name)-1]
	for _, required := range r.names {
		if len(required) > len(prefix) && strings.HasPrefix(required, prefix) {
			return true
		}
	}
	return false
}

// claimPath locates a claim: the whole name as a top-level key first (namespaced claims such
// as "https://example.com/roles" contain dots), else the dotted path into nested objects, in
// which "\." is a literal dot (resource_access.my\.client.roles).
type claimPath struct {
	name  string
	parts []string
}

func newClaimPath(path string) claimPath {
	var parts []string
	var part strings.Builder
	for i := 0; i < len(path); i++ {
		switch {
		case path[i] == '\\' && i+1 < len(path) && path[i+1] == '.':
			part.WriteByte('.')
			i++
		case path[i] == '.':
			parts = append(parts, part.String())
			part.Reset()
		default:
			part.WriteByte(path[i])
		}
	}
	parts = append(parts, part.String())
	return claimPath{name: strings.ReplaceAll(path, "\\.", "."), parts: parts}
}

func lookupClaim(p claimPath, claims map[string]interface{}) (interface{}, bool) {
	if v, ok := claims[p.name]; ok {
		return v, true
	}
	return nestedClaim(p, claims)
}

// nestedClaim is lookupClaim past the top-level name: the dotted path into nested objects.
func nestedClaim(p claimPath, claims map[string]interface{}) (interface{}, bool) {
	if len(p.parts) < 2 {
		return nil, false
	}
	var current interface{} = claims
	for _, part := range p.parts {
		object, ok := current.(map[string]interface{})
		if !ok {
			return nil, false
		}
		if current, ok = object[part]; !ok {
			return nil, false
		}
	}
	return current, true
}

// authorizedParty is the party a token was issued to: azp (OpenID Connect), else client_id
// (RFC 9068).
func authorizedParty(claims map[string]interface{}) string {
	if azp, ok := claims["azp"].(string); ok {
		return azp
	}
	clientID, _ := claims["client_id"].(string)
	return clientID
}
