package withauth

// A JWT verified for a route: its header, its issuer's key, its signature, its claims, in the
// order that trusts the least; the token core (internal/jose) does the parsing and the maths.

import (
	"context"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

func verifySigned(r *tokenRules, ctx context.Context, token string) (*signedToken, error) {
	text := jose.HeaderText(token)
	r.headers.mu.Lock()
	known := r.headers.byText[text]
	r.headers.mu.Unlock()
	raw, err := jose.Parse(token, r.algorithms, known)
	if err != nil {
		return nil, err
	}
	if r.typs != nil && !r.typs[jose.MediaType(raw.Typ)] {
		return nil, errHeaderTyp
	}
	trusted := r.trust.only
	if trusted == nil {
		if trusted, err = issuerByIss(r.trust.byIss, raw); err != nil {
			return nil, err
		}
	}
	generation := trusted.epoch.generation.Load()
	key, err := lookupKey(ctx, trusted.keys, raw.Kid)
	if err != nil {
		return nil, err
	}
	signed := &signedToken{raw: raw, key: key, trusted: trusted, generation: generation}
	if err := jose.Verify(raw, key); err != nil {
		if trusted.keys.fetcher == nil {
			return nil, err // a static key set is never replaced
		}
		return verifyWithReplacement(ctx, signed, err)
	}
	if raw.Fresh {
		rememberHeader(r.headers, text, raw.Header)
	}
	return signed, nil
}

// verifyWithReplacement gives a token whose signature failed one more chance, with the key its
// source may have replaced meanwhile (a JWKS's only key, rotated).
func verifyWithReplacement(ctx context.Context, signed *signedToken, failure error) (*signedToken, error) {
	key := replacementKey(ctx, signed.trusted.keys, signed.raw.Kid, signed.key)
	if key == nil || jose.Verify(signed.raw, key) != nil {
		return nil, failure
	}
	signed.key = key
	signed.generation = signed.trusted.epoch.generation.Load()
	return signed, nil
}

// verifyClaims checks the claims of a token whose signature verified and makes its grant; with
// introspect "always", the identity provider must also say the token is active.
func verifyClaims(r *tokenRules, ctx context.Context, token, client string, signed *signedToken, source credentialSource, nowUnixNano int64) (*grant, string, error) {
	claims, err := jose.DecodeClaims(signed.raw)
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
	expSeconds, err := jose.ValidateClaims(&trusted.rules, claims, nowSeconds)
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
	if err := r.tokenType(claims, source); err != nil {
		return 0, nil, err
	}
	expiresUnixNano := cacheExpiry(expSeconds, trusted.rules.SkewSeconds)
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
