package withauth

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Fixtures: RSA keys in testdata/keys (key-1 and key-2 are in testdata/keys/jwks.json, rogue is
// in no key set) and the claims of a Frontegg user token in testdata/claims.

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatalf("reading fixture %s: %v", name, err)
	}
	return data
}

func privateKey(t testing.TB, name string) *rsa.PrivateKey {
	t.Helper()
	block, _ := pem.Decode(readFixture(t, "keys/"+name+".key.pem"))
	if block == nil {
		t.Fatalf("fixture keys/%s.key.pem holds no PEM block", name)
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("fixture keys/%s.key.pem: %v", name, err)
	}
	return key
}

// userClaims returns the fixture claims valid for an hour, with changes applied: a nil value
// removes the claim.
func userClaims(t testing.TB, changes map[string]interface{}) map[string]interface{} {
	t.Helper()
	var claims map[string]interface{}
	if err := json.Unmarshal(readFixture(t, "claims/frontegg-user.json"), &claims); err != nil {
		t.Fatalf("fixture claims/frontegg-user.json: %v", err)
	}
	now := time.Now().Unix()
	claims["iat"] = now
	claims["exp"] = now + 3600
	return changeClaims(claims, changes)
}

// changeClaims applies changes to claims: a nil value removes the claim.
func changeClaims(claims, changes map[string]interface{}) map[string]interface{} {
	for name, value := range changes {
		if value == nil {
			delete(claims, name)
		} else {
			claims[name] = value
		}
	}
	return claims
}

func segment(t testing.TB, value interface{}) string {
	t.Helper()
	data, err := json.Marshal(value)
	if err != nil {
		t.Fatalf("encoding %v: %v", value, err)
	}
	return base64.RawURLEncoding.EncodeToString(data)
}

// signRS256 makes a compact JWS of header and claims signed with key.
func signRS256(t testing.TB, key *rsa.PrivateKey, header, claims interface{}) string {
	t.Helper()
	input := segment(t, header) + "." + segment(t, claims)
	digest := sha256.Sum256([]byte(input))
	signature, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(signature)
}

func rs256Header(kid string) map[string]interface{} {
	return map[string]interface{}{"alg": "RS256", "typ": "JWT", "kid": kid}
}

// upstream records what the protected service received.
type upstream struct {
	calls  int
	header http.Header
}

func (u *upstream) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	u.calls++
	u.header = req.Header.Clone()
	rw.WriteHeader(http.StatusOK)
}

func newHandler(t testing.TB, config *Config, next http.Handler) http.Handler {
	t.Helper()
	handler, err := New(context.Background(), next, config, "test")
	if err != nil {
		t.Fatalf("New: unexpected error: %v", err)
	}
	return handler
}

func pemConfig(t testing.TB) *Config {
	config := CreateConfig()
	config.PublicKey = string(readFixture(t, "keys/key-1.pub.pem"))
	return config
}

// serveJWKS serves testdata/keys/jwks.json (or what body returns) and counts the requests.
type jwksServer struct {
	*httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	body     []byte
	status   int
}

func newJWKSServer(t testing.TB) *jwksServer {
	withoutRefreshFloor(t)
	s := &jwksServer{body: readFixture(t, "keys/jwks.json"), status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(rw http.ResponseWriter, req *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	body, status := s.body, s.status
	s.mu.Unlock()
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	_, _ = rw.Write(body)
}

func (s *jwksServer) set(status int, body []byte) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

// withoutRefreshFloor lets the test's configurations refetch keys at once (minRefreshInterval
// "0s"), so that rotations need no waiting; TestMinRefreshIntervalHasAFloor keeps the floor.
func withoutRefreshFloor(t testing.TB) {
	saved := minRefreshFloor
	minRefreshFloor = 0
	t.Cleanup(func() { minRefreshFloor = saved })
}

// jwksConfig points a fresh config at server. Every test uses its own server URL, so it gets
// its own shared key cache.
func jwksConfig(server *jwksServer) *Config {
	config := CreateConfig()
	config.JWKSURL = server.URL + "/.well-known/jwks.json"
	config.MinRefreshInterval = "0s"
	return config
}

func request(token string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "http://backend.example/admin", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

func TestNewRejectsBadConfiguration(t *testing.T) {
	pemKey := string(readFixture(t, "keys/key-1.pub.pem"))
	cases := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{"no key source", func(c *Config) {}, "no key source: set jwksUrl"},
		{"two key sources", func(c *Config) { c.JWKSURL = "https://idp.example/jwks"; c.PublicKey = pemKey }, "jwksUrl and publicKey are both set"},
		{"jwksUrl not a URL", func(c *Config) { c.JWKSURL = "idp.example/jwks" }, "jwksUrl: \"idp.example/jwks\" is not an http(s) URL"},
		{"jwksUrl other scheme", func(c *Config) { c.JWKSURL = "file:///etc/passwd" }, "jwksUrl: \"file:///etc/passwd\" is not an http(s) URL"},
		{"issuer not a URL", func(c *Config) { c.Issuer = "frontegg" }, "issuer: \"frontegg/.well-known/jwks.json\" is not an http(s) URL"},
		{"publicKey not PEM", func(c *Config) { c.PublicKey = "abc" }, "publicKey: no PEM block found"},
		{"publicKey not RSA", func(c *Config) { c.PublicKey = string(readFixture(t, "keys/ec.pub.pem")) }, "publicKey: the key is a *ecdsa.PublicKey, not an RSA key"},
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
		{"empty rolesClaim", func(c *Config) { c.PublicKey = pemKey; c.RolesClaim = " " }, "rolesClaim: must name a claim"},
		{"forward header without claim", func(c *Config) { c.PublicKey = pemKey; c.ForwardHeaders = map[string]string{"X-Plan": ""} }, "forwardHeaders.X-Plan: names no claim"},
		{"forward into Authorization", func(c *Config) { c.PublicKey = pemKey; c.ForwardHeaders = map[string]string{"authorization": "sub"} }, "forwardHeaders: \"authorization\" cannot carry a claim"},
		{"forward into invalid name", func(c *Config) { c.PublicKey = pemKey; c.ForwardHeaders = map[string]string{"X User": "sub"} }, "forwardHeaders: \"X User\" cannot carry a claim"},
		{"negative cache size", func(c *Config) { c.PublicKey = pemKey; c.CacheSize = -1 }, "cacheSize: -1 is negative"},
	}
	for _, tc := range cases {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			config := CreateConfig()
			tc.change(config)
			handler, err := New(context.Background(), &upstream{}, config, "route")
			if err == nil {
				t.Fatalf("New accepted the configuration (handler %T); want an error containing %q", handler, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "withauth route: ") {
				t.Fatalf("New error = %q; want it to start with \"withauth route: \" and contain %q", err, tc.wantErr)
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
	if _, err := New(context.Background(), &upstream{}, config, "catalog"); err != nil {
		t.Fatalf("New rejected the catalog testData: %v", err)
	}
	if manifest := string(readFixture(t, "../.traefik.yml")); !strings.Contains(manifest, "jwksUrl: https://app-demo.frontegg.com/.well-known/jwks.json") {
		t.Fatalf(".traefik.yml testData should configure jwksUrl https://app-demo.frontegg.com/.well-known/jwks.json as this test does")
	}
}

func TestNewIsOfflineAndCheap(t *testing.T) {
	// An endpoint that fails the test if New contacts it: keys are only fetched on first use.
	server := newJWKSServer(t)
	config := jwksConfig(server)
	for i := 0; i < 100; i++ {
		newHandler(t, config, &upstream{})
	}
	if got := server.requests.Load(); got != 0 {
		t.Fatalf("New fetched keys %d times; want no network I/O in New", got)
	}
}

// tokenCase is a request through one handler and what must come of it.
type tokenCase struct {
	name        string
	config      func(*Config)
	token       func(t testing.TB) string
	header      func(*http.Request)
	wantStatus  int
	wantError   string // the error code in WWW-Authenticate and the JSON body
	wantDetail  string // part of error_description
	wantForward map[string]string
}

func validToken(t testing.TB) string {
	return signRS256(t, privateKey(t, "key-1"), rs256Header("key-1"), userClaims(t, nil))
}

func tokenWith(changes map[string]interface{}) func(t testing.TB) string {
	return func(t testing.TB) string {
		return signRS256(t, privateKey(t, "key-1"), rs256Header("key-1"), userClaims(t, changes))
	}
}

func literal(token string) func(t testing.TB) string {
	return func(t testing.TB) string { return token }
}

// hmacToken is the classic key-confusion forgery: HS256 keyed with the server's public key.
func hmacToken(t testing.TB, alg string, secret []byte) string {
	input := segment(t, map[string]string{"alg": alg, "typ": "JWT", "kid": "key-1"}) + "." + segment(t, userClaims(t, nil))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func tamperedPayload(t testing.TB) string {
	parts := strings.Split(validToken(t), ".")
	parts[1] = segment(t, userClaims(t, map[string]interface{}{"roles": []string{"admin", "owner"}}))
	return strings.Join(parts, ".")
}

func runTokenCases(t *testing.T, base func(testing.TB) *Config, cases []tokenCase) {
	for _, tc := range cases {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			config := base(t)
			if tc.config != nil {
				tc.config(config)
			}
			next := &upstream{}
			handler := newHandler(t, config, next)
			token := ""
			if tc.token != nil {
				token = tc.token(t)
			}
			req := request(token)
			if tc.header != nil {
				tc.header(req)
			}
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			checkAnswer(t, rec, next, tc)
		})
	}
}

func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, next *upstream, tc tokenCase) {
	t.Helper()
	if rec.Code != tc.wantStatus {
		t.Fatalf("status = %d (body %s); want %d", rec.Code, rec.Body.String(), tc.wantStatus)
	}
	if tc.wantStatus == http.StatusOK {
		if next.calls != 1 {
			t.Fatalf("upstream called %d times; want once", next.calls)
		}
		for name, want := range tc.wantForward {
			if got := next.header.Get(name); got != want {
				t.Errorf("upstream header %s = %q; want %q", name, got, want)
			}
		}
		return
	}
	if next.calls != 0 {
		t.Fatalf("upstream called for a request answered %d; want it never reached", rec.Code)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q; want application/json", got)
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", rec.Body.String(), err)
	}
	challenge := rec.Header().Get("WWW-Authenticate")
	switch {
	case tc.wantStatus == http.StatusServiceUnavailable:
		if rec.Header().Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After")
		}
	case tc.wantError == "":
		if challenge != `Bearer realm="withauth"` {
			t.Errorf("WWW-Authenticate = %q; want the bare challenge Bearer realm=\"withauth\"", challenge)
		}
	default:
		if !strings.HasPrefix(challenge, `Bearer realm="withauth", error="`+tc.wantError+`", error_description="`) {
			t.Errorf("WWW-Authenticate = %q; want error=%q with a description", challenge, tc.wantError)
		}
	}
	if tc.wantError != "" && body["error"] != tc.wantError {
		t.Errorf("body error = %q; want %q", body["error"], tc.wantError)
	}
	if !strings.Contains(body["error_description"], tc.wantDetail) {
		t.Errorf("body error_description = %q; want it to contain %q", body["error_description"], tc.wantDetail)
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
		{name: "no Authorization header", wantStatus: 401, wantDetail: "a bearer token is required"},
		{name: "another scheme", header: func(r *http.Request) { r.Header.Set("Authorization", "Basic YWRhOnB3") }, wantStatus: 401},
		{name: "bearer without token", header: func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }, wantStatus: 400, wantError: "invalid_request"},
		{name: "two Authorization headers", token: validToken, header: func(r *http.Request) { r.Header.Add("Authorization", "Bearer x.y.z") },
			wantStatus: 400, wantError: "invalid_request", wantDetail: "more than one Authorization header"},

		// Forgeries and invalid tokens.
		{name: "garbage", token: literal("not-a-token"), wantStatus: 401, wantError: "invalid_token", wantDetail: "not a compact JWS"},
		{name: "alg none", token: func(t testing.TB) string {
			return segment(t, map[string]string{"alg": "none"}) + "." + segment(t, userClaims(t, nil)) + "."
		}, wantStatus: 401, wantError: "invalid_token", wantDetail: "not signed with RS256"},
		{name: "alg None with a signature", token: func(t testing.TB) string {
			parts := strings.Split(validToken(t), ".")
			return segment(t, map[string]string{"alg": "None", "kid": "key-1"}) + "." + parts[1] + "." + parts[2]
		}, wantStatus: 401, wantError: "invalid_token", wantDetail: "not signed with RS256"},
		{name: "HS256 keyed with the PEM public key", token: func(t testing.TB) string {
			return hmacToken(t, "HS256", readFixture(t, "keys/key-1.pub.pem"))
		}, wantStatus: 401, wantError: "invalid_token", wantDetail: "not signed with RS256"},
		{name: "tampered payload", token: tamperedPayload, wantStatus: 401, wantError: "invalid_token", wantDetail: "signature is invalid"},
		{name: "signed by another key", token: func(t testing.TB) string {
			return signRS256(t, privateKey(t, "rogue"), rs256Header("key-1"), userClaims(t, nil))
		}, wantStatus: 401, wantError: "invalid_token", wantDetail: "signature is invalid"},
		{name: "expired", token: tokenWith(map[string]interface{}{"exp": now - 60}), wantStatus: 401, wantError: "invalid_token", wantDetail: "expired"},
		{name: "no exp", token: tokenWith(map[string]interface{}{"exp": nil}), wantStatus: 401, wantError: "invalid_token", wantDetail: "no numeric exp"},
		{name: "exp as a string", token: tokenWith(map[string]interface{}{"exp": "9999999999"}), wantStatus: 401, wantError: "invalid_token", wantDetail: "no numeric exp"},
		{name: "nbf in the future", token: tokenWith(map[string]interface{}{"nbf": now + 120}), wantStatus: 401, wantError: "invalid_token", wantDetail: "not valid yet"},
		{name: "iat in the future", token: tokenWith(map[string]interface{}{"iat": now + 120}), wantStatus: 401, wantError: "invalid_token", wantDetail: "issued in the future"},
		{name: "wrong issuer", config: func(c *Config) { c.Issuer = "https://app-other.frontegg.com" }, token: validToken, wantStatus: 401, wantError: "invalid_token", wantDetail: "issuer"},
		{name: "wrong audience", config: func(c *Config) { c.Audience = []string{"api"} }, token: validToken, wantStatus: 401, wantError: "invalid_token", wantDetail: "audience"},
		{name: "audience of another type", config: func(c *Config) { c.Audience = []string{"1"} }, token: tokenWith(map[string]interface{}{"aud": 1}), wantStatus: 401, wantError: "invalid_token", wantDetail: "audience"},
		{name: "encrypted token", token: literal("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"), wantStatus: 401, wantError: "invalid_token", wantDetail: "JWE"},
		{name: "claims not an object", token: func(t testing.TB) string {
			return signRS256(t, privateKey(t, "key-1"), rs256Header("key-1"), []string{"admin"})
		}, wantStatus: 401, wantError: "invalid_token", wantDetail: "not a JSON object"},

		// Authenticated, not authorised.
		{name: "role missing", config: func(c *Config) { c.Roles = []string{"owner"} }, token: validToken, wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles claim missing", config: func(c *Config) { c.Roles = []string{"admin"} }, token: tokenWith(map[string]interface{}{"roles": nil}), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles claim a string is no match", config: func(c *Config) { c.Roles = []string{"admin"} }, token: tokenWith(map[string]interface{}{"roles": "admin"}), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "role matching is exact", config: func(c *Config) { c.Roles = []string{"Admin"} }, token: validToken, wantStatus: 403, wantError: "insufficient_scope"},
		{name: "permission missing", config: func(c *Config) { c.Permissions = []string{"deleteFile"} }, token: validToken, wantStatus: 403, wantError: "insufficient_scope"},
		{name: "role met, permission not", config: func(c *Config) { c.Roles = []string{"admin"}; c.Permissions = []string{"deleteFile"} }, token: validToken, wantStatus: 403, wantError: "insufficient_scope"},
		{name: "permission met, role not", config: func(c *Config) { c.Roles = []string{"owner"}; c.Permissions = []string{"uploadFile"} }, token: validToken, wantStatus: 403, wantError: "insufficient_scope"},
	})
}

func TestIdentityHeadersCannotBeSpoofed(t *testing.T) {
	spoof := func(r *http.Request) {
		r.Header.Set("X-User-Id", "attacker")
		r.Header.Add("X-User-Roles", "admin")
		r.Header.Set("x-tenant-id", "other-tenant")
	}
	runTokenCases(t, pemConfig, []tokenCase{
		{name: "replaced by the token's", token: validToken, header: spoof, wantStatus: 200, wantForward: map[string]string{
			"X-User-Id": "6b3c1a2e-0f4d-4f4a-9d57-1c1f0e0d7a11", "X-User-Roles": "admin,read-only", "X-Tenant-Id": "9a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9",
		}},
		{name: "deleted when the claim is absent", token: tokenWith(map[string]interface{}{"sub": nil, "tenantId": nil}), header: spoof, wantStatus: 200,
			wantForward: map[string]string{"X-User-Id": "", "X-Tenant-Id": ""}},
		{name: "deleted on a preflight", header: func(r *http.Request) {
			spoof(r)
			r.Method = http.MethodOptions
			r.Header.Set("Origin", "https://app.example")
			r.Header.Set("Access-Control-Request-Method", "POST")
		}, wantStatus: 200, wantForward: map[string]string{"X-User-Id": "", "X-User-Roles": "", "X-Tenant-Id": ""}},
	})
}

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

func TestJWKSKeySelection(t *testing.T) {
	server := newJWKSServer(t)
	base := func(t testing.TB) *Config { return jwksConfig(server) }
	signedAs := func(keyFile, kid string) func(testing.TB) string {
		return func(t testing.TB) string {
			return signRS256(t, privateKey(t, keyFile), rs256Header(kid), userClaims(t, nil))
		}
	}
	runTokenCases(t, base, []tokenCase{
		{name: "kid key-1", token: signedAs("key-1", "key-1"), wantStatus: 200},
		{name: "kid key-2", token: signedAs("key-2", "key-2"), wantStatus: 200},
		{name: "kid selects the key: key-2 token named key-1", token: signedAs("key-2", "key-1"), wantStatus: 401, wantError: "invalid_token", wantDetail: "signature is invalid"},
		{name: "unknown kid", token: signedAs("rogue", "rogue"), wantStatus: 401, wantError: "invalid_token", wantDetail: "unknown key"},
		{name: "no kid with several keys", token: func(t testing.TB) string {
			return signRS256(t, privateKey(t, "key-1"), map[string]string{"alg": "RS256"}, userClaims(t, nil))
		}, wantStatus: 401, wantError: "invalid_token", wantDetail: "unknown key"},
		{name: "JWK for encryption is never used", token: signedAs("key-1", "enc-key"), wantStatus: 401, wantError: "invalid_token", wantDetail: "unknown key"},
		{name: "JWK for RS512 is never used", token: signedAs("key-1", "rs512-key"), wantStatus: 401, wantError: "invalid_token", wantDetail: "unknown key"},
		{name: "EC JWK is never used", token: signedAs("key-1", "ec-key"), wantStatus: 401, wantError: "invalid_token", wantDetail: "unknown key"},
		{name: "1024-bit JWK is never used", token: signedAs("weak-1024", "weak-1024"), wantStatus: 401, wantError: "invalid_token", wantDetail: "unknown key"},
		{name: "HS256 keyed with a JWK modulus", token: func(t testing.TB) string {
			return hmacToken(t, "HS256", privateKey(t, "key-1").N.Bytes())
		}, wantStatus: 401, wantError: "invalid_token", wantDetail: "not signed with RS256"},
	})
}

func TestIssuerAloneIsAKeySource(t *testing.T) {
	server := newJWKSServer(t)
	config := CreateConfig()
	config.Issuer = server.URL + "/"
	claims := userClaims(t, map[string]interface{}{"iss": server.URL + "/"})
	next := &upstream{}
	rec := httptest.NewRecorder()
	newHandler(t, config, next).ServeHTTP(rec, request(signRS256(t, privateKey(t, "key-1"), rs256Header("key-1"), claims)))
	if rec.Code != 200 || server.requests.Load() != 1 {
		t.Fatalf("status %d after %d JWKS fetches; want 200 after one fetch of <issuer>/.well-known/jwks.json", rec.Code, server.requests.Load())
	}
}

func TestKeysNeverObtainedAnswer503(t *testing.T) {
	server := newJWKSServer(t)
	server.set(http.StatusInternalServerError, []byte("down"))
	config := jwksConfig(server)
	config.MinRefreshInterval = "1m"
	config.RefreshInterval = "10m"
	handler := newHandler(t, config, &upstream{})
	for i := 0; i < 3; i++ {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, request(validToken(t)))
		checkAnswer(t, rec, &upstream{}, tokenCase{wantStatus: 503, wantError: "temporarily_unavailable", wantDetail: "could not be obtained"})
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
	server := newJWKSServer(t)
	onlyKey2 := strings.Replace(string(readFixture(t, "keys/jwks.json")), `"kid": "key-1"`, `"kid": "retired"`, 1)
	config := jwksConfig(server)
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
	server := newJWKSServer(t)
	config := jwksConfig(server)
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
	server := newJWKSServer(t)
	release := make(chan struct{})
	slow := server.Config.Handler
	server.Config.Handler = http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		<-release
		slow.ServeHTTP(rw, req)
	})
	config := jwksConfig(server)
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
	server := newJWKSServer(t)
	config := jwksConfig(server)
	config.RefreshInterval = "50ms"
	handler := newHandler(t, config, &upstream{})
	token := validToken(t)
	handler.ServeHTTP(httptest.NewRecorder(), request(token))
	time.Sleep(60 * time.Millisecond)
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, request(token))
	if rec.Code != 200 {
		t.Fatalf("request with stale keys: status %d; want 200 with the keys at hand", rec.Code)
	}
	deadline := time.Now().Add(2 * time.Second)
	for server.requests.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := server.requests.Load(); got != 2 {
		t.Fatalf("keys older than refreshInterval were fetched %d times in all; want a second fetch", got)
	}
}

func TestSlowKeyEndpointIsBoundedByHTTPTimeout(t *testing.T) {
	server := newJWKSServer(t)
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	server.Config.Handler = http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) { <-block })
	config := jwksConfig(server)
	config.HTTPTimeout = "200ms"
	handler := newHandler(t, config, &upstream{})
	start := time.Now()
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, request(validToken(t)))
	if elapsed := time.Since(start); rec.Code != 503 || elapsed > 2*time.Second {
		t.Fatalf("hanging key endpoint: status %d after %v; want 503 soon after httpTimeout (200ms)", rec.Code, elapsed)
	}
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
	if handler.cache.get("Bearer "+token) == nil {
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
	handler.cache.get("Bearer " + token).expiresUnixNano = time.Now().UnixNano() - 1
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

// panickingKeys stands in for a key source with a bug.
type panickingKeys struct{ reason string }

func (p *panickingKeys) lookup(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	panic(p.reason)
}

func (p *panickingKeys) epoch() *keyEpoch { return newStaticEpoch() }

func (p *panickingKeys) retryAfter() time.Duration { return 0 }

func TestPanicAnswers500ForThatRequestOnly(t *testing.T) {
	handler := newHandler(t, pemConfig(t), &upstream{}).(*Middleware)
	good := handler.keys
	handler.keys = &panickingKeys{reason: "injected"}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, request(validToken(t)))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "internal error") {
		t.Fatalf("injected panic: status %d, body %s; want 500 with an internal error", rec.Code, rec.Body.String())
	}
	handler.keys = good
	rec = httptest.NewRecorder()
	handler.ServeHTTP(rec, request(validToken(t)))
	if rec.Code != 200 {
		t.Fatalf("request after a panic: status %d; want 200", rec.Code)
	}
}

// Benchmarks of the request path, compiled (bench/ measures the same under Yaegi).

func benchmarkHandler(b *testing.B, cacheSize int) http.Handler {
	config := pemConfig(b)
	config.Roles = []string{"admin"}
	config.CacheSize = cacheSize
	return newHandler(b, config, http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {}))
}

// statusWriter keeps the status of the last answer and discards its body.
type statusWriter struct {
	header http.Header
	status int
}

func (w *statusWriter) Header() http.Header { return w.header }

func (w *statusWriter) Write(p []byte) (int, error) { return len(p), nil }

func (w *statusWriter) WriteHeader(status int) { w.status = status }

func serveBenchmark(b *testing.B, handler http.Handler, tokens []string, wantStatus int) {
	req := request(tokens[0])
	rw := &statusWriter{header: http.Header{}}
	credentials := make([][]string, len(tokens))
	for i, token := range tokens {
		credentials[i] = []string{"Bearer " + token}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req.Header["Authorization"] = credentials[i%len(tokens)]
		rw.status = http.StatusOK
		handler.ServeHTTP(rw, req)
	}
	b.StopTimer()
	if rw.status != wantStatus {
		b.Fatalf("status %d; want %d", rw.status, wantStatus)
	}
}

func BenchmarkCacheHit(b *testing.B) {
	serveBenchmark(b, benchmarkHandler(b, 10000), []string{validToken(b)}, 200)
}

func BenchmarkCacheMiss(b *testing.B) {
	serveBenchmark(b, benchmarkHandler(b, 0), []string{validToken(b)}, 200)
}

func BenchmarkRejectedToken(b *testing.B) {
	serveBenchmark(b, benchmarkHandler(b, 10000), []string{tamperedPayload(b)}, 401)
}

func TestOnlyCanonicalBearerSpellingsAreCached(t *testing.T) {
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
	if handler.cache.get("Bearer "+token) == nil {
		t.Fatalf("\"Bearer <token>\" was not cached")
	}
}
