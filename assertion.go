package withauth

// A signed identity for the upstream (upstreamTokenKey): a short-lived JWT withauth signs for each
// grant, which the backend verifies against the key withauth publishes (upstreamJwksPath), so
// that the identity it receives does not depend on the network between Traefik and it. The
// settings are upstream.go's.

import (
	"net/http"
)

// withAssertion is g with a current assertion for audience (the route's, else host) among its
// forwarded headers: minted when g has none for it, or it is due for renewal (a quarter of its
// lifetime before it expires), and cached with g, so that the next requests are hits.
func withAssertion(u *upstreamIdentity, cache *tokenCache, cacheKey string, g *grant, host string, nowUnixNano int64) (*grant, error) {
	audience := u.audience
	if audience == "" {
		audience = host
	}
	if g.assertionAudience == audience && nowUnixNano < g.assertionRenewUnixNano {
		return g, nil
	}
	expiresUnixNano := nowUnixNano + int64(u.lifetime)
	if g.expiresUnixNano < expiresUnixNano {
		expiresUnixNano = g.expiresUnixNano // never past the token's own expiry
	}
	token, err := mintAssertion(u, g.assertionClaims, audience, nowUnixNano, expiresUnixNano)
	if err != nil {
		return nil, err
	}
	names, values := g.forwardNames, g.forwardValues
	if g.assertionAudience != "" { // the previous assertion is the last header
		names = names[:len(names)-1]
		values = values[:len(values)-1]
	}
	minted := *g
	minted.forwardNames = append(append(make([]string, 0, len(names)+1), names...), u.header)
	minted.forwardValues = append(append(make([][]string, 0, len(values)+1), values...), []string{token})
	minted.assertionAudience = audience
	minted.assertionHost = ""
	if u.audience == "" {
		minted.assertionHost = host
	}
	minted.assertionRenewUnixNano = expiresUnixNano - int64(u.lifetime)/4
	if minted.assertionRenewUnixNano < minted.usableUntilUnixNano {
		minted.usableUntilUnixNano = minted.assertionRenewUnixNano
	}
	if cache != nil {
		cacheGrant(cache, cacheKey, &minted)
	}
	return &minted, nil
}

// ServeHTTP answers upstreamJwksPath with the key set, and passes every other request on.
func (j *jwksRoute) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	if req.URL.Path != j.path {
		j.next.ServeHTTP(rw, req)
		return
	}
	header := rw.Header()
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		header.Set("Allow", "GET, HEAD")
		rw.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	header.Set("Content-Type", "application/jwk-set+json")
	header.Set("Cache-Control", "public, max-age=300")
	rw.WriteHeader(http.StatusOK)
	if req.Method == http.MethodGet {
		_, _ = rw.Write(j.body)
	}
}
