package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
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

func benchmarkDPoP(b *testing.B, replayStore string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	client, err := dpopkey.New(jose.ES256, key)
	if err != nil {
		b.Fatal(err)
	}
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
