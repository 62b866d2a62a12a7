package withauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// privatePEM is a private key as PKCS #8 PEM.
func privatePEM(t testing.TB, key interface{}) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// assertionConfig is pemConfig signing assertions with key, on clock.
func assertionConfig(t testing.TB, key string, clock *fakeClock) *Config {
	config := pemConfig(t)
	config.UpstreamTokenKey = key
	config.UpstreamTokenIssuer = "https://gateway.example"
	config.UpstreamJWKSPath = "/.well-known/withauth-jwks.json"
	config.Now = clock.Now
	return config
}

// verifiedAssertion verifies the assertion the upstream received with the key set the route
// publishes, as a backend does, and returns its claims.
func verifiedAssertion(t *testing.T, handler http.Handler, assertion string) map[string]interface{} {
	t.Helper()
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://backend.example/.well-known/withauth-jwks.json", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("the JWKS path without a token: %d %s; want 200 and a JWK set", rec.Code, rec.Header().Get("Content-Type"))
	}
	set, err := jose.ParseJWKS(rec.Body.Bytes())
	if err != nil {
		t.Fatalf("the published JWKS %s: %v", rec.Body.String(), err)
	}
	token, err := jose.Parse(assertion, map[string]bool{"ES256": true, "EdDSA": true}, nil)
	if err != nil {
		t.Fatalf("the assertion %q: %v", assertion, err)
	}
	key := jose.FindKey(set, token.Kid)
	if key == nil || jose.Verify(token, key) != nil {
		t.Fatalf("the assertion (kid %q) does not verify with the published keys %s", token.Kid, rec.Body.String())
	}
	claims, err := jose.DecodeClaims(token)
	if err != nil {
		t.Fatal(err)
	}
	return claims
}

// TestUpstreamAssertion: the upstream gets a JWT it verifies with the route's published keys,
// carrying iss, aud (the request's Host), iat, exp, jti and the copied claims; a client's own
// header of that name never reaches it; the next request reuses it (a cache hit), and a quarter
// of its lifetime before it expires, a new one is minted.
func TestUpstreamAssertion(t *testing.T) {
	clock := newFakeClock()
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	next := &upstream{}
	handler := newHandler(t, assertionConfig(t, privatePEM(t, p256), clock), next)
	token := validToken(t)
	send := func(host string) string {
		req := request(token)
		req.Host = host
		req.Header.Set("X-Withauth-Assertion", "forged")
		if rec, _ := serve(handler, req); rec.Code != http.StatusOK {
			t.Fatalf("a valid token: status %d (%s); want 200", rec.Code, errorDescription(rec))
		}
		next.mu.Lock()
		defer next.mu.Unlock()
		values := next.header["X-Withauth-Assertion"]
		if len(values) != 1 || values[0] == "forged" {
			t.Fatalf("the upstream got X-Withauth-Assertion %q; want withauth's one alone", values)
		}
		return values[0]
	}
	first := send("backend.example")
	claims := verifiedAssertion(t, handler, first)
	iat, _ := claims["iat"].(json.Number).Int64()
	exp, _ := claims["exp"].(json.Number).Int64()
	if claims["iss"] != "https://gateway.example" || claims["aud"] != "backend.example" || exp-iat != 60 || iat != clock.Now().Unix() ||
		claims["sub"] != "6b3c1a2e-0f4d-4f4a-9d57-1c1f0e0d7a11" || claims["email"] != "ada@example.com" || claims["jti"] == "" {
		t.Errorf("the assertion's claims %v; want iss, aud backend.example, 60 s from now, a jti and the user's sub and email", claims)
	}
	if roles, _ := claims["roles"].([]interface{}); len(roles) != 2 {
		t.Errorf("the assertion's roles %v; want the token's", claims["roles"])
	}
	if again := send("backend.example"); again != first {
		t.Errorf("a second request within the assertion's life got another assertion; want the same (a cache hit)")
	}
	if other := send("other.example"); other == first || verifiedAssertion(t, handler, other)["aud"] != "other.example" {
		t.Errorf("another Host got the first Host's assertion; want one for its own Host")
	}
	clock.Advance(46 * time.Second)
	renewed := send("backend.example")
	if renewed == first || verifiedAssertion(t, handler, renewed)["jti"] == claims["jti"] {
		t.Errorf("46 s later (past three quarters of 60 s): the same assertion; want a new one")
	}
}

// TestUpstreamAssertionNeverOutlivesTheToken: a token expiring before the assertion's lifetime
// bounds it.
func TestUpstreamAssertionNeverOutlivesTheToken(t *testing.T) {
	clock := newFakeClock()
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	next := &upstream{}
	config := assertionConfig(t, privatePEM(t, ed), clock)
	config.UpstreamTokenLifetime = "10m"
	config.ClockSkew = "0s"
	handler := newHandler(t, config, next)
	token := tokenWith(map[string]interface{}{"iat": clock.Now().Unix(), "exp": clock.Now().Unix() + 30})(t)
	if rec, _ := serve(handler, request(token)); rec.Code != http.StatusOK {
		t.Fatalf("status %d; want 200", rec.Code)
	}
	claims := verifiedAssertion(t, handler, next.header.Get("X-Withauth-Assertion"))
	if exp, _ := claims["exp"].(json.Number).Int64(); exp != clock.Now().Unix()+30 {
		t.Errorf("an assertion for a token expiring in 30 s expires at %d; want %d", exp, clock.Now().Unix()+30)
	}
}

// TestUpstreamAssertionAcrossReplicasAndRotation: replicas given one key mint assertions one key
// set verifies; after a rotation, the previous key is still published.
func TestUpstreamAssertionAcrossReplicasAndRotation(t *testing.T) {
	clock := newFakeClock()
	old, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	current, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	nextA, nextB := &upstream{}, &upstream{}
	replicaA := newHandler(t, assertionConfig(t, privatePEM(t, old), clock), nextA)
	replicaB := handlerIn(newProcess(), nextB, asGiven(assertionConfig(t, privatePEM(t, old), clock)), "replica-b")
	serve(replicaA, request(validToken(t)))
	serve(replicaB, request(validToken(t)))
	fromB := nextB.header.Get("X-Withauth-Assertion")
	verifiedAssertion(t, replicaA, fromB) // replica B's assertion, replica A's key set

	rotated := assertionConfig(t, privatePEM(t, current), clock)
	rotated.UpstreamTokenPreviousKeys = []string{privatePEM(t, old)}
	afterRotation := handlerIn(newProcess(), &upstream{}, asGiven(rotated), "rotated")
	verifiedAssertion(t, afterRotation, fromB) // an assertion of the previous key still verifies
}

// TestUpstreamJWKSPath: the key set is answered without a token, to GET and HEAD only, and only
// at its path; a route without assertions strips a client's assertion header too.
func TestUpstreamJWKSPath(t *testing.T) {
	clock := newFakeClock()
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	next := &upstream{}
	handler := newHandler(t, assertionConfig(t, privatePEM(t, p256), clock), next)
	post := httptest.NewRecorder()
	handler.ServeHTTP(post, httptest.NewRequest(http.MethodPost, "http://backend.example/.well-known/withauth-jwks.json", nil))
	if post.Code != http.StatusMethodNotAllowed || next.calls.Load() != 0 {
		t.Errorf("POST to the JWKS path: %d, upstream called %d times; want 405 and no call", post.Code, next.calls.Load())
	}
	if rec, _ := serve(handler, request("")); rec.Code != http.StatusUnauthorized {
		t.Errorf("another path without a token: %d; want 401", rec.Code)
	}
	plain := &upstream{}
	other := newHandler(t, pemConfig(t), plain)
	req := request(validToken(t))
	req.Header.Set("X-Withauth-Assertion", "forged")
	serve(other, req)
	if got := plain.header.Get("X-Withauth-Assertion"); got != "" {
		t.Errorf("a route without assertions passed a client's X-Withauth-Assertion %q; want it stripped", got)
	}
}

// TestUpstreamAssertionRefusals: every upstreamToken setting is checked at load.
func TestUpstreamAssertionRefusals(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	key := privatePEM(t, p256)
	cases := []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"an issuer without a key", func(c *Config) { c.UpstreamTokenKey = ""; c.UpstreamJWKSPath = "" }, "apply with upstreamTokenKey"},
		{"a key without an issuer", func(c *Config) { c.UpstreamTokenIssuer = "" }, "upstreamTokenIssuer: is required with upstreamTokenKey"},
		{"an RSA key", func(c *Config) { c.UpstreamTokenKey = privatePEM(t, rsaKey) }, "upstreamTokenKey: the key is a *rsa.PrivateKey"},
		{"a public key", func(c *Config) { c.UpstreamTokenKey = c.PublicKey }, `upstreamTokenKey: PEM block of type "PUBLIC KEY"`},
		{"a lifetime of an hour", func(c *Config) { c.UpstreamTokenLifetime = "1h" }, "upstreamTokenLifetime: 1h0m0s is not between 10s and 10m"},
		{"exp copied", func(c *Config) { c.UpstreamTokenClaims = []string{"sub", "exp"} }, `upstreamTokenClaims: "exp" is set by withauth itself`},
		{"a forwarded header", func(c *Config) { c.UpstreamTokenHeader = "x-user-id" }, `upstreamTokenHeader: "X-User-Id" is also a forwarded header`},
		{"Authorization", func(c *Config) { c.UpstreamTokenHeader = "Authorization" }, `upstreamTokenHeader: "Authorization" cannot carry the assertion`},
		{"a JWKS path without /", func(c *Config) { c.UpstreamJWKSPath = "jwks.json" }, `upstreamJwksPath: "jwks.json" is not a path`},
		{"a previous key of another kind", func(c *Config) { c.UpstreamTokenPreviousKeys = []string{privatePEM(t, rsaKey)} }, "upstreamTokenPreviousKeys[0]:"},
	}
	for _, tc := range cases {
		config := assertionConfig(t, key, newFakeClock())
		tc.change(config)
		if line := newError(t, config); !strings.Contains(line, tc.want) || strings.Contains(line, "PRIVATE KEY-----\n") {
			t.Errorf("%s: New logged %q; want %q, and never the key", tc.name, line, tc.want)
		}
	}
}

// TestUpstreamTokenKeyFile: the key may be a file, as every secret.
func TestUpstreamTokenKeyFile(t *testing.T) {
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	config := assertionConfig(t, "", newFakeClock())
	config.UpstreamTokenKeyFile = writeSecret(t, "upstream.key", privatePEM(t, ed))
	next := &upstream{}
	handler := newHandler(t, config, next)
	serve(handler, request(validToken(t)))
	header, _, _ := strings.Cut(next.header.Get("X-Withauth-Assertion"), ".")
	decoded, _ := base64.RawURLEncoding.DecodeString(header)
	if !strings.Contains(string(decoded), `"alg":"EdDSA"`) {
		t.Errorf("with upstreamTokenKeyFile: the assertion's header %s; want EdDSA, the file's key", decoded)
	}
}

// TestUpstreamRefusalsAreCached: on a route signing assertions, a refused token's grant is cached
// like any other (only admitted grants wait for their assertion), so a repeated refused token is
// not verified again.
func TestUpstreamRefusalsAreCached(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	config := assertionConfig(t, privatePEM(t, p256), newFakeClock())
	config.Roles = []string{"owner"}
	handler := newHandler(t, config, &upstream{})
	token := validToken(t)
	if rec, _ := serve(handler, request(token)); rec.Code != http.StatusForbidden {
		t.Fatalf("a token without the role: %d; want 403", rec.Code)
	}
	m := handler.(*jwksRoute).next.(*Middleware)
	if g := cachedGrant(m.caches[fromAuthorization], "Bearer "+token); g == nil || g.allowed {
		t.Errorf("after a 403: cached grant %+v; want the refusing grant cached", g)
	}
}
