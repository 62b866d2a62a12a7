package withauth

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/internal/fronteggmock"
)

// newMockFrontegg serves a mock of Frontegg's API with key-1 as Frontegg's key, an active user
// access token uat-1 (admin, uploadFile) and tenant access token tat-1 (read-only).
func newMockFrontegg(t testing.TB) *mockFrontegg {
	api := fronteggmock.New("client-123", "api-key-456", string(readFixture(t, "keys/key-1.pub.pem")))
	api.AddAccessToken("users", "uat-1", fronteggmock.Grants{Roles: []string{"admin"}, Permissions: []string{"uploadFile"}})
	api.AddAccessToken("tenants", "tat-1", fronteggmock.Grants{Roles: []string{"read-only"}})
	m := &mockFrontegg{API: api, Server: httptest.NewServer(api)}
	t.Cleanup(func() {
		api.Close()
		m.Server.Close()
	})
	return m
}

type mockFrontegg struct {
	*fronteggmock.API
	Server *httptest.Server
}

// fronteggEnv exports what Frontegg's guide tells users to export, pointing at the mock.
func fronteggEnv(t *testing.T, m *mockFrontegg) {
	setenv(t, "FRONTEGG_CLIENT_ID", m.ClientID)
	setenv(t, "FRONTEGG_API_KEY", m.APIKey)
	setenv(t, "FRONTEGG_API_GATEWAY_URL", m.Server.URL)
}

// setenv sets an environment variable for one test. Unlike t.Setenv it calls os.Setenv from
// the test's own code, which Yaegi routes to the environment the interpreted plugin reads.
func setenv(t *testing.T, name, value string) {
	previous, had := os.LookupEnv(name)
	if err := os.Setenv(name, value); err != nil {
		t.Fatalf("setting %s: %v", name, err)
	}
	t.Cleanup(func() {
		if had {
			_ = os.Setenv(name, previous)
		} else {
			_ = os.Unsetenv(name)
		}
	})
}

// fronteggToken signs a Frontegg token of a type (with key-1, the mock's key), as Frontegg's
// identity service would, with changes applied (a nil value removes the claim); kid is
// Frontegg's own and means nothing to the vendor's key.
func fronteggToken(t testing.TB, tokenType string, changes map[string]interface{}) string {
	claims := userClaims(t, map[string]interface{}{"type": tokenType})
	switch tokenType {
	case "userApiToken":
		claims["sub"], claims["createdByUserId"] = "api-token-1", "creator-user-7"
	case "tenantApiToken":
		claims["sub"] = "tenant-api-token-1"
	case "userAccessToken":
		claims["sub"], claims["userId"] = "uat-1", "owner-user-9"
		delete(claims, "roles")
		delete(claims, "permissions")
	case "tenantAccessToken":
		claims["sub"] = "tat-1"
		delete(claims, "roles")
		delete(claims, "permissions")
	}
	changeClaims(claims, changes)
	return signRS256(t, privateKey(t, "key-1"), rs256Header("frontegg-kid-xyz"), claims)
}

// fronteggRequest carries token as Frontegg's clients send it: in Authorization as a bearer
// token, or in x-api-key for access tokens; header "" sends no credentials.
func fronteggRequest(path, header, token string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "http://backend.example"+path, nil)
	switch header {
	case "Authorization":
		req.Header.Set("Authorization", "Bearer "+token)
	case "X-Api-Key":
		req.Header.Set("x-api-key", token)
	}
	return req
}

// guideRoutes are the routes of Frontegg's "SDK Backend Protection" guide.
var guideRoutes = []struct {
	path        string
	roles       []string
	permissions []string
}{
	{"/shift", nil, nil},
	{"/admin", []string{"admin"}, nil},
	{"/home", []string{"admin, read-only"}, nil},
	{"/uploads", nil, []string{"uploadFile"}},
}

func TestFronteggGuideRoutesFromEnvironmentOnly(t *testing.T) {
	mock := newMockFrontegg(t)
	fronteggEnv(t, mock)
	handlers := map[string]http.Handler{}
	for _, route := range guideRoutes {
		config := CreateConfig() // nothing but the route's requirements
		config.Roles = route.roles
		config.Permissions = route.permissions
		handlers[route.path] = newHandler(t, config, &upstream{})
	}
	if mock.VendorAuths.Load() != 0 || mock.KeyFetches.Load() != 0 {
		t.Fatalf("New called Frontegg's API (%d vendor auths, %d key fetches); want no I/O in New", mock.VendorAuths.Load(), mock.KeyFetches.Load())
	}

	readOnly := fronteggToken(t, "userToken", map[string]interface{}{"roles": []string{"read-only"}, "permissions": []string{}})
	cases := []struct {
		name   string
		header string
		token  string
		want   map[string]int // path -> status
	}{
		{"user token with admin and uploadFile", "Authorization", fronteggToken(t, "userToken", nil),
			map[string]int{"/shift": 200, "/admin": 200, "/home": 200, "/uploads": 200}},
		{"user token read-only", "Authorization", readOnly,
			map[string]int{"/shift": 200, "/admin": 403, "/home": 200, "/uploads": 403}},
		{"user API token", "Authorization", fronteggToken(t, "userApiToken", nil),
			map[string]int{"/shift": 200, "/admin": 200, "/home": 200, "/uploads": 200}},
		{"tenant API token without roles", "Authorization", fronteggToken(t, "tenantApiToken", map[string]interface{}{"roles": []string{}, "permissions": []string{}}),
			map[string]int{"/shift": 200, "/admin": 403, "/home": 403, "/uploads": 403}},
		{"user access token (roles from Frontegg: admin, uploadFile)", "X-Api-Key", fronteggToken(t, "userAccessToken", nil),
			map[string]int{"/shift": 200, "/admin": 200, "/home": 200, "/uploads": 200}},
		{"tenant access token (roles from Frontegg: read-only)", "X-Api-Key", fronteggToken(t, "tenantAccessToken", nil),
			map[string]int{"/shift": 200, "/admin": 403, "/home": 200, "/uploads": 403}},
		{"access token not active and unknown to Frontegg", "X-Api-Key", fronteggToken(t, "userAccessToken", map[string]interface{}{"sub": "revoked-1"}),
			map[string]int{"/shift": 401, "/admin": 401, "/home": 401, "/uploads": 401}},
		{"access token in Authorization", "Authorization", fronteggToken(t, "userAccessToken", nil),
			map[string]int{"/shift": 401, "/admin": 401}},
		{"user token in x-api-key", "X-Api-Key", fronteggToken(t, "userToken", nil),
			map[string]int{"/shift": 401, "/admin": 401}},
		{"unknown token type", "Authorization", fronteggToken(t, "refreshToken", nil),
			map[string]int{"/shift": 401}},
		{"token signed by another key", "Authorization", signRS256(t, privateKey(t, "rogue"), rs256Header("k"), userClaims(t, map[string]interface{}{"type": "userToken"})),
			map[string]int{"/shift": 401, "/admin": 401}},
		{"no credentials", "", "", map[string]int{"/shift": 401, "/uploads": 401}},
	}
	for _, tc := range cases {
		for path, want := range tc.want {
			rec := httptest.NewRecorder()
			handlers[path].ServeHTTP(rec, fronteggRequest(path, tc.header, tc.token))
			if rec.Code != want {
				t.Errorf("%s on %s: status %d (body %s); want %d", tc.name, path, rec.Code, strings.TrimSpace(rec.Body.String()), want)
			}
		}
	}
	if got := mock.KeyFetches.Load(); got != 1 {
		t.Errorf("Frontegg's public key was fetched %d times for four routes; want once, shared", got)
	}
}

func TestFronteggUserContext(t *testing.T) {
	mock := newMockFrontegg(t)
	fronteggEnv(t, mock)
	config := CreateConfig()
	config.ClaimsHeader = "X-Auth-Claims"
	cases := []struct {
		header, token string
		wantID        string
	}{
		{"Authorization", fronteggToken(t, "userToken", nil), "6b3c1a2e-0f4d-4f4a-9d57-1c1f0e0d7a11"},
		{"Authorization", fronteggToken(t, "userApiToken", nil), "creator-user-7"},
		{"Authorization", fronteggToken(t, "tenantApiToken", map[string]interface{}{"id": "spoofed"}), ""},
		{"X-Api-Key", fronteggToken(t, "userAccessToken", nil), "owner-user-9"},
		{"X-Api-Key", fronteggToken(t, "tenantAccessToken", nil), ""},
	}
	for _, tc := range cases {
		next := &upstream{}
		req := fronteggRequest("/shift", tc.header, tc.token)
		req.Header.Set("X-Auth-Claims", "spoofed")
		rec := httptest.NewRecorder()
		newHandler(t, config, next).ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("%s token: status %d (%s); want 200", tc.header, rec.Code, rec.Body.String())
		}
		if got := next.header.Get("X-User-Id"); got != tc.wantID {
			t.Errorf("%s token: X-User-Id = %q; want %q", tc.header, got, tc.wantID)
		}
		raw, err := base64.RawURLEncoding.DecodeString(next.header.Get("X-Auth-Claims"))
		var claims map[string]interface{}
		if err != nil || json.Unmarshal(raw, &claims) != nil {
			t.Fatalf("X-Auth-Claims %q is not base64url JSON", next.header.Get("X-Auth-Claims"))
		}
		id, hasID := claims["id"]
		if tc.wantID != "" && id != tc.wantID || tc.wantID == "" && hasID {
			t.Errorf("X-Auth-Claims id = %v; want %q", id, tc.wantID)
		}
		if claims["email"] != "ada@example.com" || claims["tenantId"] != "9a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9" {
			t.Errorf("X-Auth-Claims lacks the verified claims: %v", claims)
		}
	}
}

func TestFronteggRevokedAccessTokenRefusedWithinTheCheckWindow(t *testing.T) {
	mock := newMockFrontegg(t)
	fronteggEnv(t, mock)
	config := CreateConfig()
	clock := newFakeClock()
	config.Now = clock.Now
	handler := newHandler(t, config, &upstream{})
	token := fronteggToken(t, "userAccessToken", nil)
	status := func() int {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, fronteggRequest("/shift", "X-Api-Key", token))
		return rec.Code
	}
	for i := 0; i < 5; i++ {
		if got := status(); got != 200 {
			t.Fatalf("active access token, request %d: status %d; want 200", i, got)
		}
	}
	if got := mock.Checks.Load(); got != 1 {
		t.Fatalf("5 requests within the check window asked Frontegg %d times; want 1", got)
	}
	mock.RevokeAccessToken("users", "uat-1")
	clock.Advance(accessTokenCheckTTL + time.Millisecond)
	if got := status(); got != 401 {
		t.Fatalf("revoked access token after the check window: status %d; want 401", got)
	}
}

func TestFronteggAPIFaultsNeverLetARequestThrough(t *testing.T) {
	for _, fault := range []string{"500", "hang", "garbage"} {
		fault := fault
		t.Run(fault, func(t *testing.T) {
			mock := newMockFrontegg(t)
			fronteggEnv(t, mock)
			mock.SetFault(fronteggmock.Fault(fault))
			config := CreateConfig()
			config.HTTPTimeout = "300ms"
			withoutRefreshFloor(t)
			config.MinRefreshInterval = "0s"
			clock := newFakeClock()
			config.Now = clock.Now
			next := &upstream{}
			handler := newHandler(t, config, next)
			tokens := map[string]string{"Authorization": fronteggToken(t, "userToken", nil), "X-Api-Key": fronteggToken(t, "userAccessToken", nil)}
			for header, token := range tokens {
				req := fronteggRequest("/shift", header, token)
				start := time.Now()
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				if rec.Code != 503 || next.calls.Load() != 0 || time.Since(start) > 3*time.Second {
					t.Fatalf("%s while the API answers %s: status %d after %v, upstream called %d times; want 503 within the timeout, upstream never",
						header, fault, rec.Code, time.Since(start), next.calls.Load())
				}
			}
			// The API recovers: the key is obtained and access tokens are checked again, once the
			// failed answer is no longer cached. A request may first join a fetch that still
			// hangs (bounded by httpTimeout); the next one fetches anew.
			mock.SetFault(fronteggmock.NoFault)
			clock.Advance(failedCheckTTL + time.Millisecond)
			for header, token := range tokens {
				req := fronteggRequest("/shift", header, token)
				var code int
				for attempt := 0; attempt < 3 && code != 200; attempt++ {
					rec := httptest.NewRecorder()
					handler.ServeHTTP(rec, req)
					code = rec.Code
				}
				if code != 200 {
					t.Fatalf("%s after the API recovered from %s: status %d; want 200", header, fault, code)
				}
			}
		})
	}
}

func TestFronteggKeptKeyAndVendorTokenRenewal(t *testing.T) {
	mock := newMockFrontegg(t)
	fronteggEnv(t, mock)
	mock.SetVendorTokenLifetime(1) // renewed at 80%: after 0.8 s
	config := CreateConfig()
	config.RefreshInterval = "1s"
	withoutRefreshFloor(t)
	config.MinRefreshInterval = "0s"
	clock := newFakeClock()
	config.Now = clock.Now
	handler := newHandler(t, config, &upstream{})
	token := fronteggToken(t, "userToken", nil)
	status := func() int {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, request(token))
		return rec.Code
	}
	if got := status(); got != 200 {
		t.Fatalf("first request: status %d; want 200", got)
	}
	clock.Advance(1100 * time.Millisecond) // past refreshInterval and the vendor token's renewal
	mock.SetFault(fronteggmock.FaultStatus)
	if got := status(); got != 200 {
		t.Fatalf("API failing after the key was obtained: status %d; want 200 from the kept key", got)
	}
	settleFetch(handler) // the refresh that request started, failing
	mock.SetFault(fronteggmock.NoFault)
	if got := status(); got != 200 {
		t.Fatalf("API back: status %d; want 200", got)
	}
	settleFetch(handler) // the refresh after the failure: a new vendor token, then the key
	if got := mock.VendorAuths.Load(); got < 2 {
		t.Fatalf("vendor token with expiresIn 1 was obtained %d times; want it renewed", got)
	}
}

func TestFronteggConfiguration(t *testing.T) {
	setenv(t, "FRONTEGG_CLIENT_ID", "")
	setenv(t, "FRONTEGG_API_KEY", "")
	setenv(t, "FRONTEGG_API_GATEWAY_URL", "")
	cases := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{"client ID without API key", func(c *Config) { c.ClientID = "abc" }, "clientId and apiKey: Frontegg vendor mode needs both"},
		{"API key without client ID", func(c *Config) { c.APIKey = "abc" }, "clientId and apiKey: Frontegg vendor mode needs both"},
		{"bad gateway", func(c *Config) { c.ClientID = "a"; c.APIKey = "b"; c.APIGatewayURL = "api.us.frontegg.com" }, "apiGatewayUrl: \"api.us.frontegg.com\" is not an http(s) URL"},
		{"bad claims header", func(c *Config) { c.ClientID = "a"; c.APIKey = "b"; c.ClaimsHeader = "Content-Type" }, "claimsHeader: \"Content-Type\" cannot carry the claims"},
		{"nothing at all", func(c *Config) {}, "or clientId and apiKey for Frontegg (or FRONTEGG_CLIENT_ID and FRONTEGG_API_KEY"},
	}
	for _, tc := range cases {
		config := CreateConfig()
		tc.change(config)
		_, err := build(testProcess(t), &upstream{}, config, "route")
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: New error = %v; want one containing %q", tc.name, err, tc.wantErr)
		}
	}
	config := CreateConfig()
	config.ClientID = "abc"
	config.APIKey = "def"
	if _, err := build(testProcess(t), &upstream{}, config, "route"); err != nil {
		t.Errorf("clientId and apiKey in the configuration, default gateway: New error %v; want none", err)
	}
}

func TestFronteggAccessTokenCheckFailingAfterTheKeyWasObtained(t *testing.T) {
	for _, fault := range []fronteggmock.Fault{fronteggmock.FaultStatus, fronteggmock.FaultJunk} {
		mock := newMockFrontegg(t)
		fronteggEnv(t, mock)
		config := CreateConfig()
		config.Roles = []string{"admin"}
		next := &upstream{}
		handler := newHandler(t, config, next)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, fronteggRequest("/admin", "Authorization", fronteggToken(t, "userToken", nil)))
		if rec.Code != 200 {
			t.Fatalf("user token before the fault: status %d; want 200", rec.Code)
		}
		mock.SetFault(fault)
		rec = httptest.NewRecorder()
		handler.ServeHTTP(rec, fronteggRequest("/admin", "X-Api-Key", fronteggToken(t, "userAccessToken", nil)))
		if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || next.calls.Load() != 1 {
			t.Fatalf("access token while the API answers %q: status %d (%s), Retry-After %q; want 503 with Retry-After, upstream not reached",
				fault, rec.Code, strings.TrimSpace(rec.Body.String()), rec.Header().Get("Retry-After"))
		}
	}
}

// TestFronteggVendorModeRefusesUntypedTokens: every token verified in vendor mode is signed by
// the vendor's Frontegg key, and Frontegg always sets type; the SDKs refuse one without it.
// Tokens of other issuers may have no type.
func TestFronteggVendorModeRefusesUntypedTokens(t *testing.T) {
	mock := newMockFrontegg(t)
	fronteggEnv(t, mock)
	next := &upstream{}
	rec, _ := serve(newHandler(t, CreateConfig(), next), fronteggRequest("/shift", "Authorization", fronteggToken(t, "userToken", map[string]interface{}{"type": nil})))
	if rec.Code != http.StatusUnauthorized || errorDescription(rec) != errNoFronteggType.Error() || next.calls.Load() != 0 {
		t.Fatalf("vendor mode, token without type: status %d (%s), upstream called %d times; want 401 \"no Frontegg token type\", upstream never",
			rec.Code, errorDescription(rec), next.calls.Load())
	}
	if rec, _ := serve(newHandler(t, pemConfig(t), &upstream{}), request(tokenWith(map[string]interface{}{"type": nil})(t))); rec.Code != http.StatusOK {
		t.Fatalf("another issuer's token without type: status %d (%s); want 200", rec.Code, errorDescription(rec))
	}
}

// TestFronteggAccessTokensDisabledIsAnInvalidToken: Frontegg answers 403 "Api tokens are
// disabled" once a vendor turns access tokens off; the SDKs take that as not authenticated.
// withauth answered 503 with Retry-After, so clients retried forever.
func TestFronteggAccessTokensDisabledIsAnInvalidToken(t *testing.T) {
	for _, roles := range [][]string{nil, {"admin"}} { // the active list, then the token's grants
		mock := newMockFrontegg(t)
		fronteggEnv(t, mock)
		config := CreateConfig()
		config.Roles = roles
		next := &upstream{}
		handler := newHandler(t, config, next)
		mock.SetFault(fronteggmock.FaultAccessDisabled)
		token := fronteggToken(t, "userAccessToken", nil)
		for i := 0; i < 3; i++ {
			rec, _ := serve(handler, fronteggRequest("/admin", "X-Api-Key", token))
			if rec.Code != http.StatusUnauthorized || rec.Header().Get("Retry-After") != "" || errorDescription(rec) != errAccessDisabled.Error() || next.calls.Load() != 0 {
				t.Fatalf("roles %v, access tokens disabled, request %d: status %d (%s), Retry-After %q, upstream called %d times; want 401 \"access tokens are disabled\", no Retry-After, upstream never",
					roles, i+1, rec.Code, errorDescription(rec), rec.Header().Get("Retry-After"), next.calls.Load())
			}
		}
		if got := mock.Checks.Load(); got != 1 {
			t.Errorf("roles %v: 3 requests asked Frontegg %d times; want 1 (the 403 cached like any answer)", roles, got)
		}
	}
}

// TestAccessTokenGrantsAreNotAuthorizationCredentials: the grant of an access token admitted
// in x-api-key is never found through Authorization, whose cache is looked up by the raw
// header value: "Authorization: x-api-key <token>" is no bearer credential and is refused.
func TestAccessTokenGrantsAreNotAuthorizationCredentials(t *testing.T) {
	mock := newMockFrontegg(t)
	fronteggEnv(t, mock)
	next := &upstream{}
	handler := newHandler(t, CreateConfig(), next)
	token := fronteggToken(t, "userAccessToken", nil)
	for i := 0; i < 2; i++ { // the second time the grant is cached against the current keys
		if rec, _ := serve(handler, fronteggRequest("/shift", "X-Api-Key", token)); rec.Code != http.StatusOK {
			t.Fatalf("access token in x-api-key, request %d: status %d (%s); want 200", i, rec.Code, errorDescription(rec))
		}
	}
	next.calls.Store(0)
	req := fronteggRequest("/shift", "", "")
	req.Header.Set("Authorization", "x-api-key "+token)
	if rec, _ := serve(handler, req); rec.Code != http.StatusUnauthorized || next.calls.Load() != 0 {
		t.Fatalf("Authorization: x-api-key <access token>: status %d, upstream reached %d times; want 401 and never (no bearer token, no x-api-key)", rec.Code, next.calls.Load())
	}
}

// TestFronteggAccessTokenGrantsHaveTheirOwnCache: access-token grants were cached under a key
// prefix, "\x00x-api-key <token>", which an Authorization value spelled that way found.
func TestFronteggAccessTokenGrantsHaveTheirOwnCache(t *testing.T) {
	mock := newMockFrontegg(t)
	fronteggEnv(t, mock)
	next := &upstream{}
	handler := newHandler(t, CreateConfig(), next)
	token := fronteggToken(t, "userAccessToken", nil)
	for i := 0; i < 2; i++ {
		if rec, _ := serve(handler, fronteggRequest("/shift", "X-Api-Key", token)); rec.Code != http.StatusOK {
			t.Fatalf("access token in x-api-key, request %d: status %d; want 200", i+1, rec.Code)
		}
	}
	next.calls.Store(0)
	req := fronteggRequest("/shift", "", "")
	req.Header["Authorization"] = []string{"\x00x-api-key " + token}
	if rec, _ := serve(handler, req); rec.Code != http.StatusUnauthorized || next.calls.Load() != 0 {
		t.Fatalf("Authorization %q: status %d, upstream called %d times; want 401, upstream never", "\\x00x-api-key <token>", rec.Code, next.calls.Load())
	}
}

// TestFronteggRedirectsAreNotFollowed: a gateway answering with a redirect must not hand the
// vendor's x-access-token to the host it names.
func TestFronteggRedirectsAreNotFollowed(t *testing.T) {
	elsewhere := newTrapServer(t)
	mock := newMockFrontegg(t)
	gateway := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/auth/vendor" {
			mock.API.ServeHTTP(rw, req)
			return
		}
		http.Redirect(rw, req, elsewhere.URL+req.URL.Path, http.StatusFound)
	}))
	t.Cleanup(gateway.Close)
	setenv(t, "FRONTEGG_CLIENT_ID", mock.ClientID)
	setenv(t, "FRONTEGG_API_KEY", mock.APIKey)
	setenv(t, "FRONTEGG_API_GATEWAY_URL", gateway.URL)
	next := &upstream{}
	rec, _ := serve(newHandler(t, CreateConfig(), next), fronteggRequest("/shift", "Authorization", fronteggToken(t, "userToken", nil)))
	if rec.Code != http.StatusServiceUnavailable || next.calls.Load() != 0 {
		t.Fatalf("gateway redirecting the key request: status %d, upstream called %d times; want 503, upstream never", rec.Code, next.calls.Load())
	}
	if got := elsewhere.requests.Load(); got != 0 {
		t.Fatalf("the redirect's target received %d requests; want none (redirects are not followed)", got)
	}
}

// TestFronteggTypesStayFrontegg: outside vendor mode a type that is not one of Frontegg's is
// another issuer's and ignored; Frontegg's types keep their header rules everywhere.
func TestFronteggTypesStayFrontegg(t *testing.T) {
	for _, tc := range []struct {
		tokenType interface{}
		want      int
	}{
		{"access", 200}, {"id_token", 200}, {7, 200}, {"userToken", 200},
		{"userAccessToken", 401}, {"tenantAccessToken", 401},
	} {
		rec, _ := serve(newHandler(t, pemConfig(t), &upstream{}), request(tokenWith(map[string]interface{}{"type": tc.tokenType})(t)))
		if rec.Code != tc.want {
			t.Errorf("another issuer's token of type %v in Authorization: status %d (%s); want %d", tc.tokenType, rec.Code, errorDescription(rec), tc.want)
		}
	}
	mock := newMockFrontegg(t)
	fronteggEnv(t, mock)
	rec, _ := serve(newHandler(t, CreateConfig(), &upstream{}), fronteggRequest("/shift", "Authorization", fronteggToken(t, "access", nil)))
	if rec.Code != http.StatusUnauthorized || errorDescription(rec) != errFronteggType.Error() {
		t.Errorf("vendor mode, type \"access\": status %d (%s); want 401 (every token there is Frontegg's)", rec.Code, errorDescription(rec))
	}
}

// TestFronteggAccessTokenGrantsForwarded: an access token's roles and permissions claims are
// Frontegg's placeholders; by default they are never forwarded, with accessTokenGrants "always"
// the real ones are fetched (and cached) and forwarded.
func TestFronteggAccessTokenGrantsForwarded(t *testing.T) {
	for _, always := range []bool{false, true} {
		mock := newMockFrontegg(t)
		fronteggEnv(t, mock)
		config := CreateConfig()
		if always {
			config.AccessTokenGrants = "always"
		}
		next := &upstream{}
		token := fronteggToken(t, "userAccessToken", map[string]interface{}{"roles": []interface{}{"FETCH-ROLES-BY-API"}, "permissions": []interface{}{"FETCH-PERMISSIONS-BY-API"}})
		rec, _ := serve(newHandler(t, config, next), fronteggRequest("/shift", "X-Api-Key", token))
		if rec.Code != http.StatusOK {
			t.Fatalf("accessTokenGrants always=%v: status %d (%s); want 200", always, rec.Code, errorDescription(rec))
		}
		roles, permissions := next.header.Get("X-User-Roles"), next.header.Get("X-User-Permissions")
		if !always && (roles != "" || permissions != "") || always && (roles != "admin" || permissions != "uploadFile") {
			t.Errorf("accessTokenGrants always=%v: X-User-Roles %q, X-User-Permissions %q; want %s", always, roles, permissions,
				map[bool]string{false: "both absent (never the placeholders)", true: "admin and uploadFile, Frontegg's grants"}[always])
		}
	}
	for value, want := range map[string]string{"sometimes": `accessTokenGrants: "sometimes" is not a setting`} {
		mock := newMockFrontegg(t)
		fronteggEnv(t, mock)
		config := CreateConfig()
		config.AccessTokenGrants = value
		if got := newError(t, config); !strings.Contains(got, want) {
			t.Errorf("accessTokenGrants %q: New error %q; want %q", value, got, want)
		}
	}
	config := pemConfig(t)
	config.AccessTokenGrants = "always"
	if got := newError(t, config); !strings.Contains(got, "applies to Frontegg vendor mode only") {
		t.Errorf("accessTokenGrants outside vendor mode: New error %q; want it refused", got)
	}
}

// TestFronteggKeyRotation: in vendor mode one key verifies every kid, so a rotation shows as a
// bad signature; that triggers one refetch (throttled by minRefreshInterval, shared), then the
// token is verified again: a rotation costs seconds, not refreshInterval.
func TestFronteggKeyRotation(t *testing.T) {
	mock := newMockFrontegg(t)
	fronteggEnv(t, mock)
	withoutRefreshFloor(t)
	config := CreateConfig()
	config.MinRefreshInterval = "200ms"
	clock := newFakeClock()
	config.Now = clock.Now
	handler := newHandler(t, config, &upstream{})
	if rec, _ := serve(handler, fronteggRequest("/shift", "Authorization", fronteggToken(t, "userToken", nil))); rec.Code != http.StatusOK {
		t.Fatalf("before the rotation: status %d; want 200", rec.Code)
	}
	mock.RotateKey(string(readFixture(t, "keys/key-2.pub.pem")))
	rotated := signRS256(t, privateKey(t, "key-2"), rs256Header("frontegg-kid-xyz"), userClaims(t, map[string]interface{}{"type": "userToken"}))
	clock.Advance(250 * time.Millisecond) // past minRefreshInterval since the first fetch
	fetches := mock.KeyFetches.Load()
	for i, want := range []int{http.StatusOK, http.StatusOK} {
		if rec, _ := serve(handler, fronteggRequest("/shift", "Authorization", rotated)); rec.Code != want {
			t.Fatalf("a token of the rotated key, request %d: status %d (%s); want %d", i+1, rec.Code, errorDescription(rec), want)
		}
	}
	if got := mock.KeyFetches.Load() - fetches; got != 1 {
		t.Errorf("the rotation made %d key fetches; want 1", got)
	}
	// Forgeries signed by another key cause at most one fetch per minRefreshInterval.
	fetches = mock.KeyFetches.Load()
	forged := signRS256(t, privateKey(t, "rogue"), rs256Header("x"), userClaims(t, map[string]interface{}{"type": "userToken"}))
	for i := 0; i < 20; i++ {
		if rec, _ := serve(handler, fronteggRequest("/shift", "Authorization", forged)); rec.Code != http.StatusUnauthorized {
			t.Fatalf("a forged token: status %d; want 401", rec.Code)
		}
	}
	if got := mock.KeyFetches.Load() - fetches; got > 1 {
		t.Errorf("20 forged tokens within minRefreshInterval made %d key fetches; want at most 1", got)
	}
}

// TestFronteggAccessTokensOnlyInAPIKey: in vendor mode with tokenHeader, tokenCookie and
// tokenQueryParameter, a revoked userAccessToken or a tenantAccessToken never listed as active
// got 200 with its owner's identity from those sources, where Frontegg was never asked about
// it. Access tokens are accepted in x-api-key only (where Frontegg is asked); every other
// source takes the token types Authorization takes.
func TestFronteggAccessTokensOnlyInAPIKey(t *testing.T) {
	mock := newMockFrontegg(t)
	fronteggEnv(t, mock)
	config := CreateConfig()
	config.TokenHeader = "X-Auth-Token"
	config.TokenCookie = "__session"
	config.TokenQueryParameter = "access_token"
	next := &upstream{}
	handler := newHandler(t, config, next)
	accessTokens := map[string]string{
		"an active user access token":        fronteggToken(t, "userAccessToken", nil),
		"a revoked user access token":        fronteggToken(t, "userAccessToken", map[string]interface{}{"sub": "revoked-1"}),
		"a tenant access token never active": fronteggToken(t, "tenantAccessToken", map[string]interface{}{"sub": "tat-never"}),
	}
	for name, token := range accessTokens {
		for _, source := range []string{"header", "cookie", "query"} {
			for i := 0; i < 2; i++ { // a cache hit must not differ
				next.calls.Store(0)
				rec, _ := serve(handler, sourceRequest(source, token))
				if rec.Code != http.StatusUnauthorized || bodyField(rec.Body.Bytes(), "reason") != "wrong_token_type" || next.calls.Load() != 0 {
					t.Errorf("%s in the %s, request %d: %d %s, upstream called %d times; want 401 wrong_token_type and no upstream call",
						name, source, i+1, rec.Code, rec.Body.String(), next.calls.Load())
				}
			}
		}
	}
	for _, source := range []string{"header", "cookie", "query"} {
		if rec, _ := serve(handler, sourceRequest(source, fronteggToken(t, "userToken", nil))); rec.Code != http.StatusOK {
			t.Errorf("a user token in the %s: status %d (%s); want 200", source, rec.Code, errorDescription(rec))
		}
	}
	if rec, _ := serve(handler, fronteggRequest("/admin", "X-Api-Key", accessTokens["an active user access token"])); rec.Code != http.StatusOK {
		t.Errorf("an active user access token in x-api-key: status %d (%s); want 200", rec.Code, errorDescription(rec))
	}
}
