package withauth

// The process's store of grants: shared by routes configured alike, kept across reloads,
// judged anew where a rule differs, and bounded in bytes for the whole process.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// reload builds the middleware again from a fresh copy of given (key-1's PEM key unless it
// names a key source), as Traefik does on every configuration change.
func reload(t testing.TB, name string, given map[string]interface{}, now func() time.Time) *Middleware {
	t.Helper()
	config := givenConfig(t, given)
	if given["jwksUrl"] != nil {
		config = givenKeySourceConfig(t, given)
	}
	config.Now = now
	m, ok := handlerIn(testProcess(t), &upstream{}, config, name).(*Middleware)
	if !ok {
		_, err := build(testProcess(t), &upstream{}, config, name)
		t.Fatalf("New refused %v: %v; want a middleware", given, err)
	}
	return m
}

// status is the status of one request with token through handler.
func status(handler http.Handler, token string) int {
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, request(token))
	return rec.Code
}

// admittedFromCache sends token through m and reports whether it was admitted with the grant
// first, unchanged: a verification would have cached a grant of its own.
func admittedFromCache(t *testing.T, m *Middleware, token string, first *grant) bool {
	t.Helper()
	if got := status(m, token); got != 200 {
		t.Fatalf("status %d; want 200", got)
	}
	return first != nil && cachedGrant(m.cache, "Bearer "+token) == first
}

func TestATokenVerifiedOnOneRouteIsAHitOnRoutesConfiguredAlike(t *testing.T) {
	freshStore(t)
	given := map[string]interface{}{"issuer": "https://app-demo.frontegg.com", "audience": "2a3b4c5d-client-id-example", "roles": "admin"}
	orders := reload(t, "orders", given, nil)
	token := validToken(t)
	if got := status(orders, token); got != 200 {
		t.Fatalf("valid token on the first route: status %d; want 200", got)
	}
	first := cachedGrant(orders.cache, "Bearer "+token)
	if first == nil {
		t.Fatal("the first route cached no grant; want one")
	}
	if billing := reload(t, "billing", given, nil); !admittedFromCache(t, billing, token, first) {
		t.Error("another route configured alike verified the token again; want the first route's grant")
	}
	if reloaded := reload(t, "orders", given, nil); !admittedFromCache(t, reloaded, token, first) {
		t.Error("after a reload with an unchanged configuration the token was verified again; want the grant kept")
	}
}

func TestARouteWithADifferentRuleJudgesTheTokenAnew(t *testing.T) {
	freshStore(t)
	given := map[string]interface{}{"issuer": "https://app-demo.frontegg.com", "audience": "2a3b4c5d-client-id-example", "roles": "admin"}
	token := validToken(t)
	orders := reload(t, "orders", given, nil)
	if got := status(orders, token); got != 200 {
		t.Fatalf("valid token: status %d; want 200", got)
	}
	cases := []struct {
		name   string
		change map[string]interface{}
		want   int
	}{
		{"another audience", map[string]interface{}{"audience": "app-other"}, 401},
		{"another issuer", map[string]interface{}{"issuer": "https://other.example"}, 401},
		{"another role", map[string]interface{}{"roles": "auditor"}, 403},
		{"a type rule", map[string]interface{}{"typ": "at+jwt"}, 401},
		{"an authorized party", map[string]interface{}{"authorizedParties": "another-client"}, 401},
	}
	for _, tc := range cases {
		changed := map[string]interface{}{}
		for key, value := range given {
			changed[key] = value
		}
		for key, value := range tc.change {
			changed[key] = value
		}
		other := reload(t, "other", changed, nil)
		if got := status(other, token); got != tc.want {
			t.Errorf("%s: status %d; want %d (judged anew, not the first route's grant)", tc.name, got, tc.want)
		}
	}
}

func TestAnExpiredTokenIsRefusedOnEveryRouteAndAfterAReload(t *testing.T) {
	freshStore(t)
	clock := newFakeClock()
	given := map[string]interface{}{"clockSkew": "1s"}
	token := tokenWith(map[string]interface{}{"exp": clock.Now().Unix() + 60})(t)
	orders := reload(t, "orders", given, clock.Now)
	if got := status(orders, token); got != 200 {
		t.Fatalf("valid token: status %d; want 200", got)
	}
	clock.Advance(62 * time.Second)
	refusedEverywhere(t, "an expired token", token, orders, given, clock.Now)
}

// refusedEverywhere checks that token is refused (401) by the route orders, by another route
// configured alike and by orders reloaded.
func refusedEverywhere(t *testing.T, what, token string, orders *Middleware, given map[string]interface{}, now func() time.Time) {
	t.Helper()
	for name, m := range map[string]*Middleware{"the same route": orders, "another route": reload(t, "billing", given, now), "the route reloaded": reload(t, "orders", given, now)} {
		if got := status(m, token); got != 401 {
			t.Errorf("%s on %s: status %d; want 401", what, name, got)
		}
	}
}

func TestAKeyRemovedFromTheSetIsRefusedOnEveryRouteAndAfterAReload(t *testing.T) {
	freshStore(t)
	server := newKeyServer(t)
	server.set(http.StatusOK, jwksOf(t, jwkOf(&privateKey(t, "key-1").PublicKey, "key-1")))
	clock := newFakeClock()
	withoutRefreshFloor(t)
	given := map[string]interface{}{"jwksUrl": server.url(), "minRefreshInterval": "0s"}
	orders := reload(t, "orders", given, clock.Now)
	token := validToken(t)
	if got := status(orders, token); got != 200 {
		t.Fatalf("valid token: status %d; want 200", got)
	}
	server.set(http.StatusOK, jwksOf(t, jwkOf(&privateKey(t, "key-2").PublicKey, "key-2")))
	clock.Advance(10*time.Minute + time.Second) // the keys are due for their refresh
	status(orders, token)                       // starts it
	settleFetch(orders)
	refusedEverywhere(t, "a token of a key that left the set", token, orders, given, clock.Now)
}

func TestARevokedAccessTokenIsRefusedOnEveryRouteAndAfterAReload(t *testing.T) {
	freshStore(t)
	mock := newMockFrontegg(t)
	fronteggEnv(t, mock)
	clock := newFakeClock()
	build := func() http.Handler {
		config := CreateConfig()
		config.Now = clock.Now
		return newHandler(t, config, &upstream{})
	}
	token := fronteggToken(t, "userAccessToken", nil)
	code := func(handler http.Handler) int {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, fronteggRequest("/shift", "X-Api-Key", token))
		return rec.Code
	}
	orders := build()
	for _, handler := range []http.Handler{orders, build(), build()} {
		if got := code(handler); got != 200 {
			t.Fatalf("active access token: status %d; want 200", got)
		}
	}
	if got := mock.Checks.Load(); got != 1 {
		t.Fatalf("three routes asked Frontegg %d times within the check window; want 1", got)
	}
	mock.RevokeAccessToken("users", "uat-1")
	clock.Advance(accessTokenCheckTTL + time.Millisecond)
	for name, handler := range map[string]http.Handler{"the same route": orders, "another route": build(), "the route reloaded": build()} {
		if got := code(handler); got != 401 {
			t.Errorf("revoked access token on %s after the check window: status %d; want 401", name, got)
		}
	}
}

// checkStoreAccounts fails unless every cache's bytes are the sum of its grants' and the
// store's the sum of its caches', within the bound.
func checkStoreAccounts(t *testing.T, s *tokenStore) {
	t.Helper()
	var total int64
	for id, c := range s.caches {
		var sum int64
		for key, g := range c.grants {
			sum += grantBytes(key, g)
		}
		if sum != c.bytes {
			t.Fatalf("cache %.12s… counts %d bytes; its grants take %d", id, c.bytes, sum)
		}
		total += sum
	}
	if total != s.bytes || s.bytes > s.maxBytes {
		t.Fatalf("the store counts %d bytes, its caches %d; want equal and at most %d", s.bytes, total, s.maxBytes)
	}
}

func TestOneBoundForEveryRouteAndReload(t *testing.T) {
	const routes, tokensPerRoute = 100, 4
	store := newTokenStore(192 << 10)
	testProcess(t).grants = store
	tokens := make([]string, routes*tokensPerRoute)
	for i := range tokens {
		tokens[i] = tokenWith(map[string]interface{}{"jti": fmt.Sprint("token-", i)})(t)
	}
	generation := func(skew int) map[*tokenCache]bool {
		caches := map[*tokenCache]bool{}
		for route := 0; route < routes; route++ {
			m := reload(t, fmt.Sprint("route-", route), map[string]interface{}{"clockSkew": fmt.Sprintf("%ds", skew+route)}, nil)
			caches[m.cache] = true
			for _, token := range tokens[route*tokensPerRoute : (route+1)*tokensPerRoute] {
				if got := status(m, token); got != 200 {
					t.Fatalf("route %d: status %d; want 200", route, got)
				}
				checkStoreAccounts(t, store)
			}
		}
		return caches
	}
	old := generation(30)
	if len(old) != routes {
		t.Fatalf("%d routes of distinct configurations have %d caches; want one each", routes, len(old))
	}
	if store.bytes < store.maxBytes/2 {
		t.Fatalf("%d distinct tokens on %d routes fill %d of %d bytes; the test wants more tokens than the bound holds", len(tokens), routes, store.bytes, store.maxBytes)
	}
	// Every route's configuration changes: the old caches must give way to the new ones.
	generation(1000)
	var oldBytes int64
	for c := range old {
		oldBytes += c.bytes
	}
	if oldBytes > store.bytes/2 {
		t.Errorf("after a reload that changed every route, the old configurations' grants take %d of the store's %d bytes; want them to give way", oldBytes, store.bytes)
	}
	t.Logf("store: %d of %d bytes in %d caches, %d of them the old generation's", store.bytes, store.maxBytes, len(store.caches), oldBytes)
}

func TestGrantBytesCoverTheHeap(t *testing.T) {
	const count = 1000
	freshStore(t)
	handler := newHandler(t, pemConfig(t), &upstream{}).(*Middleware)
	tokens := make([]string, count)
	for i := range tokens {
		tokens[i] = tokenWith(map[string]interface{}{"jti": fmt.Sprint("heap-", i)})(t)
	}
	before := heapAfterGC()
	for _, token := range tokens {
		if got := status(handler, token); got != 200 {
			t.Fatalf("status %d; want 200", got)
		}
	}
	grown := int64(heapAfterGC()) - int64(before)
	runtime.KeepAlive(tokens)
	if len(handler.cache.grants) != count {
		t.Fatalf("%d grants cached; want %d", len(handler.cache.grants), count)
	}
	perGrant, estimated := grown/count, testProcess(t).grants.bytes/count
	t.Logf("a grant takes %d bytes of heap; grantBytes estimates %d", perGrant, estimated)
	if estimated < perGrant || estimated > 2*perGrant {
		t.Errorf("grantBytes estimates %d bytes a grant, the heap grew by %d a grant; want an estimate no lower and at most twice", estimated, perGrant)
	}
}
