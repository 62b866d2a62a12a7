package bench

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/seed0ec25cca/withauth/e2e/bench/internal/tokens"
)

// newWithauthWith is newWithauth with more settings.
func newWithauthWith(b *testing.B, name string, settings map[string]any) http.Handler {
	m := getMinter(b)
	p := loadPlugin(b, withauthModule, withauthDir)
	config := withauthConfig(m, "")
	for key, value := range settings {
		config[key] = value
	}
	h, err := p.New(context.Background(), okNext, config, name)
	if err != nil {
		b.Fatalf("withauth.New: %v", err)
	}
	return h
}

// BenchmarkYaegiWithauthIntrospectionHit repeats one opaque token whose introspection answer
// (RFC 7662) is cached: the endpoint is asked once, every later request is a hit.
func BenchmarkYaegiWithauthIntrospectionHit(b *testing.B) {
	var calls int
	endpoint := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		calls++
		_ = json.NewEncoder(rw).Encode(map[string]any{"active": true, "sub": "service-7", "scope": "read write",
			"iss": tokens.Issuer, "aud": tokens.Audience, "roles": []string{tokens.Role}, "permissions": []string{tokens.Permission},
			"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()})
	}))
	defer endpoint.Close()
	h := newWithauthWith(b, "introspection-bench", map[string]any{"introspectionUrl": endpoint.URL, "introspectionCacheDuration": "1h"})
	serve(b, h, always("Bearer ory_at_opaque-bench-token.signature"), http.StatusOK)
	if calls != 1 {
		b.Fatalf("the endpoint was asked %d times; want once (a cached answer)", calls)
	}
}

// BenchmarkYaegiWithauthDPoP sends one DPoP-bound token (cnf.jkt, its grant cached) with a
// fresh ES256 proof on every request, signed by go-jose before the timed loop: what the proof
// check costs beside a cache hit.
func BenchmarkYaegiWithauthDPoP(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		b.Fatal(err)
	}
	public := jose.JSONWebKey{Key: key.Public()}
	thumbprint, err := public.Thumbprint(crypto.SHA256)
	if err != nil {
		b.Fatal(err)
	}
	m := getMinter(b)
	claims := tokens.Claims(0, time.Now(), time.Hour)
	claims["cnf"] = map[string]any{"jkt": base64.RawURLEncoding.EncodeToString(thumbprint)}
	token, err := m.Sign(claims)
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256([]byte(token))
	ath := base64.RawURLEncoding.EncodeToString(sum[:])
	proofs := make([]string, b.N+1)
	for i := range proofs {
		payload, _ := json.Marshal(map[string]any{"jti": fmt.Sprint("bench-", b.N, "-", i), "htm": http.MethodGet, "htu": benchURL, "iat": time.Now().Unix(), "ath": ath})
		signed, err := signer.Sign(payload)
		if err != nil {
			b.Fatal(err)
		}
		if proofs[i], err = signed.CompactSerialize(); err != nil {
			b.Fatal(err)
		}
	}
	h := newWithauthWith(b, fmt.Sprint("dpop-bench-", b.N), map[string]any{"dpop": "required"})
	serveEach(b, h, func(i int, header http.Header) {
		header["Authorization"] = []string{"DPoP " + token}
		header["Dpop"] = []string{proofs[i]}
	}, http.StatusOK)
}
