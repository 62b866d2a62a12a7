package withauth

// Token to grant: every check, in the order that trusts the least.

import (
	"context"
	"strings"

	"github.com/seed0ec25cca/withauth/internal/jose"
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
	expSeconds, err := jose.ValidateClaims(&trusted.rules, claims, nowSeconds)
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
	judged := &signedToken{raw: &jose.Token{}, trusted: &trustedIssuer{epoch: r.introspection.epoch, rules: trusted.rules}}
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

// introspectedDetail is what a rejection log line says of an introspected token.
func introspectedDetail(r *tokenRules, claims map[string]interface{}) string {
	return verifiedDetail(r, &jose.Token{}, claims)
}
