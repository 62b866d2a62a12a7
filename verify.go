package withauth

// Token to grant: every check, in the order that trusts the least.

import (
	"context"
	"sort"
	"strconv"
	"strings"
)

// verify turns a token into a grant, in the order that trusts the least: header, key,
// signature, registered claims, Frontegg's token rules (and, for an access token, Frontegg's
// answer about it), then the route's requirements and forwarded values. It is two functions:
// under Yaegi every local of a function is allocated on entry, and a forged token stops at
// the first.
// client is the requester's address, by which introspection calls are counted.
func verify(ctx context.Context, r *tokenRules, token, client string, source credentialSource, nowUnixNano int64) (*grant, string, error) {
	if r.introspection != nil && !compactJWS(token) {
		return verifyIntrospected(ctx, r, token, client, nowUnixNano)
	}
	signed, err := verifySigned(r, ctx, token)
	if err != nil {
		return nil, "", err
	}
	return verifyClaims(r, ctx, token, client, signed, source, nowUnixNano)
}

// signedToken is a token whose signature verified, and what verified it.
type signedToken struct {
	raw     *rawToken
	key     *publicKey
	trusted *trustedIssuer
	// generation is the issuer's key generation read before the key lookup: a key set
	// replaced meanwhile leaves the grant outdated, not wrong.
	generation int64
}

func verifySigned(r *tokenRules, ctx context.Context, token string) (*signedToken, error) {
	raw, err := parseToken(token, r.algorithms)
	if err != nil {
		return nil, err
	}
	if r.typs != nil && !r.typs[mediaType(raw.typ)] {
		return nil, errHeaderTyp
	}
	trusted := r.trust.only
	if trusted == nil {
		if trusted, err = issuerByIss(r.trust.byIss, raw); err != nil {
			return nil, err
		}
	}
	generation := trusted.epoch.generation.Load()
	key, err := lookupKey(ctx, trusted.keys, raw.kid)
	if err != nil {
		return nil, err
	}
	signed := &signedToken{raw: raw, key: key, trusted: trusted, generation: generation}
	if err := verifySignature(raw, key); err != nil {
		return verifyWithReplacement(ctx, signed, err)
	}
	return signed, nil
}

// verifyWithReplacement gives a token whose signature failed one more chance, with the key its
// source may have replaced meanwhile (a JWKS's only key, rotated).
func verifyWithReplacement(ctx context.Context, signed *signedToken, failure error) (*signedToken, error) {
	key := signed.trusted.keys.replacement(ctx, signed.raw.kid, signed.key)
	if key == nil || verifySignature(signed.raw, key) != nil {
		return nil, failure
	}
	signed.key = key
	signed.generation = signed.trusted.epoch.generation.Load()
	return signed, nil
}

// verifyClaims checks the claims of a token whose signature verified and makes its grant; with
// introspect "always", the identity provider must also say the token is active.
func verifyClaims(r *tokenRules, ctx context.Context, token, client string, signed *signedToken, source credentialSource, nowUnixNano int64) (*grant, string, error) {
	claims, err := decodeClaims(signed.raw)
	if err != nil {
		return nil, "", err
	}
	expiresUnixNano, read, err := checkClaims(r, signed.trusted, claims, source, nowUnixNano)
	if err == nil && r.introspection != nil && r.introspection.always {
		expiresUnixNano, err = confirmActive(ctx, r.introspection, token, client, expiresUnixNano, nowUnixNano)
	}
	if err != nil {
		return nil, verifiedDetail(r, signed.raw, claims), err
	}
	return newGrant(r, read, signed, expiresUnixNano), "", nil
}

// checkClaims applies the claim rules in order: registered claims, azp, step-up, Frontegg's
// token type and, for an access token, Frontegg's answer. It returns until when the grant may
// be cached (Unix nanoseconds), and the claims the route's requirements and headers read: the
// verified ones, or for an access token a copy with Frontegg's grants (withGrants).
func checkClaims(r *tokenRules, trusted *trustedIssuer, claims map[string]interface{}, source credentialSource, nowUnixNano int64) (int64, map[string]interface{}, error) {
	nowSeconds := float64(nowUnixNano) / 1e9
	expSeconds, err := validateClaims(&trusted.rules, claims, nowSeconds)
	if err != nil {
		return 0, nil, err
	}
	if r.authorizedParties != nil && !r.authorizedParties[authorizedParty(claims)] {
		return 0, nil, errAuthorized
	}
	var stepUpUntil int64
	if r.stepUp != nil {
		if stepUpUntil, err = checkStepUp(r.stepUp, claims, nowSeconds); err != nil {
			return 0, nil, err
		}
	}
	if err := checkTokenType(claims, source, r.frontegg != nil); err != nil {
		return 0, nil, err
	}
	expiresUnixNano := cacheExpiry(expSeconds, trusted.rules.skewSeconds)
	if stepUpUntil > 0 && stepUpUntil < expiresUnixNano {
		expiresUnixNano = stepUpUntil
	}
	if source == fromAPIKey {
		return accessTokenExpiry(r, claims, expiresUnixNano)
	}
	return expiresUnixNano, claims, nil
}

// accessTokenExpiry asks Frontegg about an access token (x-api-key): refused if not active,
// else cached no longer than Frontegg's answer is trusted, its claims read with Frontegg's
// grants.
func accessTokenExpiry(r *tokenRules, claims map[string]interface{}, expiresUnixNano int64) (int64, map[string]interface{}, error) {
	trustedUntil, grants, err := r.frontegg.checkAccessToken(claims, r.fetchAccessTokenGrants)
	if err != nil {
		return 0, nil, err
	}
	if until := trustedUntil.UnixNano(); until < expiresUnixNano {
		expiresUnixNano = until
	}
	return expiresUnixNano, withGrants(claims, grants), nil
}

// verifiedDetail is what a rejection log line says of a token whose signature verified.
func verifiedDetail(r *tokenRules, raw *rawToken, claims map[string]interface{}) string {
	if !r.logDetails {
		return ""
	}
	iss, _ := claims["iss"].(string)
	sub, _ := claims["sub"].(string)
	return "iss=" + strconv.Quote(iss) + " sub=" + strconv.Quote(sub) + " kid=" + strconv.Quote(raw.kid)
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

// authorizedParty is the party a token was issued to: azp (OpenID Connect), else client_id
// (RFC 9068).
func authorizedParty(claims map[string]interface{}) string {
	if azp, ok := claims["azp"].(string); ok {
		return azp
	}
	clientID, _ := claims["client_id"].(string)
	return clientID
}

// newGrant is what the middleware concludes from verified claims: whether they meet its
// requirements, and the forwarded headers' values.
func newGrant(r *tokenRules, claims map[string]interface{}, signed *signedToken, expiresUnixNano int64) *grant {
	g := &grant{
		kid:                 signed.raw.kid,
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
		errorLine("withauth " + r.routeName + ": the claim " + strconv.Quote(required.claim.name) + " that this route requires is absent from a verified token " +
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

// introspectedEpoch is the key epoch of every introspected grant: no key verified it, so no
// key set change outdates it; its expiry alone does.
var introspectedEpoch = newStaticEpoch()

// verifyIntrospected judges an opaque token by the identity provider's answer: an access token
// (token_use, token_type), its members the claims, checked as a JWT's are (exp, nbf, iat, iss
// against issuer, aud against audience, the authorized party, step-up), then the route's
// requirements and headers. The grant is trusted no longer than introspectionCacheDuration, and
// never past the answer's exp: the provider's answer is the authority, no clock skew added.
func verifyIntrospected(ctx context.Context, r *tokenRules, token, client string, nowUnixNano int64) (*grant, string, error) {
	claims, err := introspect(ctx, r.introspection.endpoint, token, client)
	if err != nil {
		return nil, "", err
	}
	if !introspectedAccessToken(claims, r.typs != nil) {
		return nil, introspectedDetail(r, claims), errNotAccessToken
	}
	trusted := r.trust.only
	if trusted == nil {
		iss, _ := claims["iss"].(string)
		if trusted = r.trust.byIss[iss]; trusted == nil {
			return nil, introspectedDetail(r, claims), errIssuer
		}
	}
	nowSeconds := float64(nowUnixNano) / 1e9
	expSeconds, err := validateClaims(&trusted.rules, claims, nowSeconds)
	if err != nil {
		return nil, introspectedDetail(r, claims), err
	}
	if r.authorizedParties != nil && !r.authorizedParties[authorizedParty(claims)] {
		return nil, introspectedDetail(r, claims), errAuthorized
	}
	expiresUnixNano := cacheExpiry(expSeconds, 0)
	if r.stepUp != nil {
		stepUpUntil, err := checkStepUp(r.stepUp, claims, nowSeconds)
		if err != nil {
			return nil, introspectedDetail(r, claims), err
		}
		if stepUpUntil > 0 && stepUpUntil < expiresUnixNano {
			expiresUnixNano = stepUpUntil
		}
	}
	if until := nowUnixNano + int64(r.introspection.cacheDuration); until < expiresUnixNano {
		expiresUnixNano = until
	}
	judged := &signedToken{raw: &rawToken{}, trusted: &trustedIssuer{epoch: introspectedEpoch, rules: trusted.rules}}
	return newGrant(r, claims, judged, expiresUnixNano), "", nil
}

// introspectedAccessToken reports whether an active answer describes an access token, as
// RFC 7662 lets a provider say: token_use (Hydra, fosite, Authelia) and token_type, when
// present, must name one; when the route names typ, one of them must be present to say so.
// Providers answer active for their refresh tokens too, whatever token_type_hint asked.
func introspectedAccessToken(claims map[string]interface{}, typRequired bool) bool {
	use, usePresent := claims["token_use"]
	kind, kindPresent := claims["token_type"]
	if usePresent && use != "access_token" {
		return false
	}
	if kindPresent {
		name, _ := kind.(string)
		switch strings.ToLower(name) {
		case "bearer", "dpop", "access_token", "urn:ietf:params:oauth:token-type:access_token":
		default:
			return false
		}
	}
	return !typRequired || usePresent || kindPresent
}

// confirmActive asks, for introspect "always", whether a token verified locally is still active
// (revocation), and bounds its grant by introspectionCacheDuration.
func confirmActive(ctx context.Context, i *introspection, token, client string, expiresUnixNano, nowUnixNano int64) (int64, error) {
	if _, err := introspect(ctx, i.endpoint, token, client); err != nil {
		return 0, err
	}
	if until := nowUnixNano + int64(i.cacheDuration); until < expiresUnixNano {
		return until, nil
	}
	return expiresUnixNano, nil
}

// introspectedDetail is what a rejection log line says of an introspected token.
func introspectedDetail(r *tokenRules, claims map[string]interface{}) string {
	return verifiedDetail(r, &rawToken{}, claims)
}
