package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
)

// TestEveryAlgorithmThroughTraefik: tokens of every supported algorithm, minted by two
// independent libraries (golang-jwt v5 and go-jose v4, not withauth's own test signer), against
// a JWKS that go-jose marshals, through a real Traefik.
func TestEveryAlgorithmThroughTraefik(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]crypto.Signer{"EdDSA": nil}
	for _, alg := range []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"} {
		keys[alg] = rsaKey
	}
	for alg, curve := range map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()} {
		if keys[alg], err = ecdsa.GenerateKey(curve, rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	if _, keys["EdDSA"], err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	for alg, key := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: key.Public(), KeyID: alg, Algorithm: alg, Use: "sig"})
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	keyServer := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write(jwks)
	}))
	t.Cleanup(keyServer.Close)

	s := newStack(t)
	all := []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
	routes := []harness.Route{
		{Name: "all", Path: "/all", Auth: map[string]any{"algorithms": all}},
		{Name: "rsonly", Path: "/rs-only"}, // the default: RS256
	}
	tr := startTraefik(t, harness.Options{Dynamic: map[string]string{
		"algorithms.yml": harness.FileConfig(routes, map[string]any{"jwksUrl": keyServer.URL + "/jwks.json", "issuer": "https://idp.example"}, s.backendURL),
	}})
	waitReady(t, tr, "/all", harness.RouterNames(routes)...)

	claims := map[string]any{"iss": "https://idp.example", "sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "roles": []string{"admin"}}
	for _, alg := range all {
		method := jwt.GetSigningMethod(alg)
		token := jwt.NewWithClaims(method, jwt.MapClaims(claims))
		token.Header["kid"] = alg
		signed, err := token.SignedString(keys[alg])
		if err != nil {
			t.Fatalf("golang-jwt %s: %v", alg, err)
		}
		check(t, tr.URL, harness.Case{Path: "/all", Who: "golang-jwt " + alg, Raw: signed, Status: http.StatusOK, Seen: map[string]string{"X-User-Id": "alice"}})
		want, code := http.StatusUnauthorized, "invalid_token"
		if alg == "RS256" {
			want, code = http.StatusOK, ""
		}
		check(t, tr.URL, harness.Case{Path: "/rs-only", Who: "golang-jwt " + alg + " on an RS256-only route", Raw: signed, Status: want, Error: code})
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"PS384", "ES512", "EdDSA"} {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: keys[alg]},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", alg))
		if err != nil {
			t.Fatal(err)
		}
		object, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		compact, err := object.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		check(t, tr.URL, harness.Case{Path: "/all", Who: "go-jose " + alg, Raw: compact, Status: http.StatusOK})
	}
}
