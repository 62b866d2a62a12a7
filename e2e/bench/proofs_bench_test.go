package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/seed0ec25cca/withauth/e2e/bench/internal/tokens"
	"github.com/seed0ec25cca/withauth/e2e/internal/dpopkey"
	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
	"github.com/seed0ec25cca/withauth/e2e/internal/redis"
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
	benchmarkDPoP(b, "process")
}

// BenchmarkYaegiWithauthDPoPRedis is BenchmarkYaegiWithauthDPoP with replayStore naming a real
// redis-server on 127.0.0.1 (make redis installs it; skipped without one): every proof is also
// recorded in Redis, as replicas share them.
func BenchmarkYaegiWithauthDPoPRedis(b *testing.B) {
	b.StopTimer()
	server := sharedRedis(b)
	b.StartTimer()
	benchmarkDPoP(b, server.URL())
}

var (
	redisOnce   sync.Once
	redisServer *redis.Server
	redisErr    error
)

// sharedRedis is one redis-server for the benchmark binary, stopped when the process ends.
func sharedRedis(b *testing.B) *redis.Server {
	redisOnce.Do(func() {
		port, err := harness.FreePort()
		if err != nil {
			redisErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		redisServer, redisErr = redis.Start(ctx, port, "bench-pw")
	})
	if redisErr != nil {
		b.Skipf("no redis-server: %v", redisErr)
	}
	return redisServer
}

// BenchmarkES256Verify is a compiled ES256 verification of a DPoP proof (SHA-256 of its signing
// input, ecdsa.Verify on P-256): the yardstick of BenchmarkYaegiWithauthDPoP.
func BenchmarkES256Verify(b *testing.B) {
	key, client := es256Client(b)
	proof, err := client.Proof(http.MethodGet, benchURL, "", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	last := strings.LastIndexByte(proof, '.')
	signature, err := base64.RawURLEncoding.DecodeString(proof[last+1:])
	if err != nil || len(signature) != 64 {
		b.Fatalf("the proof's signature: %d bytes, %v; want 64", len(signature), err)
	}
	r, s := new(big.Int).SetBytes(signature[:32]), new(big.Int).SetBytes(signature[32:])
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sum := sha256.Sum256([]byte(proof[:last]))
		if !ecdsa.Verify(&key.PublicKey, sum[:], r, s) {
			b.Fatal("the proof's signature does not verify")
		}
	}
}

// es256Client is a DPoP client with a fresh P-256 key.
func es256Client(b *testing.B) (*ecdsa.PrivateKey, *dpopkey.Key) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	client, err := dpopkey.New(jose.ES256, key)
	if err != nil {
		b.Fatal(err)
	}
	return key, client
}

func benchmarkDPoP(b *testing.B, replayStore string) {
	_, client := es256Client(b)
	claims := tokens.Claims(0, time.Now(), time.Hour)
	claims["cnf"] = map[string]any{"jkt": client.JKT}
	token, err := getMinter(b).Sign(claims)
	if err != nil {
		b.Fatal(err)
	}
	proofs := make([]string, b.N+1)
	for i := range proofs {
		if proofs[i], err = client.Proof(http.MethodGet, benchURL, token, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	h := newWithauthWith(b, fmt.Sprint("dpop-bench-", b.N), map[string]any{"dpop": "required", "dpopOrigins": "http://bench.local", "replayStore": replayStore})
	serveEach(b, h, func(i int, header http.Header) {
		header["Authorization"] = []string{"DPoP " + token}
		header["Dpop"] = []string{proofs[i]}
	}, http.StatusOK)
}

// BenchmarkYaegiWithauthHitAssertion is BenchmarkYaegiWithauthHit on a route that also sends the
// upstream a signed assertion (upstreamTokenKey): minted once, then reused with the grant.
func BenchmarkYaegiWithauthHitAssertion(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	h := newWithauthWith(b, "assertion-bench", map[string]any{"upstreamTokenKey": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"upstreamTokenIssuer": "https://gateway.bench"})
	serve(b, h, always("Bearer "+oneToken(b)), http.StatusOK)
}

// BenchmarkYaegiWithauthMissConditions is BenchmarkYaegiWithauthMiss on a route with a
// claimConditions of five terms, all judged (the last term decides).
func BenchmarkYaegiWithauthMissConditions(b *testing.B) {
	h := newWithauthWith(b, "conditions-bench", map[string]any{"cacheSize": "0", "claimConditions": fiveTerms})
	serve(b, h, always("Bearer "+oneToken(b)), http.StatusOK)
}

// fiveTerms is a condition of five terms over the benchmark token's claims, every term judged.
const fiveTerms = `!Equals("type", "tenantApiToken") && Prefix("email", "ada.") && Contains("roles", "admin") && OneOf("metadata.plan", "pro", "enterprise") && !Equals("suspended", "true")`
