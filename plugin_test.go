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
)

func TestNewRejectsBadConfiguration(t *testing.T) {
	pemKey := string(readFixture(t, "keys/key-1.pub.pem"))
	cases := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{"no key source", func(c *Config) {}, "no key source: set issuer"},
		{"two key sources", func(c *Config) { c.JWKSURL = "https://idp.example/jwks"; c.PublicKey = pemKey }, "jwksUrl, publicKey and jwks: more than one is set"},
		{"jwksUrl not a URL", func(c *Config) { c.JWKSURL = "idp.example/jwks" }, "jwksUrl: \"idp.example/jwks\" is not an http(s) URL"},
		{"jwksUrl other scheme", func(c *Config) { c.JWKSURL = "file:///etc/passwd" }, "jwksUrl: \"file:///etc/passwd\" is not an http(s) URL"},
		{"issuer not a URL", func(c *Config) { c.Issuer = "frontegg" }, "issuer: \"frontegg\" is not an http(s) URL"},
		{"publicKey not PEM", func(c *Config) { c.PublicKey = "abc" }, "publicKey: no PEM block found"},
		{"publicKey on an unsupported curve", func(c *Config) { c.PublicKey = string(readFixture(t, "keys/ec-p224.pub.pem")) }, "publicKey: the EC key is on P-224; P-256, P-384 and P-521 are accepted"},
		{"publicKey is a private key", func(c *Config) { c.PublicKey = string(readFixture(t, "keys/key-1.key.pem")) }, "publicKey: PEM block of type \"RSA PRIVATE KEY\", expected PUBLIC KEY"},
		{"clockSkew not a duration", func(c *Config) { c.PublicKey = pemKey; c.ClockSkew = "30" }, "clockSkew: \"30\" is not a duration"},
		{"clockSkew negative", func(c *Config) { c.PublicKey = pemKey; c.ClockSkew = "-1s" }, "clockSkew: \"-1s\" is not a duration"},
		{"refreshInterval not a duration", func(c *Config) { c.JWKSURL = "https://idp.example/jwks"; c.RefreshInterval = "often" }, "refreshInterval: \"often\" is not a duration"},
		{"minRefreshInterval not a duration", func(c *Config) { c.JWKSURL = "https://idp.example/jwks"; c.MinRefreshInterval = "" }, "minRefreshInterval: \"\" is not a duration"},
		{"httpTimeout zero", func(c *Config) { c.JWKSURL = "https://idp.example/jwks"; c.HTTPTimeout = "0s" }, "httpTimeout: must be positive"},
		{"empty role in a label list", func(c *Config) { c.PublicKey = pemKey; c.Roles = []string{"admin,,read-only"} }, "roles: \"admin,,read-only\" has an empty item"},
		{"only commas as roles", func(c *Config) { c.PublicKey = pemKey; c.Roles = []string{" , "} }, "roles: \" , \" has an empty item"},
		{"empty permission", func(c *Config) { c.PublicKey = pemKey; c.Permissions = []string{""} }, "permissions: \"\" has an empty item"},
		{"empty audience", func(c *Config) { c.PublicKey = pemKey; c.Audience = []string{"a", " "} }, "audience: \"a, \" has an empty item"},
		{"roles as a flow list in one string", func(c *Config) { c.PublicKey = pemKey; c.Roles = []string{"[admin, ops]"} }, "roles: \"[admin, ops]\" is a list written inside one string"},
		{"audience as a flow list in one string", func(c *Config) { c.PublicKey = pemKey; c.Audience = []string{" [api] "} }, "audience: \" [api] \" is a list written inside one string"},
		{"an item opening a flow list", func(c *Config) { c.PublicKey = pemKey; c.Permissions = []string{"[read", "write]"} }, "permissions: \"[read\" is a list written inside one string"},
		{"empty rolesClaim", func(c *Config) { c.PublicKey = pemKey; c.RolesClaim = " " }, "rolesClaim: must name a claim"},
		{"forward header without claim", func(c *Config) { c.PublicKey = pemKey; c.ForwardHeaders = map[string]string{"X-Plan": ""} }, "forwardHeaders.X-Plan: names no claim"},
		{"forward into Authorization", func(c *Config) { c.PublicKey = pemKey; c.ForwardHeaders = map[string]string{"authorization": "sub"} }, "forwardHeaders: \"authorization\" cannot carry a claim"},
		{"forward into invalid name", func(c *Config) { c.PublicKey = pemKey; c.ForwardHeaders = map[string]string{"X User": "sub"} }, "forwardHeaders: \"X User\" cannot carry a claim"},
		{"negative cache size", func(c *Config) { c.PublicKey = pemKey; c.CacheSize = -1 }, "cacheSize: -1 is negative"},
		{"maxTokenAge not a duration", func(c *Config) { c.PublicKey = pemKey; c.MaxTokenAge = "1d" }, "maxTokenAge: \"1d\" is not a duration"},
		{"maxTokenAge below a second", func(c *Config) { c.PublicKey = pemKey; c.MaxTokenAge = "500ms" }, "maxTokenAge: 500ms is below 1s"},
		{"jwks and publicKey", func(c *Config) { c.PublicKey = pemKey; c.JWKS = string(readFixture(t, "keys/jwks.json")) }, "jwksUrl, publicKey and jwks: more than one is set"},
		{"jwks not JSON", func(c *Config) { c.JWKS = "keys: []" }, "jwks: is not a JSON Web Key Set"},
		{"jwks a discovery document", func(c *Config) { c.JWKS = `{"issuer": "https://idp.example", "jwks_uri": "https://idp.example/certs"}` }, "jwks: is not a JSON Web Key Set"},
		{"jwks with a private key", func(c *Config) {
			c.JWKS = `{"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "d": "c2VjcmV0"}]}`
		}, `jwks: keys[0] holds the private member "d"`},
		{"jwks with no usable key", func(c *Config) { c.JWKS = `{"keys": [{"kty": "oct", "use": "enc"}]}` }, "jwks: the JWKS holds no usable signing key"},
		{"jwks and issuers", func(c *Config) {
			c.JWKS = string(readFixture(t, "keys/jwks.json"))
			c.Issuers = []IssuerConfig{{Issuer: "https://idp.example"}}
		}, "issuers: cannot be combined with issuer, jwksUrl, publicKey or jwks"},
	}
	for _, tc := range cases {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			config := CreateConfig()
			tc.change(config)
			if got := newError(t, config); !strings.Contains(got, tc.wantErr) || !strings.HasPrefix(got, "withauth route: ") {
				t.Fatalf("New's log line = %q; want it to start with \"withauth route: \" and contain %q", got, tc.wantErr)
			}
		})
	}
}

func TestNewAcceptsTraefikCatalogTestData(t *testing.T) {
	// The values of .traefik.yml's testData, as mapstructure leaves them.
	config := CreateConfig()
	config.JWKSURL = "https://app-demo.frontegg.com/.well-known/jwks.json"
	config.Issuer = "https://app-demo.frontegg.com"
	config.Roles = []string{"admin", "read-only"}
	config.Permissions = []string{"uploadFile"}
	if _, err := build(testProcess(t), &upstream{}, config, "catalog"); err != nil {
		t.Fatalf("New rejected the catalog testData: %v", err)
	}
	if manifest := string(readFixture(t, "../.traefik.yml")); !strings.Contains(manifest, "jwksUrl: https://app-demo.frontegg.com/.well-known/jwks.json") {
		t.Fatalf(".traefik.yml testData should configure jwksUrl https://app-demo.frontegg.com/.well-known/jwks.json as this test does")
	}
}

func TestNewIsOfflineAndCheap(t *testing.T) {
	// An endpoint that fails the test if New contacts it: keys are only fetched on first use.
	server := newKeyServer(t)
	config := jwksConfig(t, server)
	for i := 0; i < 100; i++ {
		newHandler(t, config, &upstream{})
	}
	if got := server.requests.Load(); got != 0 {
		t.Fatalf("New fetched keys %d times; want no network I/O in New", got)
	}
}

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
	testProcess(t).keySets.Range(func(key, value interface{}) bool {
		if keys, ok := value.(*keySource); ok {
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
	original, _ := testProcess(t).keySets.Load(id)
	testProcess(t).keySets.Store(id, "not a key source")

	if got, want := newError(t, config), refusedConfiguration("route", errors.New("invalid configuration: ")); !strings.HasPrefix(got, want) {
		t.Fatalf("New with a poisoned shared key source logged %q; want it to start with %q", got, want)
	}
	testProcess(t).keySets.Store(id, original)
	if _, err := build(testProcess(t), &upstream{}, config, "route"); err != nil {
		t.Fatalf("New after the poisoned entry is gone: %v; want a handler", err)
	}
}

func TestNewWithoutConfiguration(t *testing.T) {
	if got := newError(t, nil); !strings.Contains(got, "no key source") {
		t.Fatalf("New with a nil configuration logged %q; want the defaults' error, no key source", got)
	}
}

func TestRequests(t *testing.T) {
	now := time.Now().Unix()
	defaultHeaders := map[string]string{
		"X-User-Id":          "6b3c1a2e-0f4d-4f4a-9d57-1c1f0e0d7a11",
		"X-Tenant-Id":        "9a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9",
		"X-User-Email":       "ada@example.com",
		"X-User-Roles":       "admin,read-only",
		"X-User-Permissions": "uploadFile,fe.secure.read.users",
		"Authorization":      "", // checked below where it matters
	}
	delete(defaultHeaders, "Authorization")
	runTokenCases(t, pemConfig, []tokenCase{
		// Who gets in.
		{name: "valid token, all authenticated", token: validToken, wantStatus: 200, wantForward: defaultHeaders},
		{name: "scheme is case-insensitive", token: validToken, header: func(r *http.Request) {
			r.Header.Set("Authorization", "bEARER "+r.Header.Get("Authorization")[7:])
		}, wantStatus: 200},
		{name: "role any-of matches", config: func(c *Config) { c.Roles = []string{"owner", "admin"} }, token: validToken, wantStatus: 200},
		{name: "roles from a label string", config: func(c *Config) { c.Roles = []string{"owner, read-only"} }, token: tokenWith(map[string]interface{}{"roles": []string{"read-only"}}), wantStatus: 200},
		{name: "permission any-of matches", config: func(c *Config) { c.Permissions = []string{"uploadFile"} }, token: validToken, wantStatus: 200},
		{name: "roles and permissions both met", config: func(c *Config) { c.Roles = []string{"admin"}; c.Permissions = []string{"fe.secure.read.users"} }, token: validToken, wantStatus: 200},
		{name: "nested roles claim", config: func(c *Config) { c.Roles = []string{"auditor"}; c.RolesClaim = "realm_access.roles" }, token: validToken, wantStatus: 200,
			wantForward: map[string]string{"X-User-Roles": "auditor"}},
		{name: "namespaced claim with dots", config: func(c *Config) { c.Roles = []string{"ops"}; c.RolesClaim = "https://example.com/roles" },
			token: tokenWith(map[string]interface{}{"https://example.com/roles": []string{"ops"}}), wantStatus: 200},
		{name: "expired within clock skew", token: tokenWith(map[string]interface{}{"exp": now - 10}), wantStatus: 200},
		{name: "nbf within clock skew", token: tokenWith(map[string]interface{}{"nbf": now + 10}), wantStatus: 200},
		{name: "issuer matches", config: func(c *Config) { c.Issuer = "https://app-demo.frontegg.com" }, token: validToken, wantStatus: 200},
		{name: "audience string matches", config: func(c *Config) { c.Audience = []string{"other", "2a3b4c5d-client-id-example"} }, token: validToken, wantStatus: 200},
		{name: "audience array matches", config: func(c *Config) { c.Audience = []string{"api"} }, token: tokenWith(map[string]interface{}{"aud": []string{"web", "api"}}), wantStatus: 200},
		{name: "PEM key ignores kid", token: func(t testing.TB) string {
			return signRS256(t, privateKey(t, "key-1"), rs256Header("whatever"), userClaims(t, nil))
		}, wantStatus: 200},
		{name: "token without kid", token: func(t testing.TB) string {
			return signRS256(t, privateKey(t, "key-1"), map[string]string{"alg": "RS256"}, userClaims(t, nil))
		}, wantStatus: 200},
		{name: "custom forwarded headers replace the defaults", config: func(c *Config) {
			c.ForwardHeaders = map[string]string{"x-plan": "metadata.plan", "X-Verified": "email_verified", "X-Issued": "iat", "X-Meta": "metadata"}
		}, token: tokenWith(map[string]interface{}{"iat": 1795000000}), wantStatus: 200, wantForward: map[string]string{
			"X-Plan": "pro", "X-Verified": "true", "X-Issued": "1795000000", "X-Meta": `{"plan":"pro"}`, "X-User-Id": "",
		}},
		{name: "absent claim forwards nothing", token: tokenWith(map[string]interface{}{"tenantId": nil}), wantStatus: 200,
			wantForward: map[string]string{"X-Tenant-Id": ""}},
		{name: "a claim with control characters is not forwarded", token: tokenWith(map[string]interface{}{"email": "ada@example.com\r\nX-Admin: yes"}), wantStatus: 200,
			wantForward: map[string]string{"X-User-Email": ""}},

		// No credentials.
		{name: "no Authorization header", wantStatus: 401, wantErr: errNoCredentials},
		{name: "another scheme", header: func(r *http.Request) { r.Header.Set("Authorization", "Basic YWRhOnB3") }, wantStatus: 401},
		{name: "bearer without token", header: func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }, wantStatus: 400, wantError: "invalid_request"},
		{name: "two Authorization headers", token: validToken, header: func(r *http.Request) { r.Header.Add("Authorization", "Bearer x.y.z") },
			wantStatus: 400, wantError: "invalid_request", wantErr: errTwoAuthorization},

		// Forgeries and invalid tokens.
		{name: "garbage", token: literal("not-a-token"), wantStatus: 401, wantError: "invalid_token", wantErr: errMalformed},
		{name: "alg none", token: func(t testing.TB) string {
			return segment(t, map[string]string{"alg": "none"}) + "." + segment(t, userClaims(t, nil)) + "."
		}, wantStatus: 401, wantError: "invalid_token", wantErr: errAlgorithm},
		{name: "alg None with a signature", token: func(t testing.TB) string {
			parts := strings.Split(validToken(t), ".")
			return segment(t, map[string]string{"alg": "None", "kid": "key-1"}) + "." + parts[1] + "." + parts[2]
		}, wantStatus: 401, wantError: "invalid_token", wantErr: errAlgorithm},
		{name: "HS256 keyed with the PEM public key", token: func(t testing.TB) string {
			return hmacSigned(t, "HS256", "key-1", readFixture(t, "keys/key-1.pub.pem"))
		}, wantStatus: 401, wantError: "invalid_token", wantErr: errAlgorithm},
		{name: "tampered payload", token: tamperedPayload, wantStatus: 401, wantError: "invalid_token", wantErr: errBadSignature},
		{name: "signed by another key", token: func(t testing.TB) string {
			return signRS256(t, privateKey(t, "rogue"), rs256Header("key-1"), userClaims(t, nil))
		}, wantStatus: 401, wantError: "invalid_token", wantErr: errBadSignature},
		{name: "expired", token: tokenWith(map[string]interface{}{"exp": now - 60}), wantStatus: 401, wantError: "invalid_token", wantErr: errExpired},
		{name: "no exp", token: tokenWith(map[string]interface{}{"exp": nil}), wantStatus: 401, wantError: "invalid_token", wantErr: errNoExpiry},
		{name: "exp as a string", token: tokenWith(map[string]interface{}{"exp": "9999999999"}), wantStatus: 401, wantError: "invalid_token", wantErr: errNoExpiry},
		{name: "nbf in the future", token: tokenWith(map[string]interface{}{"nbf": now + 120}), wantStatus: 401, wantError: "invalid_token", wantErr: errNotYetValid},
		{name: "iat in the future", token: tokenWith(map[string]interface{}{"iat": now + 120}), wantStatus: 401, wantError: "invalid_token", wantErr: errIssuedInFuture},
		{name: "wrong issuer", config: func(c *Config) { c.Issuer = "https://app-other.frontegg.com" }, token: validToken, wantStatus: 401, wantError: "invalid_token", wantErr: errIssuer},
		{name: "wrong audience", config: func(c *Config) { c.Audience = []string{"api"} }, token: validToken, wantStatus: 401, wantError: "invalid_token", wantErr: errAudience},
		{name: "audience of another type", config: func(c *Config) { c.Audience = []string{"1"} }, token: tokenWith(map[string]interface{}{"aud": 1}), wantStatus: 401, wantError: "invalid_token", wantErr: errAudience},
		{name: "encrypted token", token: literal("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"), wantStatus: 401, wantError: "invalid_token", wantErr: errEncrypted},
		{name: "claims not an object", token: func(t testing.TB) string {
			return signRS256(t, privateKey(t, "key-1"), rs256Header("key-1"), []string{"admin"})
		}, wantStatus: 401, wantError: "invalid_token", wantErr: errBadClaims},

		// Authenticated, not authorised.
		{name: "role missing", config: func(c *Config) { c.Roles = []string{"owner"} }, token: validToken, wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles claim missing", config: func(c *Config) { c.Roles = []string{"admin"} }, token: tokenWith(map[string]interface{}{"roles": nil}), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles claim a string is a list of one", config: func(c *Config) { c.Roles = []string{"admin"} }, token: tokenWith(map[string]interface{}{"roles": "admin"}), wantStatus: 200},
		{name: "role matching is exact", config: func(c *Config) { c.Roles = []string{"Admin"} }, token: validToken, wantStatus: 403, wantError: "insufficient_scope"},
		{name: "permission missing", config: func(c *Config) { c.Permissions = []string{"deleteFile"} }, token: validToken, wantStatus: 403, wantError: "insufficient_scope"},
		{name: "role met, permission not", config: func(c *Config) { c.Roles = []string{"admin"}; c.Permissions = []string{"deleteFile"} }, token: validToken, wantStatus: 403, wantError: "insufficient_scope"},
		{name: "permission met, role not", config: func(c *Config) { c.Roles = []string{"owner"}; c.Permissions = []string{"uploadFile"} }, token: validToken, wantStatus: 403, wantError: "insufficient_scope"},
	})
}

// reloads is how many times TestReloadsLeaveNothingBehind calls New: Traefik calls it for
// every router on every configuration reload.
const reloads = 10000

func TestReloadsLeaveNothingBehind(t *testing.T) {
	server := newKeyServer(t)
	// The issuer's keys are at the same URL, with other timing: a key source of its own. Its
	// handlers never serve here (the fixture tokens name another issuer).
	jwksIssuer := CreateConfig()
	jwksIssuer.Issuer = server.URL
	configs := []*Config{pemConfig(t), jwksConfig(t, server), jwksIssuer}
	token := validToken(t)

	// The handlers of the first configuration, used once so that the keys are fetched and the
	// HTTP client's connection is open before measuring.
	var first []http.Handler
	for _, config := range configs[:2] {
		handler := newHandler(t, config, &upstream{})
		if rec, _ := serve(handler, request(token)); rec.Code != http.StatusOK {
			t.Fatalf("first handler: status %d (%s); want 200", rec.Code, errorDescription(rec))
		}
		first = append(first, handler)
	}
	fetches := server.requests.Load()

	sharedBefore := countSharedKeySources(testProcess(t))
	goroutinesBefore := settledGoroutines(0, 200*time.Millisecond)
	heapBefore := heapAfterGC()
	for i := 0; i < reloads; i++ {
		handler := newHandler(t, configs[i%len(configs)], &upstream{})
		if i%1000 < len(configs) && i%len(configs) != 2 {
			// Now and then a new handler serves, as routers do after a reload.
			if rec, _ := serve(handler, request(token)); rec.Code != http.StatusOK {
				t.Fatalf("handler of reload %d: status %d (%s); want 200", i, rec.Code, errorDescription(rec))
			}
		}
	}
	goroutinesAfter := settledGoroutines(goroutinesBefore, 2*time.Second)
	sharedAfter := countSharedKeySources(testProcess(t))
	heapAfter := heapAfterGC()
	t.Logf("%d calls of New: goroutines %d before, %d after; heap %d KiB before, %d KiB after (after GC); shared key sources %d before, %d after",
		reloads, goroutinesBefore, goroutinesAfter, heapBefore>>10, heapAfter>>10, sharedBefore, sharedAfter)

	if goroutinesAfter > goroutinesBefore+2 {
		t.Errorf("goroutines grew from %d to %d over %d calls of New; want New to start none", goroutinesBefore, goroutinesAfter, reloads)
	}
	// A generous bound: 2 MiB over 10,000 calls is 200 bytes a call; the real growth is noise.
	if heapAfter > heapBefore+2<<20 {
		t.Errorf("heap grew from %d KiB to %d KiB over %d calls of New; want it flat (at most 2 MiB of noise)", heapBefore>>10, heapAfter>>10, reloads)
	}
	if sharedAfter != sharedBefore+1 {
		t.Errorf("shared remote key sources: %d before, %d after; want one more (the issuer's), not one per call of New", sharedBefore, sharedAfter)
	}
	if got := server.requests.Load(); got != fetches {
		t.Errorf("the key endpoint was asked %d more times during the reloads; want none (routers and reloads share the keys)", got-fetches)
	}
	for i, handler := range first {
		if rec, _ := serve(handler, request(token)); rec.Code != http.StatusOK {
			t.Errorf("handler %d of the first configuration after %d reloads: status %d (%s); want 200", i, reloads, rec.Code, errorDescription(rec))
		}
	}
}

// countSharedKeySources counts the remote key sources shared by all middleware instances.
func countSharedKeySources(p *process) int {
	n := 0
	p.keySets.Range(func(key, value interface{}) bool {
		n++
		return true
	})
	return n
}

// TestSharedKeySourcesKeepCredentialsApart: middlewares share a key source only when they
// name the same endpoint with the same credentials. Frontegg's is looked up by gateway, client
// ID and API key joined with spaces, so client "a b" with key "c" and client "a" with key
// "b c" share one, and the second middleware calls Frontegg with the first one's credentials.
func TestSharedKeySourcesKeepCredentialsApart(t *testing.T) {
	first := CreateConfig()
	first.APIGatewayURL = "http://127.0.0.1:9"
	first.ClientID = "client one"
	first.APIKey = "key"
	second := CreateConfig()
	second.APIGatewayURL = "http://127.0.0.1:9"
	second.ClientID = "client"
	second.APIKey = "one key"
	a := newHandler(t, first, &upstream{}).(*Middleware)
	b := newHandler(t, second, &upstream{}).(*Middleware)
	if a.frontegg == b.frontegg || b.frontegg.clientID != "client" || b.frontegg.apiKey != "one key" {
		t.Fatalf("clientId %q/apiKey %q got the Frontegg client of clientId %q/apiKey %q; want one of its own", second.ClientID, second.APIKey, b.frontegg.clientID, b.frontegg.apiKey)
	}
}

// TestRefusedConfigurationAnswers500: an error from New disables the router in Traefik, and a
// lower-priority router that also matches (a catch-all PathPrefix(`/`)) then served the path
// with no authentication. A refused configuration now keeps its route, answering every request
// 500 "misconfigured" without a word of the configuration, never calling the upstream, and
// logs the reason (middleware, key, fix) on every load.
func TestRefusedConfigurationAnswers500(t *testing.T) {
	captured := captureLog(t)
	config := givenConfig(t, map[string]interface{}{"role": "admin", "apiKey": "s3cr3t-api-key"})
	next := &upstream{}
	for load := 1; load <= 2; load++ {
		handler := handlerIn(testProcess(t), next, config, "billing-auth@docker")
		if handler == nil {
			t.Fatalf("load %d: New = nil; want a handler (an error would disable the router)", load)
		}
		for _, req := range []*http.Request{request(validToken(t)), request(""), request(tamperedPayload(t)), httptest.NewRequest(http.MethodOptions, "http://backend.example/admin", nil)} {
			rec, _ := serve(handler, req)
			body := rec.Body.String()
			if rec.Code != http.StatusInternalServerError || bodyField(rec.Body.Bytes(), "reason") != "misconfigured" || bodyField(rec.Body.Bytes(), "error") != "server_error" {
				t.Errorf("load %d, %s with Authorization %q: %d %s; want 500 server_error, reason misconfigured", load, req.Method, req.Header.Get("Authorization"), rec.Code, body)
			}
			if strings.Contains(body, "role") || strings.Contains(body, "s3cr3t") || rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("load %d: answer %q (Content-Type %q); want JSON naming no key or value of the configuration", load, body, rec.Header().Get("Content-Type"))
			}
		}
		var lines []string
		for _, line := range captured.lines(false) {
			if strings.Contains(line, "billing-auth@docker") {
				lines = append(lines, line)
			}
		}
		if len(lines) != load || !strings.Contains(lines[load-1], `withauth billing-auth@docker: configuration refused`) ||
			!strings.Contains(lines[load-1], `unknown key "role" (did you mean roles?)`) || strings.Contains(lines[load-1], "s3cr3t") {
			t.Errorf("after load %d, Traefik's log holds %q; want one ERROR line a load naming the middleware, the key and its fix, and no value", load, lines)
		}
	}
	if next.calls.Load() != 0 {
		t.Errorf("the upstream of a refused configuration was called %d times; want never", next.calls.Load())
	}
}

// TestNewNeverReturnsAnError: Traefik's entry point returns a handler and no error, for a
// configuration it refuses too (an error would disable the router, and a catch-all router
// would serve the path): that handler answers 500.
func TestNewNeverReturnsAnError(t *testing.T) {
	config := givenConfig(t, map[string]interface{}{"roles": ""})
	next := &upstream{}
	handler, err := New(context.Background(), next, config, "refused@file")
	if err != nil || handler == nil {
		t.Fatalf("New(roles: \"\") = %v, %v; want a handler and no error", handler, err)
	}
	if rec, _ := serve(handler, request(validToken(t))); rec.Code != 500 || bodyField(rec.Body.Bytes(), "reason") != "misconfigured" || next.calls.Load() != 0 {
		t.Errorf("the handler of a refused configuration: %d %s; want 500 misconfigured, never the upstream", rec.Code, rec.Body.String())
	}
}

// TestRefusedConfigurationSharesNothing: a configuration refused at its last setting has touched
// nothing the process shares: no key source, Frontegg client, introspection endpoint, replay
// store, grant cache, identity header or remembered proof age.
func TestRefusedConfigurationSharesNothing(t *testing.T) {
	p := newProcess()
	owned := p.headers.owned.Load()
	for name, given := range map[string]map[string]interface{}{
		"jwks and introspection": {"publicKey": nil, "jwksUrl": "https://idp.example/jwks", "introspectionUrl": "https://idp.example/introspect",
			"forwardHeaders": map[string]interface{}{"X-Team": "team"}, "loginUrl": "not a URL"},
		"Frontegg": {"publicKey": nil, "clientId": "c", "apiKey": "k", "loginUrl": "not a URL"},
		"DPoP with Redis": {"dpop": "required", "dpopOrigins": "https://api.example.com", "dpopProofMaxAge": "9m",
			"replayStore": "redis://127.0.0.1:1", "cacheSize": "-1"},
	} {
		config := givenConfig(t, given)
		if given["publicKey"] == nil {
			if _, named := given["publicKey"]; named {
				delete(config.Given, "publicKey")
			}
		}
		if _, refused := handlerIn(p, &upstream{}, config, "refused").(misconfigured); !refused {
			t.Fatalf("%s: accepted; want refused by its last setting", name)
		}
	}
	count := func(m *sync.Map) int {
		n := 0
		m.Range(func(_, _ interface{}) bool { n++; return true })
		return n
	}
	p.proofs.mu.Lock()
	longest := p.proofs.longestMaxAgeNanos
	p.proofs.mu.Unlock()
	if n := count(&p.keySets) + count(&p.fronteggAPIs) + count(&p.introspections) + count(&p.replayStores); n != 0 || len(p.grants.caches) != 0 ||
		p.headers.owned.Load() != owned || longest != 0 {
		t.Errorf("after refused configurations: %d shared objects, %d grant caches, identity headers changed %v, proofs remembered %v; want nothing shared",
			n, len(p.grants.caches), p.headers.owned.Load() != owned, longest)
	}
}
