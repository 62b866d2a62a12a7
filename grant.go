package withauth

// What a route concludes from verified claims, its grant: whether they meet its requirements,
// the headers it forwards, the bindings it judges; kept in the route's cache until it expires.

import (
	"sort"
	"strconv"
	"strings"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// grant is what a middleware concluded from one verified token: kept in its cache so that the
// token is not parsed, verified or decoded again until it expires.
type grant struct {
	kid string
	key *jose.Key
	// keys and epoch are those of the issuer whose key verified the token.
	keys  *keySource
	epoch *keyEpoch
	// generation is epoch's generation when the token was verified; a grant of an
	// older generation is verified anew, so tokens of keys that left the set are dropped.
	generation      int64
	expiresUnixNano int64 // clock skew included
	// usableUntilUnixNano is expiresUnixNano, or earlier the time the key set is due for a
	// refresh: past it the grant is checked against the key source again.
	usableUntilUnixNano int64
	// allowed tells whether the token meets this middleware's roles and permissions;
	// refusal, when not and rejections are logged, what the log line says of the token.
	allowed bool
	refusal string
	// conditionsUnmet: the refusal is claimConditions', not a requirement's.
	conditionsUnmet bool
	// assertionClaims are the claims its assertions copy (upstreamTokenClaims, as JSON members);
	// assertionAudience the aud of the assertion among its forwarded headers (the last one), ""
	// for none; assertionHost the request Host it was minted for when the audience is the Host
	// (ServeHTTP's fast path serves that Host only); assertionRenewUnixNano when to mint anew.
	assertionClaims        string
	assertionAudience      string
	assertionHost          string
	assertionRenewUnixNano int64
	// verified is what the rejection log says of the token (iss, sub, kid) when a route that logs
	// refusals judges bindings, which are refused after the token verified.
	verified string
	// jkt and x5t are the token's cnf confirmations (RFC 9449's DPoP key, RFC 8705's client
	// certificate), read when the route judges them.
	jkt, x5t string
	// forwardNames and forwardValues are the forwarded headers the claims give a value, in the
	// middleware's order: a header of an absent claim is not listed, so that a hit sets the
	// headers without a check each. They are shared by every request with the token, never
	// modified (see forwardedHeaders).
	forwardNames  []string
	forwardValues [][]string
}

// usableUntil bounds a grant's use without asking the key source: its expiry, or the key
// set's next refresh if that comes first (Unix nanoseconds).
func usableUntil(expiresUnixNano int64, epoch *keyEpoch) int64 {
	if due := epoch.refreshDueUnixNano.Load(); due < expiresUnixNano {
		return due
	}
	return expiresUnixNano
}

// failedRequirement names, for the rejection log, the first requirement the claims fail and
// the type of what its claim holds.
func failedRequirement(required []*requirement, claims map[string]interface{}) string {
	for _, r := range required {
		if meets(r, claims) {
			continue
		}
		value, found := lookupClaim(r.claim, claims)
		kind := "absent"
		if found {
			switch value.(type) {
			case []interface{}:
				kind = "array"
			case string:
				kind = "string"
			case map[string]interface{}:
				kind = "object"
			default:
				kind = "other"
			}
		}
		return " claim=" + strconv.Quote(r.claim.name) + " found=" + kind
	}
	return ""
}

// newGrant is what the middleware concludes from verified claims: whether they meet its
// requirements, and the forwarded headers' values.
func newGrant(r *tokenRules, claims map[string]interface{}, signed *signedToken, expiresUnixNano int64) *grant {
	g := &grant{
		kid:                 signed.raw.Kid,
		key:                 signed.key,
		keys:                signed.trusted.keys,
		epoch:               signed.trusted.epoch,
		generation:          signed.generation,
		expiresUnixNano:     expiresUnixNano,
		usableUntilUnixNano: usableUntil(expiresUnixNano, signed.trusted.epoch),
	}
	if r.conditions != nil && !holds(r.conditions, claims) {
		g.conditionsUnmet = true
	} else {
		g.allowed = meetsAll(r.required, claims)
	}
	names, values := forwardedHeaders(r.forwardNames, forwardedValues(r, claims))
	g.forwardNames = names
	g.forwardValues = values
	if r.readConfirmations {
		jkt, x5t := confirmations(claims)
		g.jkt = jkt
		g.x5t = x5t
		g.verified = verifiedDetail(r, signed.raw, claims)
	}
	if !g.allowed {
		refusedGrant(r, g, signed, claims)
	} else if r.upstream != nil {
		g.assertionClaims = assertionClaims(r.upstream, claims)
	}
	return g
}

// refusedGrant notes why a grant refuses its token: the log's detail, and a required claim
// absent from it.
func refusedGrant(r *tokenRules, g *grant, signed *signedToken, claims map[string]interface{}) {
	if g.conditionsUnmet {
		if r.logDetails {
			g.refusal = verifiedDetail(r, signed.raw, claims) + " claimConditions=unmet"
		}
		return
	}
	logAbsentClaims(r, claims)
	if r.logDetails {
		g.refusal = verifiedDetail(r, signed.raw, claims) + failedRequirement(r.required, claims)
	}
}

// logAbsentClaims logs, once per route and claim path, a required claim absent from a verified
// token: a misspelled rolesClaim (realm_access.role) refuses everyone with a 403 that looks
// like a missing role. It names the claim names the token has, never their values.
func logAbsentClaims(r *tokenRules, claims map[string]interface{}) {
	for _, required := range r.required {
		if _, found := lookupClaim(required.claim, claims); found {
			continue
		}
		if _, logged := r.absentClaimsLogged.LoadOrStore(r.routeName+"\x00"+required.claim.name, true); logged {
			continue
		}
		names := make([]string, 0, len(claims))
		for name := range claims {
			names = append(names, name)
		}
		sort.Strings(names)
		r.log.error("withauth " + r.routeName + ": the claim " + strconv.Quote(required.claim.name) + " that this route requires is absent from a verified token " +
			"(its claims: " + strings.Join(names, ", ") + "); every such token is refused 403. If the claim is spelled differently, fix the route's claim setting " +
			"(rolesClaim, permissionsClaim, tenantClaim; a dotted path reaches nested claims). Logged once per route and claim.")
	}
}

// unreadableConfirmation stands for a cnf member withauth cannot read (not a string): the
// token is bound to something, and no key or certificate has this thumbprint, so it is refused
// wherever its binding is judged, never taken for an unbound token.
const unreadableConfirmation = "(unreadable)"

// confirmations reads a token's cnf: the DPoP key's thumbprint and the certificate's.
func confirmations(claims map[string]interface{}) (jkt, x5t string) {
	value, present := claims["cnf"]
	cnf, isObject := value.(map[string]interface{})
	if present && !isObject {
		return unreadableConfirmation, unreadableConfirmation
	}
	return confirmation(cnf, "jkt"), confirmation(cnf, "x5t#S256")
}

// confirmation is one member of cnf: "" when absent, unreadableConfirmation when not a string.
func confirmation(cnf map[string]interface{}, name string) string {
	value, present := cnf[name]
	if !present {
		return ""
	}
	if text, isString := value.(string); isString && text != "" {
		return text
	}
	return unreadableConfirmation
}

// signedToken is a token whose signature verified, and what verified it.
type signedToken struct {
	raw     *jose.Token
	key     *jose.Key
	trusted *trustedIssuer
	// generation is the issuer's key generation read before the key lookup: a key set
	// replaced meanwhile leaves the grant outdated, not wrong.
	generation int64
}

// verifiedDetail is what a rejection log line says of a token whose signature verified.
func verifiedDetail(r *tokenRules, raw *jose.Token, claims map[string]interface{}) string {
	if !r.logDetails {
		return ""
	}
	iss, _ := claims["iss"].(string)
	sub, _ := claims["sub"].(string)
	return "iss=" + strconv.Quote(iss) + " sub=" + strconv.Quote(sub) + " kid=" + strconv.Quote(raw.Kid)
}
