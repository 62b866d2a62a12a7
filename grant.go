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
		allowed:             meetsAll(r.required, claims),
	}
	names, values := forwardedHeaders(r.forwardNames, forwardedValues(r.forward, claims))
	g.forwardNames = names
	g.forwardValues = values
	if r.readConfirmations {
		jkt, x5t := confirmations(claims)
		g.jkt = jkt
		g.x5t = x5t
	}
	if !g.allowed {
		logAbsentClaims(r, claims)
		if r.logDetails {
			g.refusal = verifiedDetail(r, signed.raw, claims) + failedRequirement(r.required, claims)
		}
	}
	return g
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

// forwardedHeaders are the names of the forwarded headers that have a value (names itself when
// all have) and the values as a request's header gets them: each a slice of values of capacity
// one, so that the grant's strings take one array.
func forwardedHeaders(names, values []string) ([]string, [][]string) {
	all := true
	for _, value := range values {
		if value == "" {
			all = false
		}
	}
	present := names
	if !all {
		present = nil
	}
	views := make([][]string, 0, len(values))
	for i, value := range values {
		if value == "" {
			continue
		}
		if !all {
			present = append(present, names[i])
		}
		views = append(views, values[i:i+1:i+1])
	}
	return present, views
}

// forwardedValues are the values of the forwarded headers, in forward's order: "" for a claim
// that is absent or renders as "", which sets no header. One loop, since under Yaegi a call
// costs more than the statements it saves.
func forwardedValues(forward []forwardedHeader, claims map[string]interface{}) []string {
	values := make([]string, len(forward))
	for i := range forward {
		h := &forward[i]
		claim, found := claims[h.claim.name] // lookupClaim, its top-level read inlined
		if !found {
			claim, found = nestedClaim(h.claim, claims)
		}
		if h.isUserID {
			claim, found = userID(claims)
		}
		// The two shapes of nearly every claim are rendered here, the rest by headerValue. When
		// !found, claim (and text and items) may hold the previous iteration's value under Yaegi.
		text, isString := claim.(string)
		items, isList := claim.([]interface{})
		value := ""
		switch {
		case h.allClaims:
			value = encodeClaims(claimsWithUserID(claims))
		case !found:
		case isString && !h.asList:
			if strings.TrimSpace(text) == text && !strings.ContainsAny(text, controlCharacters) { // plainHeaderText, inlined
				value = text
			}
		case isList:
			value = joinItems(items, h.asList)
		default:
			value = headerValue(claim, h.asList)
		}
		values[i] = value
	}
	return values
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
