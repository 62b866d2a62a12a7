package withauth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// The settings of a signed identity for the upstream (upstreamTokenKey…), and what an assertion
// holds: read once in New, minted by assertion.go.

// upstreamIdentity is a route's assertion settings, read once in New.
type upstreamIdentity struct {
	signer     *jose.Signer
	issuerJSON string // upstreamTokenIssuer, as JSON
	header     string
	lifetime   time.Duration
	audience   string // "": the request's Host
	claims     []claimPath
	// jwks is the published key set (the key, then upstreamTokenPreviousKeys); jwksPath where
	// the route answers it ("": nowhere).
	jwks     []byte
	jwksPath string
}

// defaultAssertionHeader is upstreamTokenHeader's default.
const defaultAssertionHeader = "X-Withauth-Assertion"

// registeredAssertionClaims are the claims withauth sets in every assertion itself.
var registeredAssertionClaims = map[string]bool{"iss": true, "aud": true, "iat": true, "exp": true, "jti": true, "nbf": true}

// newUpstreamIdentity checks the upstreamToken* settings and upstreamJwksPath; nil without
// upstreamTokenKey. forwardNames are the route's forwarded headers, which the assertion's header
// must not be.
func newUpstreamIdentity(config *Config, forwardNames []string) (*upstreamIdentity, error) {
	if strings.TrimSpace(config.UpstreamTokenKey) == "" {
		if config.UpstreamTokenIssuer != "" || config.UpstreamTokenHeader != "" || config.UpstreamTokenLifetime != "" || config.UpstreamTokenAudience != "" ||
			config.UpstreamTokenClaims != nil || config.UpstreamTokenPreviousKeys != nil || config.UpstreamJWKSPath != "" {
			return nil, fmt.Errorf("upstreamTokenIssuer, upstreamTokenHeader, upstreamTokenLifetime, upstreamTokenAudience, upstreamTokenClaims, upstreamTokenPreviousKeys and upstreamJwksPath apply with upstreamTokenKey; set it (or upstreamTokenKeyFile) or remove them")
		}
		return nil, nil
	}
	signer, err := jose.ParseSigningKeyPEM(config.UpstreamTokenKey)
	if err != nil {
		return nil, fmt.Errorf("upstreamTokenKey: %v; give an EC P-256 or an Ed25519 private key in PEM (openssl genpkey -algorithm ed25519)", err)
	}
	u := &upstreamIdentity{signer: signer, header: defaultAssertionHeader, lifetime: time.Minute, audience: strings.TrimSpace(config.UpstreamTokenAudience)}
	issuer := strings.TrimSpace(config.UpstreamTokenIssuer)
	if issuer == "" {
		return nil, fmt.Errorf("upstreamTokenIssuer: is required with upstreamTokenKey; give the iss your backends expect, such as https://gateway.example.com")
	}
	quoted, _ := json.Marshal(issuer)
	u.issuerJSON = string(quoted)
	if config.UpstreamTokenHeader != "" {
		u.header = http.CanonicalHeaderKey(strings.TrimSpace(config.UpstreamTokenHeader))
		if !isHeaderName(u.header) || headersNotForwardable[headerKey(u.header)] {
			return nil, fmt.Errorf("upstreamTokenHeader: %q cannot carry the assertion; use a header name of your own such as %s", config.UpstreamTokenHeader, defaultAssertionHeader)
		}
	}
	for _, name := range forwardNames {
		if headerKey(name) == headerKey(u.header) {
			return nil, fmt.Errorf("upstreamTokenHeader: %q is also a forwarded header; give the assertion a header of its own", u.header)
		}
	}
	if config.UpstreamTokenLifetime != "" {
		if u.lifetime, err = parseDuration("upstreamTokenLifetime", config.UpstreamTokenLifetime); err != nil {
			return nil, err
		}
		if u.lifetime < 10*time.Second || u.lifetime > 10*time.Minute {
			return nil, fmt.Errorf("upstreamTokenLifetime: %s is not between 10s and 10m; give how long a backend may accept an assertion, such as \"60s\"", u.lifetime)
		}
	}
	names := []string{"sub", "email", "tenantId", firstNonEmpty(config.RolesClaim, "roles"), firstNonEmpty(config.PermissionsClaim, "permissions")}
	if config.UpstreamTokenClaims != nil {
		if names, err = splitList("upstreamTokenClaims", config.UpstreamTokenClaims); err != nil {
			return nil, err
		}
	}
	for _, name := range names {
		if registeredAssertionClaims[name] {
			return nil, fmt.Errorf("upstreamTokenClaims: %q is set by withauth itself (iss, aud, iat, exp, jti); remove it", name)
		}
		u.claims = append(u.claims, newClaimPath(name))
	}
	if u.jwksPath = strings.TrimSpace(config.UpstreamJWKSPath); u.jwksPath != "" && (!strings.HasPrefix(u.jwksPath, "/") || strings.ContainsAny(u.jwksPath, "?# ")) {
		return nil, fmt.Errorf("upstreamJwksPath: %q is not a path; give one the route's rule matches, such as /api/.well-known/withauth-jwks.json", u.jwksPath)
	}
	published := []jose.JWK{signer.JWK}
	for i, previous := range config.UpstreamTokenPreviousKeys {
		key, err := jose.PublishedJWK(previous)
		if err != nil {
			return nil, fmt.Errorf("upstreamTokenPreviousKeys[%d]: %v; give the PEM key (public or private) still published after a rotation", i, err)
		}
		published = append(published, key)
	}
	u.jwks = jose.PublicJWKS(published)
	return u, nil
}

// assertionClaims are the members a grant's assertions copy from the verified claims, as JSON
// ("sub":"…","email":"…"): claims withauth renders, never the token's own text.
func assertionClaims(u *upstreamIdentity, claims map[string]interface{}) string {
	var members []string
	for _, path := range u.claims {
		value, found := lookupClaim(path, claims)
		if !found {
			continue
		}
		name, _ := json.Marshal(path.name)
		encoded, err := json.Marshal(value)
		if err != nil {
			continue
		}
		members = append(members, string(name)+":"+string(encoded))
	}
	return strings.Join(members, ",")
}

// mintAssertion signs an assertion: iss, aud, iat, exp, a random jti, and the copied claims.
func mintAssertion(u *upstreamIdentity, claims, audience string, nowUnixNano, expiresUnixNano int64) (string, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	aud, _ := json.Marshal(audience)
	payload := `{"iss":` + u.issuerJSON + `,"aud":` + string(aud) + `,"iat":` + strconv.FormatInt(nowUnixNano/int64(time.Second), 10) +
		`,"exp":` + strconv.FormatInt(expiresUnixNano/int64(time.Second), 10) + `,"jti":"` + base64.RawURLEncoding.EncodeToString(jti) + `"`
	if claims != "" {
		payload += "," + claims
	}
	return jose.Sign(u.signer, []byte(payload+"}"))
}
