package withauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// Key endpoint faults: a JWKS server that misbehaves on command. Whatever it does, no request
// waits much longer than httpTimeout, concurrent requests share one fetch, the last good keys
// are kept, 503 is answered only while no key was ever obtained, and the middleware recovers
// by itself once the endpoint does. TestKeyEndpointFaults runs every fault through that
// whole sequence; the tests before it cover one behaviour each.

func TestKeysNeverObtainedAnswer503(t *testing.T) {
	server := newKeyServer(t)
	server.set(http.StatusInternalServerError, []byte("down"))
	config := jwksConfig(t, server)
	config.MinRefreshInterval = "1m"
	config.RefreshInterval = "10m"
	handler := newHandler(t, config, &upstream{})
	for i := 0; i < 3; i++ {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, request(validToken(t)))
		checkAnswer(t, rec, &upstream{}, tokenCase{wantStatus: 503, wantError: "temporarily_unavailable", wantErr: errKeysUnavailable})
		if got := rec.Header().Get("Retry-After"); got == "" || got == "0" {
			t.Fatalf("Retry-After = %q; want a positive number of seconds", got)
		}
	}
	if got := server.requests.Load(); got != 1 {
		t.Fatalf("the failing endpoint was asked %d times within minRefreshInterval; want 1", got)
	}
	// Without a token it is still a plain 401: no keys are needed to say so.
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, request(""))
	if rec.Code != 401 {
		t.Fatalf("no token while keys are unavailable: status %d; want 401", rec.Code)
	}
}

func TestKeyRotationAndOutage(t *testing.T) {
	server := newKeyServer(t)
	onlyKey2 := strings.Replace(string(readFixture(t, "keys/jwks.json")), `"kid": "key-1"`, `"kid": "retired"`, 1)
	config := jwksConfig(t, server)
	handler := newHandler(t, config, &upstream{})
	status := func(token string) int {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, request(token))
		return rec.Code
	}
	token1 := validToken(t)
	if got := status(token1); got != 200 {
		t.Fatalf("key-1 token: status %d; want 200", got)
	}
	// key-1 leaves the set: a refetch (for an unknown kid) drops the cached token too.
	server.set(http.StatusOK, []byte(onlyKey2))
	token2 := signRS256(t, privateKey(t, "key-2"), rs256Header("key-2"), userClaims(t, nil))
	if got := status(signRS256(t, privateKey(t, "rogue"), rs256Header("new-kid"), userClaims(t, nil))); got != 401 {
		t.Fatalf("unknown kid after rotation: status %d; want 401", got)
	}
	if got := status(token1); got != 401 {
		t.Fatalf("cached token of a key removed from the set: status %d; want 401", got)
	}
	// The endpoint goes down: the last good keys keep verifying.
	server.set(http.StatusBadGateway, nil)
	if got := status(token2); got != 200 {
		t.Fatalf("key-2 token while the endpoint is down: status %d; want 200 from the last good keys", got)
	}
	before := server.requests.Load()
	if got := status(signRS256(t, privateKey(t, "rogue"), rs256Header("other"), userClaims(t, nil))); got != 401 {
		t.Fatalf("unknown kid while the endpoint is down: status %d; want 401", got)
	}
	if server.requests.Load() != before+1 {
		t.Fatalf("unknown kid made %d fetches; want exactly one refetch", server.requests.Load()-before)
	}
}

func TestUnknownKidRefetchIsThrottled(t *testing.T) {
	server := newKeyServer(t)
	config := jwksConfig(t, server)
	config.MinRefreshInterval = "1h"
	config.RefreshInterval = "2h"
	handler := newHandler(t, config, &upstream{})
	for i := 0; i < 20; i++ {
		handler.ServeHTTP(httptest.NewRecorder(), request(signRS256(t, privateKey(t, "rogue"), rs256Header("unknown"), userClaims(t, nil))))
	}
	if got := server.requests.Load(); got != 1 {
		t.Fatalf("20 tokens with an unknown kid caused %d fetches; want 1 (minRefreshInterval 1h)", got)
	}
}

func TestOneFetchSharedByRoutersAndRequests(t *testing.T) {
	server := newKeyServer(t)
	release := make(chan struct{})
	slow := server.Config.Handler
	server.Config.Handler = http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		<-release
		slow.ServeHTTP(rw, req)
	})
	config := jwksConfig(t, server)
	token := validToken(t)
	var wg sync.WaitGroup
	codes := make(chan int, 40)
	for i := 0; i < 40; i++ {
		// A new middleware instance for every few requests, as for several routers.
		handler := newHandler(t, config, &upstream{})
		wg.Add(1)
		go func(h http.Handler) {
			defer wg.Done()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, request(token))
			codes <- rec.Code
		}(handler)
	}
	// Real time, not a clock: the 40 requests must reach the shared fetch before it ends.
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != 200 {
			t.Fatalf("a request waiting for the shared fetch got %d; want 200", code)
		}
	}
	if got := server.requests.Load(); got != 1 {
		t.Fatalf("40 concurrent requests on 40 instances made %d fetches; want 1", got)
	}
}

func TestRefreshIntervalRefetchesInBackground(t *testing.T) {
	server := newKeyServer(t)
	config := jwksConfig(t, server)
	config.RefreshInterval = "50ms"
	clock := newFakeClock()
	config.Now = clock.Now
	handler := newHandler(t, config, &upstream{})
	token := validToken(t)
	handler.ServeHTTP(httptest.NewRecorder(), request(token))
	clock.Advance(60 * time.Millisecond)
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, request(token))
	if rec.Code != 200 {
		t.Fatalf("request with stale keys: status %d; want 200 with the keys at hand", rec.Code)
	}
	settleFetch(handler)
	if got := server.requests.Load(); got != 2 {
		t.Fatalf("keys older than refreshInterval were fetched %d times in all; want a second fetch", got)
	}
}

// TestRefreshIntervalShorterThanMinRefreshInterval: the scheduled refresh follows
// refreshInterval; minRefreshInterval only throttles the fetches unknown kids cause.
func TestRefreshIntervalShorterThanMinRefreshInterval(t *testing.T) {
	server := newKeyServer(t)
	config := jwksConfig(t, server)
	config.RefreshInterval = "100ms"
	config.MinRefreshInterval = "1h"
	clock := newFakeClock()
	config.Now = clock.Now
	handler := newHandler(t, config, &upstream{})
	token := validToken(t)
	if rec, _ := serve(handler, request(token)); rec.Code != http.StatusOK {
		t.Fatalf("first request: status %d; want 200", rec.Code)
	}
	clock.Advance(150 * time.Millisecond)
	serve(handler, request(token))
	settleFetch(handler)
	if got := server.requests.Load(); got != 2 {
		t.Fatalf("the JWKS was fetched %d times after refreshInterval (100ms) passed; want 2 (minRefreshInterval 1h must not delay the scheduled refresh)", got)
	}
}

func TestSlowKeyEndpointIsBoundedByHTTPTimeout(t *testing.T) {
	server := newKeyServer(t)
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	server.Config.Handler = http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) { <-block })
	config := jwksConfig(t, server)
	config.HTTPTimeout = "200ms"
	handler := newHandler(t, config, &upstream{})
	start := time.Now()
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, request(validToken(t)))
	if elapsed := time.Since(start); rec.Code != 503 || elapsed > 2*time.Second {
		t.Fatalf("hanging key endpoint: status %d after %v; want 503 soon after httpTimeout (200ms)", rec.Code, elapsed)
	}
}

const (
	faultTimeout    = 300 * time.Millisecond
	faultMinRefresh = 400 * time.Millisecond
	// faultMargin is what a request may take beyond httpTimeout: scheduling under -race and Yaegi.
	faultMargin = 1500 * time.Millisecond
	// bigBodyBytes is the size of the body of the "50 MB body" fault.
	bigBodyBytes = 50 << 20
)

// unusableJWKS holds only keys withauth must not use: EC on an unsupported curve, oct, an
// encryption key, an RSA key for an encryption algorithm, a key too short.
var unusableJWKS = []byte(`{"keys":[
 {"kty":"EC","kid":"ec-key","alg":"ES256K","crv":"secp256k1","x":"pP2p0utYhJXRmhYqLHe9nHqKD5f6VZFJEqlKSe5gs5Y","y":"wPoPEQmvuzoEeBWWaQxG0ZvJPecGmgnr3sCNaCsgu1k"},
 {"kty":"oct","kid":"key-1","alg":"HS256","k":"c2VjcmV0"},
 {"kty":"RSA","kid":"key-1","use":"enc","e":"AQAB","n":"wZo6yeaoA7ytM9u6TnhqX6egcZEgTAN9BvG0YlgfciN2AUjq-a3EILwCauC-Qy73KT6XuoP05VdBZBykK7L_7HHTn4FTTrYKKg4Q1etiSUliKJmSbWO3Cqz6blKx9txRdDbvzrYNaTNSyRvIxbEEgWBd-dD0cjOfizVMd4hN4pLjyn7nJ-ZJ9SkMgWCsEMUoc8NJkCI72zTnTAf0-zyi3vD9oSlTrR5ahiwSt7rjganBvcZO_kxhC08sJsdoaGLaOj5EE_rjXMuRZDwCJKlq97cYbd02N3LV4r71CNmuzKd9rSmz5hx0s5gKE8FOQLMHVwT0I0js3OOU7laQzu6WkQ"},
 {"kty":"RSA","kid":"key-1","alg":"RSA-OAEP","e":"AQAB","n":"wZo6yeaoA7ytM9u6TnhqX6egcZEgTAN9BvG0YlgfciN2AUjq-a3EILwCauC-Qy73KT6XuoP05VdBZBykK7L_7HHTn4FTTrYKKg4Q1etiSUliKJmSbWO3Cqz6blKx9txRdDbvzrYNaTNSyRvIxbEEgWBd-dD0cjOfizVMd4hN4pLjyn7nJ-ZJ9SkMgWCsEMUoc8NJkCI72zTnTAf0-zyi3vD9oSlTrR5ahiwSt7rjganBvcZO_kxhC08sJsdoaGLaOj5EE_rjXMuRZDwCJKlq97cYbd02N3LV4r71CNmuzKd9rSmz5hx0s5gKE8FOQLMHVwT0I0js3OOU7laQzu6WkQ"},
 {"kty":"RSA","kid":"key-1","e":"AQAB","n":"AQAB"}
]}`)

// faultAnswer is one response as the fault tests judge it.
type faultAnswer struct {
	token      string
	status     int
	elapsed    time.Duration
	retryAfter string
	detail     string
}

// concurrently sends one request per token at once and returns the answers in token order.
func concurrently(handler http.Handler, tokens []string) []faultAnswer {
	answers := make([]faultAnswer, len(tokens))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range tokens {
		i := i
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rec, elapsed := serve(handler, request(tokens[i]))
			answers[i] = faultAnswer{token: tokens[i], status: rec.Code, elapsed: elapsed, retryAfter: rec.Header().Get("Retry-After"), detail: errorDescription(rec)}
		}()
	}
	close(start)
	wg.Wait()
	return answers
}

func repeated(token string, n int) []string {
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = token
	}
	return tokens
}

func TestKeyEndpointFaults(t *testing.T) {
	faults := []string{"500", "404", "slow beyond httpTimeout", "a body that never ends", "a body that trickles", "a 50 MB body",
		"invalid JSON", "HTML", "a JWKS with no usable key", "untrusted TLS certificate"}
	valid := validToken(t)
	key3Token := signRS256(t, privateKey(t, "key-3"), rs256Header("key-3"), userClaims(t, nil))
	withKey3 := jwksOf(t, jwkOf(&privateKey(t, "key-1").PublicKey, "key-1"), jwkOf(&privateKey(t, "key-3").PublicKey, "key-3"))
	withoutRefreshFloor(t) // faultMinRefresh is below the floor, so that the phases are quick
	// The faults run at once, past -parallel's limit of GOMAXPROCS: they mostly wait.
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, fault := range faults {
		wg.Add(1)
		// Not `go t.Run(fault, ...)`: Yaegi would give every closure the last fault.
		go func(fault string) {
			defer wg.Done()
			t.Run(fault, func(t *testing.T) { checkKeyEndpointFault(t, fault, valid, key3Token, withKey3) })
		}(fault)
	}
}

// checkKeyEndpointFault runs one fault through the sequence: never obtained, recovery, last
// good keys, a new key.
func checkKeyEndpointFault(t *testing.T, fault, valid, key3Token string, withKey3 []byte) {
	tls := fault == "untrusted TLS certificate"
	s := newKeyServer(t)
	if tls {
		s = newTLSKeyServer(t)
	}
	s.setFault(fault, nil)
	config := CreateConfig()
	config.JWKSURL = s.url()
	config.HTTPTimeout = faultTimeout.String()
	config.MinRefreshInterval = faultMinRefresh.String()
	config.RefreshInterval = "10m"
	clock := newFakeClock()
	config.Now = clock.Now
	next := &upstream{}
	handler := newHandler(t, config, next)
	checkFetches := func(phase string, want int64) {
		t.Helper()
		if got := s.requests.Load(); got != want {
			t.Fatalf("%s: the endpoint was asked %d times in all; want %d (one fetch shared by concurrent requests, at most one per minRefreshInterval)", phase, got, want)
		}
	}
	checkBounded := func(phase string, answers []faultAnswer) {
		t.Helper()
		for _, a := range answers {
			if a.elapsed > faultTimeout+faultMargin {
				t.Fatalf("%s: a request took %v; want at most httpTimeout (%v) plus %v", phase, a.elapsed, faultTimeout, faultMargin)
			}
		}
	}

	// 1. No key was ever obtained: 503 with Retry-After, for every waiting request.
	answers := concurrently(handler, repeated(valid, 20))
	checkBounded("never obtained", answers)
	for _, a := range answers {
		if a.status != http.StatusServiceUnavailable || a.retryAfter == "" || a.retryAfter == "0" {
			t.Fatalf("never obtained: status %d, Retry-After %q (%s); want 503 with a positive Retry-After", a.status, a.retryAfter, a.detail)
		}
	}
	checkFetches("never obtained", 1)
	if fault == "a 50 MB body" {
		select {
		case <-s.bigDone:
		case <-time.After(5 * time.Second):
			t.Fatalf("the server's handler of the 50 MB body has not returned after 5 s; want the client to have stopped reading")
		}
		if written := s.written.Load(); written >= bigBodyBytes/2 {
			t.Fatalf("the server wrote %d bytes of a 50 MB body; want the client to stop reading after 1 MiB", written)
		}
	}
	if tls {
		// An untrusted certificate stays untrusted: fail closed on every attempt.
		clock.Advance(faultMinRefresh + time.Millisecond)
		if rec, _ := serve(handler, request(valid)); rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("second attempt against an untrusted certificate: status %d; want 503", rec.Code)
		}
		checkFetches("untrusted certificate, second attempt", 2)
		if next.calls.Load() != 0 {
			t.Fatalf("the upstream was reached %d times without keys", next.calls.Load())
		}
		return
	}

	// 2. The endpoint comes back: the same middleware recovers by itself.
	s.setFault("ok", nil)
	clock.Advance(faultMinRefresh + time.Millisecond)
	if rec, _ := serve(handler, request(valid)); rec.Code != http.StatusOK {
		t.Fatalf("after the endpoint came back: status %d (%s); want 200", rec.Code, errorDescription(rec))
	}
	checkFetches("recovery", 2)

	// 3. It fails again: the last good keys keep verifying, an unknown kid is a 401
	// (never a 503), and the refetch it causes is shared and bounded.
	s.setFault(fault, nil)
	clock.Advance(faultMinRefresh + time.Millisecond)
	answers = concurrently(handler, append(repeated(valid, 10), repeated(key3Token, 10)...))
	checkBounded("last good keys", answers)
	for i, a := range answers {
		if i < 10 && a.status != http.StatusOK {
			t.Fatalf("last good keys: a key-1 token got %d (%s); want 200", a.status, a.detail)
		}
		if i < 10 && a.elapsed > faultTimeout {
			t.Fatalf("last good keys: a key-1 token took %v; want no wait for the failing refetch (httpTimeout %v)", a.elapsed, faultTimeout)
		}
		if i >= 10 && (a.status != http.StatusUnauthorized || a.detail != errUnknownKey.Error()) {
			t.Fatalf("last good keys: a token of a kid not in them got %d (%s); want 401 unknown key", a.status, a.detail)
		}
	}
	checkFetches("last good keys", 3)

	// 4. It comes back with a new key: tokens of that key are verified, without a restart.
	s.setFault("ok", withKey3)
	clock.Advance(faultMinRefresh + time.Millisecond)
	for _, token := range []string{key3Token, valid} {
		if rec, _ := serve(handler, request(token)); rec.Code != http.StatusOK {
			t.Fatalf("after the endpoint came back with key-3: status %d (%s); want 200", rec.Code, errorDescription(rec))
		}
	}
	checkFetches("new key", 4)
	if got := next.calls.Load(); got != 13 {
		t.Fatalf("the upstream was reached %d times; want 13 (the 200s only)", got)
	}
}

// flakyFetcher panics, after a delay, while panicWith is set, and returns set otherwise.
type flakyFetcher struct {
	mu        sync.Mutex
	panicWith string // "", "string", "error" or "runtime error"
	delay     time.Duration
	set       *jose.KeySet
	calls     int
}

func (f *flakyFetcher) fetch(ctx context.Context) (*jose.KeySet, error) {
	f.mu.Lock()
	f.calls++
	mode, delay, set, calls := f.panicWith, f.delay, f.set, f.calls
	f.mu.Unlock()
	// Real time, not a clock: concurrent requests must find this fetch under way and share it.
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

func (f *flakyFetcher) change(panicWith string, set *jose.KeySet) {
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
	good, err := jose.ParseJWKS(readFixture(t, "keys/jwks.json"))
	if err != nil {
		t.Fatalf("jose.ParseJWKS(jwks.json): %v", err)
	}
	valid := validToken(t)
	unknownKid := signRS256(t, privateKey(t, "key-3"), rs256Header("key-3"), userClaims(t, nil))
	for _, kind := range []string{"string", "error", "runtime error"} {
		kind := kind
		t.Run("panic with a "+kind, func(t *testing.T) {
			fetcher := &flakyFetcher{panicWith: kind, delay: 50 * time.Millisecond}
			clock := newFakeClock()
			keys := newRemoteKeys("test", fetcher, fetchTiming{refresh: time.Hour, minRefresh: 100 * time.Millisecond, timeout: time.Second, now: clock.Now, log: testProcess(t).log})
			handler := newHandler(t, pemConfig(t), &upstream{}).(*Middleware)
			setKeys(handler, keys)

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
			clock.Advance(150 * time.Millisecond)
			if rec, _ := serve(handler, request(valid)); rec.Code != http.StatusOK {
				t.Fatalf("after the fetcher recovered: status %d (%s); want 200", rec.Code, errorDescription(rec))
			}

			// A panic in a later refetch keeps the keys at hand.
			fetcher.change(kind, nil)
			clock.Advance(150 * time.Millisecond)
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

// TestFetcherWithoutKeySetIsAFailedFetch: a fetcher that returns neither keys nor an error
// (a bug in a key source) counts as a failed fetch; were the nil set passed on to
// keepKeyIdentity, it would be dereferenced outside runFetch's recover, and the panic would
// end the process (Traefik).
func TestFetcherWithoutKeySetIsAFailedFetch(t *testing.T) {
	good, err := jose.ParseJWKS(readFixture(t, "keys/jwks.json"))
	if err != nil {
		t.Fatalf("jose.ParseJWKS(jwks.json): %v", err)
	}
	fetcher := &flakyFetcher{set: good}
	clock := newFakeClock()
	keys := newRemoteKeys("test", fetcher, fetchTiming{refresh: time.Hour, minRefresh: 50 * time.Millisecond, timeout: time.Second, now: clock.Now, log: testProcess(t).log})
	handler := newHandler(t, pemConfig(t), &upstream{}).(*Middleware)
	setKeys(handler, keys)
	valid := validToken(t)
	if rec, _ := serve(handler, request(valid)); rec.Code != http.StatusOK {
		t.Fatalf("with keys: status %d; want 200", rec.Code)
	}
	fetcher.change("", nil)
	clock.Advance(60 * time.Millisecond)
	unknownKid := signRS256(t, privateKey(t, "key-3"), rs256Header("key-3"), userClaims(t, nil))
	if rec, _ := serve(handler, request(unknownKid)); rec.Code != http.StatusUnauthorized {
		t.Fatalf("unknown kid while the fetcher returns no key set: status %d; want 401", rec.Code)
	}
	if rec, _ := serve(handler, request(valid)); rec.Code != http.StatusOK {
		t.Fatalf("after a fetch without a key set: status %d; want 200 from the last good keys", rec.Code)
	}
}
