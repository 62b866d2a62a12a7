package withauth

import (
	"context"
	"crypto/rsa"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Panics: New turns one into an error, ServeHTTP into a 500 for that request alone, and the
// fetch goroutine into a failed fetch. None may reach Traefik, where a panic outside a
// request's goroutine stops the process.

// TestNewRecoversFromAPanic: no configuration is known to make New panic (TestNewRejectsBad-
// Configuration and the fuzzers look for one), so the panic is injected through the shared
// key sources: the entry of New's Frontegg key source is replaced by a value of another type,
// which makes sharedRemoteKeys' type assertion panic on the next call.
func TestNewRecoversFromAPanic(t *testing.T) {
	config := CreateConfig()
	config.ClientID = "panic-client"
	config.APIKey = "panic-key"
	config.APIGatewayURL = "http://127.0.0.1:9"
	newHandler(t, config, &upstream{})
	var id interface{}
	remoteKeySets.Range(func(key, value interface{}) bool {
		if keys, ok := value.(*remoteKeys); ok {
			if api, ok := keys.fetcher.(*fronteggAPI); ok && api.clientID == "panic-client" {
				id = key
				return false
			}
		}
		return true
	})
	if id == nil {
		t.Fatalf("New made no shared Frontegg key source for client panic-client")
	}
	original, _ := remoteKeySets.Load(id)
	remoteKeySets.Store(id, "not a key source")
	t.Cleanup(func() { remoteKeySets.Store(id, original) })

	handler, err := New(context.Background(), &upstream{}, config, "route")
	if err == nil || handler != nil {
		t.Fatalf("New with a poisoned shared key source = %v, %v; want no handler and an error", handler, err)
	}
	if !strings.HasPrefix(err.Error(), "withauth route: invalid configuration: ") {
		t.Fatalf("New error = %q; want it to start with \"withauth route: invalid configuration: \"", err)
	}
	remoteKeySets.Store(id, original)
	if _, err := New(context.Background(), &upstream{}, config, "route"); err != nil {
		t.Fatalf("New after the poisoned entry is gone: %v; want a handler", err)
	}
}

func TestNewWithoutConfiguration(t *testing.T) {
	handler, err := New(context.Background(), &upstream{}, nil, "route")
	if err == nil || handler != nil || !strings.Contains(err.Error(), "no key source") {
		t.Fatalf("New with a nil configuration = %v, %v; want the defaults' error, no key source", handler, err)
	}
}

// flakyFetcher panics, after a delay, while panicWith is set, and returns set otherwise.
type flakyFetcher struct {
	mu        sync.Mutex
	panicWith string // "", "string", "error" or "runtime error"
	delay     time.Duration
	set       *keySet
	calls     int
}

func (f *flakyFetcher) fetch(ctx context.Context) (*keySet, error) {
	f.mu.Lock()
	f.calls++
	mode, delay, set, calls := f.panicWith, f.delay, f.set, f.calls
	f.mu.Unlock()
	time.Sleep(delay)
	switch mode {
	case "string":
		panic("injected panic in fetch")
	case "error":
		panic(errors.New("injected error value"))
	case "runtime error":
		var none []int
		return nil, errors.New(string(rune(none[calls]))) // index out of range
	}
	return set, nil
}

func (f *flakyFetcher) describe() string { return "a test fetcher that panics" }

func (f *flakyFetcher) change(panicWith string, set *keySet) {
	f.mu.Lock()
	f.panicWith = panicWith // one at a time: Yaegi loses values in tuple assignments to fields
	f.set = set
	f.mu.Unlock()
}

func (f *flakyFetcher) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func TestFetchPanicIsRecovered(t *testing.T) {
	good, err := parseJWKS(readFixture(t, "keys/jwks.json"))
	if err != nil {
		t.Fatalf("parseJWKS(jwks.json): %v", err)
	}
	valid := validToken(t)
	unknownKid := signRS256(t, privateKey(t, "key-3"), rs256Header("key-3"), userClaims(t, nil))
	for _, kind := range []string{"string", "error", "runtime error"} {
		kind := kind
		t.Run("panic with a "+kind, func(t *testing.T) {
			fetcher := &flakyFetcher{panicWith: kind, delay: 50 * time.Millisecond}
			keys := newRemoteKeys(fetcher, time.Hour, 100*time.Millisecond, time.Second)
			handler := newHandler(t, pemConfig(t), &countingUpstream{}).(*Middleware)
			handler.keys = keys

			// The panic fails the fetch that every waiting request shares: 503, promptly.
			for _, a := range concurrently(handler, repeated(valid, 20)) {
				if a.status != http.StatusServiceUnavailable || a.elapsed > time.Second {
					t.Fatalf("while the fetch panics: status %d after %v (%s); want 503 well within httpTimeout (1s)", a.status, a.elapsed, a.detail)
				}
			}
			if got := fetcher.count(); got != 1 {
				t.Fatalf("the fetcher ran %d times for 20 concurrent requests; want 1", got)
			}

			// The next fetch works: the same middleware recovers.
			fetcher.change("", good)
			time.Sleep(150 * time.Millisecond)
			if rec, _ := serve(handler, request(valid)); rec.Code != http.StatusOK {
				t.Fatalf("after the fetcher recovered: status %d (%s); want 200", rec.Code, errorDescription(rec))
			}

			// A panic in a later refetch keeps the keys at hand.
			fetcher.change(kind, nil)
			time.Sleep(150 * time.Millisecond)
			answers := concurrently(handler, append(repeated(valid, 5), repeated(unknownKid, 5)...))
			for i, a := range answers {
				want := http.StatusOK
				if i >= 5 {
					want = http.StatusUnauthorized
				}
				if a.status != want {
					t.Fatalf("request %d while a refetch panics: status %d (%s); want %d from the last good keys", i, a.status, a.detail, want)
				}
			}
		})
	}
}

// kidPanics is a key source that panics for one kid and asks another source for the rest.
type kidPanics struct {
	kid  string
	next keySource
}

func (k *kidPanics) lookup(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if kid == k.kid {
		panic("injected panic for kid " + kid)
	}
	return k.next.lookup(ctx, kid)
}

func (k *kidPanics) epoch() *keyEpoch { return k.next.epoch() }

func (k *kidPanics) retryAfter() time.Duration { return k.next.retryAfter() }

// TestPanicsAmidConcurrentRequests: requests whose verification panics get 500, the others
// running at the same time are unaffected.
func TestPanicsAmidConcurrentRequests(t *testing.T) {
	next := &countingUpstream{}
	handler := newHandler(t, pemConfig(t), next).(*Middleware)
	handler.keys = &kidPanics{kid: "boom", next: handler.keys}
	boom := signRS256(t, privateKey(t, "key-1"), rs256Header("boom"), userClaims(t, nil))
	valid := validToken(t)
	var tokens []string
	for i := 0; i < 50; i++ {
		if i%5 == 0 {
			tokens = append(tokens, boom)
		} else {
			tokens = append(tokens, valid)
		}
	}
	for i, a := range concurrently(handler, tokens) {
		want := http.StatusOK
		if i%5 == 0 {
			want = http.StatusInternalServerError
		}
		if a.status != want {
			t.Fatalf("request %d: status %d (%s); want %d", i, a.status, a.detail, want)
		}
	}
	if got := next.calls.Load(); got != 40 {
		t.Fatalf("the upstream was reached %d times; want 40 (never for a request that panicked)", got)
	}
}

// TestFetcherWithoutKeySetIsAFailedFetch: a fetcher that returns neither keys nor an error
// (a bug in a key source) must count as a failed fetch. Today finishFetch passes the nil set
// to keepKeyIdentity, which dereferences it outside runFetch's recover: the panic ends the
// process (Traefik).
func TestFetcherWithoutKeySetIsAFailedFetch(t *testing.T) {
	good, err := parseJWKS(readFixture(t, "keys/jwks.json"))
	if err != nil {
		t.Fatalf("parseJWKS(jwks.json): %v", err)
	}
	fetcher := &flakyFetcher{set: good}
	keys := newRemoteKeys(fetcher, time.Hour, 50*time.Millisecond, time.Second)
	handler := newHandler(t, pemConfig(t), &countingUpstream{}).(*Middleware)
	handler.keys = keys
	valid := validToken(t)
	if rec, _ := serve(handler, request(valid)); rec.Code != http.StatusOK {
		t.Fatalf("with keys: status %d; want 200", rec.Code)
	}
	fetcher.change("", nil)
	time.Sleep(60 * time.Millisecond)
	unknownKid := signRS256(t, privateKey(t, "key-3"), rs256Header("key-3"), userClaims(t, nil))
	if rec, _ := serve(handler, request(unknownKid)); rec.Code != http.StatusUnauthorized {
		t.Fatalf("unknown kid while the fetcher returns no key set: status %d; want 401", rec.Code)
	}
	if rec, _ := serve(handler, request(valid)); rec.Code != http.StatusOK {
		t.Fatalf("after a fetch without a key set: status %d; want 200 from the last good keys", rec.Code)
	}
}
