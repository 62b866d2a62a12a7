package withauth

import (
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The request path: preflights, the forwarding of credentials, the token cache, panics while
// serving (a 500 for that request alone) and a load with a key rotation.

func TestPreflightAndAuthorizationForwarding(t *testing.T) {
	preflight := func(r *http.Request) {
		r.Method = http.MethodOptions
		r.Header.Set("Origin", "https://app.example")
		r.Header.Set("Access-Control-Request-Method", "POST")
	}
	runTokenCases(t, pemConfig, []tokenCase{
		{name: "preflight passes without a token", header: preflight, wantStatus: 200},
		{name: "preflight needs a token when skipPreflight is off", config: func(c *Config) { c.SkipPreflight = false }, header: preflight, wantStatus: 401},
		{name: "OPTIONS without CORS headers needs a token", header: func(r *http.Request) { r.Method = http.MethodOptions }, wantStatus: 401},
	})

	token := validToken(t)
	for _, keep := range []bool{true, false} {
		config := pemConfig(t)
		config.ForwardAuthorization = keep
		next := &upstream{}
		newHandler(t, config, next).ServeHTTP(httptest.NewRecorder(), request(token))
		got := next.header.Get("Authorization")
		if keep && got != "Bearer "+token || !keep && got != "" {
			t.Errorf("forwardAuthorization=%v: upstream Authorization = %q", keep, got)
		}
	}
}

// TestPreflightCarriesNoCredentialsUpstream: a "preflight" let through without a token
// forwarded its forged Authorization and x-api-key, even under forwardAuthorization: false.
func TestPreflightCarriesNoCredentialsUpstream(t *testing.T) {
	for _, keep := range []bool{true, false} {
		config := pemConfig(t)
		config.ForwardAuthorization = keep
		next := &upstream{}
		req := request("forged.token.value")
		req.Method = http.MethodOptions
		req.Header.Set("Origin", "https://app.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("X-Api-Key", "forged")
		if rec, _ := serve(newHandler(t, config, next), req); rec.Code != http.StatusOK {
			t.Fatalf("forwardAuthorization=%v: preflight status %d; want 200 (skipPreflight)", keep, rec.Code)
		}
		for _, name := range []string{"Authorization", "X-Api-Key"} {
			if got := next.header.Get(name); got != "" {
				t.Errorf("forwardAuthorization=%v: the upstream received the preflight's %s %q; want it stripped (never verified)", keep, name, got)
			}
		}
	}
}

func TestAttacksThroughOtherChannels(t *testing.T) {
	runTokenCases(t, pemConfig, []tokenCase{
		{name: "access_token query parameter is not a credential", header: func(r *http.Request) {
			r.URL.RawQuery = "access_token=" + validToken(t)
		}, wantStatus: 401},
		{name: "a token in a cookie is not a credential", header: func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "access_token", Value: validToken(t)})
		}, wantStatus: 401},
		{name: "x-api-key outside Frontegg mode is not a credential", header: func(r *http.Request) {
			r.Header.Set("X-Api-Key", validToken(t))
		}, wantStatus: 401},
		{name: "Bearer and a tab is not the bearer scheme", header: func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer\t"+validToken(t))
		}, wantStatus: 401},
	})
}

func TestCachedTokens(t *testing.T) {
	config := pemConfig(t)
	config.Roles = []string{"admin"}
	config.CacheSize = 4
	handler := newHandler(t, config, &upstream{}).(*Middleware)
	token := validToken(t)
	for i := 0; i < 2; i++ {
		rec := httptest.NewRecorder()
		next := &upstream{}
		handler.next = next
		handler.ServeHTTP(rec, request(token))
		if rec.Code != 200 || next.header.Get("X-User-Id") != "6b3c1a2e-0f4d-4f4a-9d57-1c1f0e0d7a11" {
			t.Fatalf("request %d: status %d, X-User-Id %q; want 200 and the sub, from the cache the second time", i, rec.Code, next.header.Get("X-User-Id"))
		}
	}
	if cachedGrant(handler.cache, "Bearer "+token) == nil {
		t.Fatalf("a verified token is not in the cache")
	}
	// A cached 403 stays a 403.
	noAdmin := tokenWith(map[string]interface{}{"roles": []string{"read-only"}})(t)
	for i := 0; i < 2; i++ {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, request(noAdmin))
		if rec.Code != 403 {
			t.Fatalf("request %d with a token lacking the role: status %d; want 403", i, rec.Code)
		}
	}
	// An expired cached grant is verified anew, and refused.
	cachedGrant(handler.cache, "Bearer "+token).expiresUnixNano = time.Now().UnixNano() - 1
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, request(token))
	if rec.Code != 200 {
		t.Fatalf("token whose cached grant expired: status %d; want 200 after verifying again", rec.Code)
	}
	// The cache stays within its size.
	for i := 0; i < 50; i++ {
		handler.ServeHTTP(httptest.NewRecorder(), request(tokenWith(map[string]interface{}{"sub": strings.Repeat("u", i+1)})(t)))
	}
	if n := len(handler.cache.grants); n > 4 {
		t.Fatalf("cache of size 4 holds %d grants", n)
	}
}

func TestCacheDisabled(t *testing.T) {
	config := pemConfig(t)
	config.CacheSize = 0
	handler := newHandler(t, config, &upstream{}).(*Middleware)
	if handler.cache != nil {
		t.Fatalf("cacheSize 0 made a cache")
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, request(validToken(t)))
	if rec.Code != 200 {
		t.Fatalf("status %d without a cache; want 200", rec.Code)
	}
}

func TestOnlyCanonicalBearerSpellingsAreCached(t *testing.T) {
	freshStore(t)
	handler := newHandler(t, pemConfig(t), &upstream{}).(*Middleware)
	token := validToken(t)
	for _, spelling := range []string{"bearer " + token, "Bearer  " + token, "BEARER " + token} {
		req := request("")
		req.Header.Set("Authorization", spelling)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("%.10q…: status %d; want 200", spelling, rec.Code)
		}
	}
	if n := len(handler.cache.grants); n != 0 {
		t.Fatalf("non-canonical spellings of one token left %d cache entries; want none, so one token cannot fill the cache", n)
	}
	handler.ServeHTTP(httptest.NewRecorder(), request(token))
	if cachedGrant(handler.cache, "Bearer "+token) == nil {
		t.Fatalf("\"Bearer <token>\" was not cached")
	}
}

// TestForgeriesAreNeverCached: a refused token leaves no grant behind.
func TestForgeriesAreNeverCached(t *testing.T) {
	handler := newHandler(t, pemConfig(t), &upstream{}).(*Middleware)
	forged := []string{tamperedPayload(t), hmacSigned(t, "HS256", "key-1", readFixture(t, "keys/key-1.pub.pem")), tokenWith(map[string]interface{}{"exp": time.Now().Unix() - 3600})(t)}
	for _, token := range forged {
		for i := 0; i < 2; i++ {
			if rec, _ := serve(handler, request(token)); rec.Code != 401 {
				t.Fatalf("forged token, request %d: status %d; want 401", i, rec.Code)
			}
		}
		if cachedGrant(handler.cache, "Bearer "+token) != nil {
			t.Fatalf("a refused token is in the cache")
		}
	}
}

// TestHugeExpIsClampedInTheCache: exp 1e300 is a valid NumericDate; the cache entry must not
// overflow into the past (the token would then be verified on every request) nor fail.
func TestHugeExpIsClampedInTheCache(t *testing.T) {
	handler := newHandler(t, pemConfig(t), &upstream{}).(*Middleware)
	token := signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, appendMembers(claimsText(t, map[string]interface{}{"exp": nil}), `"exp":1e300`))
	for i := 0; i < 2; i++ {
		rec, _ := serve(handler, request(token))
		if rec.Code != 200 {
			t.Fatalf("request %d with exp 1e300: status %d (%s); want 200", i, rec.Code, rec.Body.String())
		}
	}
	first := cachedGrant(handler.cache, "Bearer "+token)
	if first == nil || first.expiresUnixNano <= 0 {
		t.Fatalf("cached grant %+v; want one whose expiry is clamped to a positive time", first)
	}
	serve(handler, request(token))
	if again := cachedGrant(handler.cache, "Bearer "+token); again != first {
		t.Fatalf("the grant of an exp 1e300 token was replaced on the next request; want it served from the cache (expiry %d)", first.expiresUnixNano)
	}
}

func TestPanicAnswers500ForThatRequestOnly(t *testing.T) {
	handler := newHandler(t, pemConfig(t), &upstream{}).(*Middleware)
	good := handler.trust.only.keys
	setKeys(handler, panickingKeys(t, ""))
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, request(validToken(t)))
	if rec.Code != 500 || bodyField(rec.Body.Bytes(), "reason") != "internal_error" {
		t.Fatalf("injected panic: status %d, body %s; want 500 with an internal error", rec.Code, rec.Body.String())
	}
	setKeys(handler, good)
	rec = httptest.NewRecorder()
	handler.ServeHTTP(rec, request(validToken(t)))
	if rec.Code != 200 {
		t.Fatalf("request after a panic: status %d; want 200", rec.Code)
	}
}

// Benchmarks of the request path, compiled (bench/ measures the same under Yaegi).

// TestPanicsAmidConcurrentRequests: requests whose verification panics get 500, the others
// running at the same time are unaffected.
func TestPanicsAmidConcurrentRequests(t *testing.T) {
	next := &upstream{}
	handler := newHandler(t, pemConfig(t), next).(*Middleware)
	setKeys(handler, panickingKeys(t, "boom"))
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

// loadKind is one kind of request of the load test and the answer it must get.
type loadKind struct {
	name   string
	tokens []string // "" sends no Authorization header
	status int
	err    error // the refusal, nil for 200 and 403
}

const (
	kindKey1 = iota // valid until key-1 leaves the key set
	kindKey2        // valid throughout: key-2 is in both key sets
	kindKey3        // valid once key-3 is published; sent only from then on
	kindNoRole
	kindExpired
	kindAlgNone
	kindHS256
	kindWrongKey
	kindUnknownKid
	kindTampered
	kindMissing
	loadKinds
)

// TestLoadWithKeyRotation: 200 concurrent clients mix valid, expired, forged and missing
// tokens against one handler while the JWKS rotates from key-1+key-2 to key-2+key-3. Every
// answer must be the right one, and no valid request may be lost to the rotation.
func TestLoadWithKeyRotation(t *testing.T) {
	const clients = 200
	const (
		// requestsPerPhase are the requests the clients send before the rotation, between it
		// and key-3's first use, and after that.
		requestsPerPhase = 2000
		// key3Delay is how long after publishing key-3 the issuer starts signing with it: more
		// than refreshInterval and minRefreshInterval, as a key must be published before use.
		key3Delay = 400 * time.Millisecond
	)
	key1, key2, key3, rogue := privateKey(t, "key-1"), privateKey(t, "key-2"), privateKey(t, "key-3"), privateKey(t, "rogue")
	server := newKeyServer(t)
	server.set(http.StatusOK, jwksOf(t, jwkOf(&key1.PublicKey, "key-1"), jwkOf(&key2.PublicKey, "key-2")))
	rotated := jwksOf(t, jwkOf(&key2.PublicKey, "key-2"), jwkOf(&key3.PublicKey, "key-3"))
	config := jwksConfig(t, server)
	config.Roles = []string{"admin"}
	config.MinRefreshInterval = "100ms"
	config.RefreshInterval = "250ms"
	clock := newFakeClock()
	config.Now = clock.Now

	// The user each admitted token names; the upstream checks that it gets that one.
	users := map[string]string{}
	signed := func(n int, prefix string, sign func(sub string) string) []string {
		var tokens []string
		for i := 0; i < n; i++ {
			sub := prefix + "-user-" + strconv.Itoa(i)
			token := sign(sub)
			users[token] = sub
			tokens = append(tokens, token)
		}
		return tokens
	}
	by := func(key *rsa.PrivateKey, kid string, changes map[string]interface{}) func(sub string) string {
		return func(sub string) string {
			claims := userClaims(t, changes)
			claims["sub"] = sub
			return signRS256(t, key, rs256Header(kid), claims)
		}
	}
	kinds := make([]loadKind, loadKinds)
	kinds[kindKey1] = loadKind{name: "key-1", tokens: signed(5, "key-1", by(key1, "key-1", nil)), status: 200}
	kinds[kindKey2] = loadKind{name: "key-2", tokens: signed(5, "key-2", by(key2, "key-2", nil)), status: 200}
	kinds[kindKey3] = loadKind{name: "key-3", tokens: signed(5, "key-3", by(key3, "key-3", nil)), status: 200}
	kinds[kindNoRole] = loadKind{name: "no admin role", tokens: signed(3, "reader", by(key2, "key-2", map[string]interface{}{"roles": []string{"read-only"}})), status: 403}
	kinds[kindExpired] = loadKind{name: "expired", tokens: signed(3, "expired", by(key2, "key-2", map[string]interface{}{"exp": time.Now().Unix() - 3600})), status: 401, err: errExpired}
	kinds[kindAlgNone] = loadKind{name: "alg none", tokens: []string{segment(t, map[string]string{"alg": "none", "kid": "key-2"}) + "." + segment(t, userClaims(t, nil)) + "."}, status: 401, err: errAlgorithm}
	kinds[kindHS256] = loadKind{name: "HS256 keyed with the modulus", tokens: []string{hmacSigned(t, "HS256", "key-2", key2.N.Bytes())}, status: 401, err: errAlgorithm}
	kinds[kindWrongKey] = loadKind{name: "rogue key, kid key-2", tokens: signed(2, "rogue", by(rogue, "key-2", nil)), status: 401, err: errBadSignature}
	kinds[kindUnknownKid] = loadKind{name: "rogue key, unknown kid", tokens: signed(2, "unknown", by(rogue, "rogue", nil)), status: 401, err: errUnknownKey}
	tampered := strings.Split(kinds[kindKey2].tokens[0], ".")
	tampered[1] = segment(t, userClaims(t, map[string]interface{}{"sub": "mallory", "roles": []string{"admin", "owner"}}))
	kinds[kindTampered] = loadKind{name: "tampered payload", tokens: []string{strings.Join(tampered, ".")}, status: 401, err: errBadSignature}
	kinds[kindMissing] = loadKind{name: "no token", tokens: []string{""}, status: 401, err: errNoCredentials}

	var wrong failures
	next := &upstream{check: func(req *http.Request) {
		token := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
		if want, got := users[token], req.Header.Get("X-User-Id"); got != want || want == "" {
			wrong.add("upstream got X-User-Id " + strconv.Quote(got) + " for the token of " + strconv.Quote(want))
		}
	}}
	handler := newHandler(t, config, next)

	var stop, rotatedFlag, key3Live atomic.Bool
	var served atomic.Int64
	// whenServed lets the clients send n more requests.
	whenServed := func(n int64) {
		for target := served.Load() + n; served.Load() < target; {
			runtime.Gosched()
		}
	}
	var mu sync.Mutex
	counts := make([]int, loadKinds)
	key1Refused := 0
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		c := c
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]int, loadKinds)
			mineKey1Refused := 0
			for i := 0; !stop.Load(); i++ {
				kind := (c + i) % loadKinds
				if kind == kindKey1 && rotatedFlag.Load() || kind == kindKey3 && !key3Live.Load() {
					kind = kindKey2
				}
				k := kinds[kind]
				token := k.tokens[(c+i)%len(k.tokens)]
				rec, _ := serve(handler, request(token))
				served.Add(1)
				mine[kind]++
				detail := errorDescription(rec)
				if kind == kindKey1 && rec.Code == 401 && detail == errUnknownKey.Error() && rotatedFlag.Load() {
					mineKey1Refused++ // sent just before the rotation, answered after it
					continue
				}
				if rec.Code != k.status || k.err != nil && detail != k.err.Error() {
					want := ""
					if k.err != nil {
						want = " " + k.err.Error()
					}
					wrong.add(k.name + ": status " + strconv.Itoa(rec.Code) + " (" + detail + "); want " + strconv.Itoa(k.status) + want)
				}
			}
			mu.Lock()
			for kind, n := range mine {
				counts[kind] += n
			}
			key1Refused += mineKey1Refused
			mu.Unlock()
		}()
	}
	whenServed(requestsPerPhase)
	rotatedFlag.Store(true)
	server.set(http.StatusOK, rotated)
	clock.Advance(key3Delay) // the keys are due: the next request refreshes them
	whenServed(requestsPerPhase)
	settleFetch(handler)
	key3Live.Store(true)
	whenServed(requestsPerPhase)
	stop.Store(true)
	wg.Wait()

	total, admitted := 0, 0
	var summary []string
	for kind, n := range counts {
		total += n
		if kinds[kind].status == 200 {
			admitted += n
		}
		summary = append(summary, kinds[kind].name+" "+strconv.Itoa(n))
	}
	admitted -= key1Refused
	t.Logf("%d requests from %d clients, %d JWKS fetches: %s; key-1 tokens refused right after the rotation: %d",
		total, clients, server.requests.Load(), strings.Join(summary, ", "), key1Refused)
	wrong.report(t, "wrong answers under load")
	for kind, n := range counts {
		if n == 0 {
			t.Errorf("no %s request was sent; want every kind exercised", kinds[kind].name)
		}
	}
	if got := next.calls.Load(); got != int64(admitted) {
		t.Errorf("the upstream was reached %d times; want %d (once per 200)", got, admitted)
	}
	// After the rotation key-1 is gone, cached or not.
	clock.Advance(150 * time.Millisecond)
	if rec, _ := serve(handler, request(kinds[kindKey1].tokens[0])); rec.Code != 401 {
		t.Errorf("key-1 token after the rotation: status %d; want 401 (key-1 left the key set)", rec.Code)
	}
}
