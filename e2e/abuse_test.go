package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/internal/backend"
	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
)

// clientFrom is an HTTP client whose connections leave from address (another loopback address
// is another client to Traefik).
func clientFrom(address string) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(address)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 64}}
}

// TestIntrospectionFloodInTraefik: while one address (127.0.0.2) sends made-up opaque tokens as
// fast as 32 connections allow, every new active token from another address (127.0.0.3) is
// admitted; the flood gets 401 within its share and 429 past it, never 503 nor 200, and no
// made-up token reaches the upstream.
func TestIntrospectionFloodInTraefik(t *testing.T) {
	s := newStack(t)
	var calls atomic.Int64
	endpoint := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		calls.Add(1)
		time.Sleep(10 * time.Millisecond) // an identity provider's answer takes a while
		token := req.FormValue("token")
		answer := map[string]any{"active": false}
		if strings.HasPrefix(token, "active-") {
			answer = map[string]any{"active": true, "sub": token, "iss": s.idpURL, "token_type": "Bearer", "exp": time.Now().Add(time.Hour).Unix()}
		}
		_ = json.NewEncoder(rw).Encode(answer)
	}))
	t.Cleanup(endpoint.Close)
	var madeUpSeen atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		if strings.Contains(req.Header.Get("Authorization"), "made-up") {
			madeUpSeen.Add(1)
		}
		backend.Handler("backend").ServeHTTP(rw, req)
	}))
	t.Cleanup(upstream.Close)
	routes := []harness.Route{
		{Name: "opaque", Path: "/opaque", Auth: map[string]any{"introspectionUrl": endpoint.URL}},
		{Name: "catchall", Path: "/", Bare: true},
	}
	tr := startTraefik(t, harness.Options{LogLevel: "INFO", Dynamic: map[string]string{"opaque.yml": harness.FileConfig(routes, s.common(), upstream.URL)}})
	waitReady(t, tr, "/opaque", harness.RouterNames(routes)...)

	ctx, stop := context.WithCancel(context.Background())
	flood := clientFrom("127.0.0.2")
	var mu sync.Mutex
	floodCodes := map[int]int{}
	var wg sync.WaitGroup
	var sent atomic.Int64
	for worker := 0; worker < 32; worker++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tr.URL+"/opaque/orders", nil)
				req.Header.Set("Authorization", fmt.Sprintf("Bearer made-up-%d-%d", worker, sent.Add(1)))
				resp, err := flood.Do(req)
				if err != nil {
					continue
				}
				resp.Body.Close()
				mu.Lock()
				floodCodes[resp.StatusCode]++
				mu.Unlock()
			}
		}(worker)
	}
	time.Sleep(500 * time.Millisecond) // the flood is under way
	victim := clientFrom("127.0.0.3")
	victimCodes := map[int]int{}
	var slowest time.Duration
	for i := 0; i < 20; i++ {
		req, _ := http.NewRequest(http.MethodGet, tr.URL+"/opaque/orders", nil)
		req.Header.Set("Authorization", fmt.Sprint("Bearer active-", i))
		start := time.Now()
		resp, err := victim.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if d := time.Since(start); d > slowest {
			slowest = d
		}
		victimCodes[resp.StatusCode]++
		time.Sleep(150 * time.Millisecond)
	}
	stop()
	wg.Wait()
	// Idle keep-alive connections would hold Traefik's graceful shutdown.
	flood.CloseIdleConnections()
	victim.CloseIdleConnections()
	t.Logf("flood from 127.0.0.2: %d requests, answers %v; 127.0.0.3: answers %v, slowest %v; %d introspection calls",
		sent.Load(), floodCodes, victimCodes, slowest.Round(time.Millisecond), calls.Load())
	if victimCodes[http.StatusOK] != 20 {
		t.Errorf("20 new active tokens from 127.0.0.3 during the flood: answers %v; want 20 admitted", victimCodes)
	}
	for code, n := range floodCodes {
		if code != http.StatusUnauthorized && code != http.StatusTooManyRequests {
			t.Errorf("the flood got %d answers %d; want only 401 (its share, introspected) and 429 (past it)", n, code)
		}
	}
	if floodCodes[http.StatusTooManyRequests] == 0 {
		t.Errorf("the flood got no 429 (answers %v); want it held to its share", floodCodes)
	}
	if madeUpSeen.Load() != 0 {
		t.Errorf("%d made-up tokens reached the upstream; want none", madeUpSeen.Load())
	}
}
