package withauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// introspectionServer is an RFC 7662 endpoint for tests: it answers each token from answers
// (an inactive answer for the others), checks the request's shape and counts calls.
type introspectionServer struct {
	*httptest.Server
	calls atomic.Int64
	mu    sync.Mutex
	// answers maps a token to its JSON answer; fault, when set, is answered instead.
	answers  map[string]string
	fault    string
	problems []string
}

const introspectionClient, introspectionSecret = "withauth client", "s3cr3t:with&odd=chars"

func newIntrospectionServer(t testing.TB) *introspectionServer {
	s := &introspectionServer{answers: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *introspectionServer) serve(rw http.ResponseWriter, req *http.Request) {
	s.calls.Add(1)
	id, secret, basic := req.BasicAuth()
	s.mu.Lock()
	defer s.mu.Unlock()
	// RFC 6749 §2.3.1: each form-encoded before the Basic encoding.
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || !basic ||
		id != "withauth+client" || secret != "s3cr3t%3Awith%26odd%3Dchars" || req.FormValue("token_type_hint") != "access_token" {
		s.problems = append(s.problems, fmt.Sprintf("%s %s, basic %v %q %q, hint %q", req.Method, req.Header.Get("Content-Type"), basic, id, secret, req.FormValue("token_type_hint")))
	}
	switch s.fault {
	case "500":
		http.Error(rw, "down", http.StatusInternalServerError)
		return
	case "garbage":
		_, _ = rw.Write([]byte("<html>"))
		return
	case "active as text":
		_, _ = rw.Write([]byte(`{"active": "true", "sub": "mallory"}`))
		return
	}
	answer, known := s.answers[req.FormValue("token")]
	if !known {
		answer = `{"active": false}`
	}
	_, _ = rw.Write([]byte(answer))
}

func (s *introspectionServer) set(token string, members map[string]interface{}) {
	text, _ := json.Marshal(members)
	s.mu.Lock()
	s.answers[token] = string(text)
	s.mu.Unlock()
}

func (s *introspectionServer) setFault(fault string) {
	s.mu.Lock()
	s.fault = fault
	s.mu.Unlock()
}

func introspectionConfig(t testing.TB, s *introspectionServer, clock *fakeClock) *Config {
	config := pemConfig(t)
	config.Issuer = "https://app-demo.frontegg.com"
	config.IntrospectionURL = s.URL + "/introspect"
	config.IntrospectionClientID = introspectionClient
	config.IntrospectionClientSecret = introspectionSecret
	config.Now = clock.Now
	return config
}

// activeAnswer is Hydra's answer for an active opaque token, exp an hour from now.
func activeAnswer(now time.Time, changes map[string]interface{}) map[string]interface{} {
	members := map[string]interface{}{"active": true, "sub": "service-7", "client_id": "reports", "scope": "read write",
		"iss": "https://app-demo.frontegg.com", "aud": []string{"api"}, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "token_type": "Bearer"}
	for name, value := range changes {
		if value == nil {
			delete(members, name)
		} else {
			members[name] = value
		}
	}
	return members
}

func TestIntrospectedOpaqueTokens(t *testing.T) {
	s := newIntrospectionServer(t)
	clock := newFakeClock()
	config := introspectionConfig(t, s, clock)
	config.PermissionsClaim = "scope"
	config.Permissions = []string{"write"}
	config.Audience = []string{"api"}
	config.AuthorizedParties = []string{"reports"}
	next := &upstream{}
	handler := newHandler(t, config, next)
	now := clock.Now()
	s.set("ory_at_active.sig", activeAnswer(now, nil))
	s.set("ory_at_readonly.sig", activeAnswer(now, map[string]interface{}{"scope": "read"}))
	s.set("ory_at_expired.sig", activeAnswer(now, map[string]interface{}{"exp": now.Add(-time.Minute).Unix()}))
	s.set("ory_at_other_issuer.sig", activeAnswer(now, map[string]interface{}{"iss": "https://evil.example"}))
	s.set("ory_at_other_audience.sig", activeAnswer(now, map[string]interface{}{"aud": "web"}))
	s.set("ory_at_other_client.sig", activeAnswer(now, map[string]interface{}{"client_id": "intruder"}))
	for _, tc := range []struct {
		token, reason string
		status        int
	}{
		{"ory_at_active.sig", "", 200},
		{"ory_at_readonly.sig", "insufficient_scope", 403},
		{"ory_at_expired.sig", "expired", 401},
		{"ory_at_other_issuer.sig", "wrong_issuer", 401},
		{"ory_at_other_audience.sig", "wrong_audience", 401},
		{"ory_at_other_client.sig", "wrong_authorized_party", 401},
		{"ory_at_unknown.sig", "inactive_token", 401},
	} {
		next.calls.Store(0)
		rec, _ := serve(handler, request(tc.token))
		if rec.Code != tc.status || tc.status != 200 && bodyField(rec.Body.Bytes(), "reason") != tc.reason {
			t.Errorf("%s: status %d %s; want %d %s", tc.token, rec.Code, rec.Body.String(), tc.status, tc.reason)
		}
		if tc.status == 200 && (next.header.Get("X-User-Id") != "service-7" || next.header.Get("X-User-Permissions") != "read,write") {
			t.Errorf("%s: the upstream got X-User-Id %q, X-User-Permissions %q; want the answer's sub and scope", tc.token, next.header.Get("X-User-Id"), next.header.Get("X-User-Permissions"))
		}
	}
	s.mu.Lock()
	if len(s.problems) > 0 {
		t.Errorf("requests not as RFC 7662 and client_secret_basic say: %q", s.problems)
	}
	s.mu.Unlock()
}

// TestIntrospectionAnswersAreCachedAndBounded: an active answer serves until
// introspectionCacheDuration (a revocation counts after it), an inactive one for 5 s.
func TestIntrospectionAnswersAreCachedAndBounded(t *testing.T) {
	s := newIntrospectionServer(t)
	clock := newFakeClock()
	handler := newHandler(t, introspectionConfig(t, s, clock), &upstream{})
	s.set("opaque-1", activeAnswer(clock.Now(), nil))
	status := func(token string) int { rec, _ := serve(handler, request(token)); return rec.Code }
	for i := 0; i < 3; i++ {
		if got := status("opaque-1"); got != 200 {
			t.Fatalf("active token, request %d: status %d; want 200", i+1, got)
		}
		if got := status("opaque-2"); got != 401 {
			t.Fatalf("inactive token, request %d: status %d; want 401", i+1, got)
		}
	}
	if got := s.calls.Load(); got != 2 {
		t.Fatalf("3 requests each for an active and an inactive token made %d calls; want 2 (answers cached)", got)
	}
	s.set("opaque-1", map[string]interface{}{"active": false}) // revoked
	s.set("opaque-2", activeAnswer(clock.Now(), nil))          // issued meanwhile
	clock.Advance(inactiveAnswerTTL + time.Millisecond)
	if got := status("opaque-2"); got != 200 {
		t.Errorf("a token inactive more than 5 s ago, active now: status %d; want 200", got)
	}
	if got := status("opaque-1"); got != 200 {
		t.Errorf("a revoked token within introspectionCacheDuration: status %d; want 200 (its answer is trusted that long)", got)
	}
	clock.Advance(30 * time.Second)
	if got := status("opaque-1"); got != 401 {
		t.Errorf("a revoked token after introspectionCacheDuration: status %d; want 401", got)
	}
}

// TestIntrospectionFailuresAnswer503: an endpoint that fails, answers something else than
// RFC 7662's JSON, or hangs never lets a request through; the client secret is never logged.
func TestIntrospectionFailuresAnswer503(t *testing.T) {
	log := captureLog(t)
	for _, fault := range []string{"500", "garbage", "active as text", "hang"} {
		s := newIntrospectionServer(t)
		clock := newFakeClock()
		config := introspectionConfig(t, s, clock)
		config.HTTPTimeout = "300ms"
		next := &upstream{}
		handler := newHandler(t, config, next)
		s.set("opaque", activeAnswer(clock.Now(), nil))
		if fault == "hang" {
			release := make(chan struct{})
			s.Config.Handler = http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release })
			defer close(release)
		} else {
			s.setFault(fault)
		}
		start := time.Now()
		rec, _ := serve(handler, request("opaque"))
		if rec.Code != 503 || bodyField(rec.Body.Bytes(), "reason") != "introspection_unavailable" || rec.Header().Get("Retry-After") == "" ||
			next.calls.Load() != 0 || time.Since(start) > 3*time.Second {
			t.Errorf("endpoint %s: status %d %s, Retry-After %q, upstream called %d times after %v; want 503 introspection_unavailable with Retry-After, within the timeout, upstream never",
				fault, rec.Code, rec.Body.String(), rec.Header().Get("Retry-After"), next.calls.Load(), time.Since(start))
		}
	}
	for _, line := range log.lines(false) {
		if strings.Contains(line, "s3cr3t") || strings.Contains(line, "opaque") {
			t.Errorf("a log line holds the client secret or the token: %s", line)
		}
	}
}

// TestIntrospectionFloodIsFair: one client address sending made-up tokens as fast as it likes
// gets its share of the endpoint's budget (an eighth of introspectionRate) and then 429, never
// 503 and never the upstream; a client of another address, on another route of the endpoint,
// is served at once (S4-2), and tokens already seen active are revalidated from the reserve.
func TestIntrospectionFloodIsFair(t *testing.T) {
	s := newIntrospectionServer(t)
	clock := newFakeClock()
	next := &upstream{}
	flooded := newHandler(t, introspectionConfig(t, s, clock), next).(*Middleware)
	flooded.introspection.endpoint.budget.maxWait = 5 * time.Millisecond
	otherRoute := introspectionConfig(t, s, clock)
	otherRoute.Permissions = []string{"read"}
	otherRoute.PermissionsClaim = "scope"
	other := newHandler(t, otherRoute, next)
	s.set("ory_at_bob.sig", activeAnswer(clock.Now(), nil))
	from := func(token, address string) *http.Request {
		req := request(token)
		req.RemoteAddr = address + ":40000"
		return req
	}
	if rec, _ := serve(other, from("ory_at_bob.sig", "192.0.2.44")); rec.Code != 200 {
		t.Fatalf("Bob's active token before the flood: status %d; want 200", rec.Code)
	}
	codes := map[int]int{}
	for i := 0; i < defaultIntrospectionRate; i++ {
		rec, _ := serve(flooded, from(fmt.Sprint("made-up-", i), "203.0.113.9"))
		codes[rec.Code]++
		if rec.Code == 429 && (rec.Header().Get("Retry-After") == "" || bodyField(rec.Body.Bytes(), "reason") != "introspection_busy") {
			t.Fatalf("a flooding client past its share: Retry-After %q, %s; want Retry-After and reason introspection_busy", rec.Header().Get("Retry-After"), rec.Body.String())
		}
	}
	if codes[401] != defaultIntrospectionRate/8 || codes[429] != defaultIntrospectionRate-defaultIntrospectionRate/8 || next.calls.Load() != 1 {
		t.Fatalf("%d made-up tokens from one address in one second: answers %v, upstream reached %d times; want %d answered 401, the rest 429, the upstream only by Bob",
			defaultIntrospectionRate, codes, next.calls.Load(), defaultIntrospectionRate/8)
	}
	s.set("ory_at_alice.sig", activeAnswer(clock.Now(), nil))
	if rec, _ := serve(other, from("ory_at_alice.sig", "198.51.100.7")); rec.Code != http.StatusOK {
		t.Errorf("Alice's new active token from another address, on another route, during the flood: status %d %s; want 200",
			rec.Code, bodyField(rec.Body.Bytes(), "reason"))
	}
	// Bob's grant expires from the cache (introspectionCacheDuration): asking again revalidates.
	clock.Advance(31 * time.Second)
	for i := 0; i < defaultIntrospectionRate; i++ {
		serve(flooded, from(fmt.Sprint("made-up-again-", i), fmt.Sprint("203.0.113.", i)))
	}
	if rec, _ := serve(other, from("ory_at_bob.sig", "203.0.113.9")); rec.Code != http.StatusOK {
		t.Errorf("Bob's token revalidated after a flood from %d addresses took the rest of the budget: status %d %s; want 200 (the reserve)",
			defaultIntrospectionRate, rec.Code, bodyField(rec.Body.Bytes(), "reason"))
	}
}

// TestIntrospectionAnswersJudgedAsTokens: an active answer must be an access token's (S4-1:
// providers answer active for refresh tokens too); a missing iss is named as missing.
func TestIntrospectionAnswersJudgedAsTokens(t *testing.T) {
	s := newIntrospectionServer(t)
	clock := newFakeClock()
	next := &upstream{}
	handler := newHandler(t, introspectionConfig(t, s, clock), next)
	typed := introspectionConfig(t, s, clock)
	typed.Typ = []string{"at+jwt"}
	typedHandler := newHandler(t, typed, next)
	now := clock.Now()
	for _, tc := range []struct {
		name    string
		answer  map[string]interface{}
		handler http.Handler
		status  int
		reason  string
	}{
		{"Hydra's refresh token (token_use)", activeAnswer(now, map[string]interface{}{"token_use": "refresh_token", "exp": now.Add(720 * time.Hour).Unix()}), handler, 401, "wrong_token_type"},
		{"a refresh token (token_type)", activeAnswer(now, map[string]interface{}{"token_type": "refresh_token"}), handler, 401, "wrong_token_type"},
		{"an ID token (token_use)", activeAnswer(now, map[string]interface{}{"token_use": "id_token"}), handler, 401, "wrong_token_type"},
		{"token_use of another type", activeAnswer(now, map[string]interface{}{"token_use": 1}), handler, 401, "wrong_token_type"},
		{"an access token (token_use)", activeAnswer(now, map[string]interface{}{"token_use": "access_token"}), handler, 200, ""},
		{"a DPoP access token (token_type)", activeAnswer(now, map[string]interface{}{"token_type": "DPoP"}), handler, 200, ""},
		{"no token_use nor token_type", activeAnswer(now, map[string]interface{}{"token_type": nil}), handler, 200, ""},
		{"no token_use nor token_type where typ is set", activeAnswer(now, map[string]interface{}{"token_type": nil}), typedHandler, 401, "wrong_token_type"},
		{"Bearer where typ is set", activeAnswer(now, nil), typedHandler, 200, ""},
		{"no iss where issuer is set", activeAnswer(now, map[string]interface{}{"iss": nil}), handler, 401, "missing_issuer"},
	} {
		token := "ory_at_" + strings.ReplaceAll(tc.name, " ", "_")
		s.set(token, tc.answer)
		before := next.calls.Load()
		rec, _ := serve(tc.handler, request(token))
		if rec.Code != tc.status || tc.status != 200 && bodyField(rec.Body.Bytes(), "reason") != tc.reason {
			t.Errorf("%s: status %d %s; want %d %s", tc.name, rec.Code, rec.Body.String(), tc.status, tc.reason)
		}
		if reached := next.calls.Load() - before; (tc.status == 200) != (reached == 1) {
			t.Errorf("%s: the upstream was reached %d times; want once for 200, never otherwise", tc.name, reached)
		}
	}
}

// TestIntrospectedGrantsLifetime: a step-up grant is cached like any other (S4-4), and no grant
// outlives the answer's exp, whatever clockSkew (S4-6).
func TestIntrospectedGrantsLifetime(t *testing.T) {
	s := newIntrospectionServer(t)
	clock := newFakeClock()
	stepUp := introspectionConfig(t, s, clock)
	stepUp.StepUp = true
	stepUpHandler := newHandler(t, stepUp, &upstream{})
	now := clock.Now()
	s.set("ory_at_mfa.sig", activeAnswer(now, map[string]interface{}{
		"acr": "http://schemas.openid.net/pape/policies/2007/06/multi-factor", "amr": []string{"mfa", "otp"}}))
	for i := 0; i < 3; i++ {
		if rec, _ := serve(stepUpHandler, request("ory_at_mfa.sig")); rec.Code != http.StatusOK {
			t.Fatalf("step-up request %d: status %d %s; want 200", i+1, rec.Code, rec.Body.String())
		}
	}
	if got := s.calls.Load(); got != 1 {
		t.Errorf("3 requests with one step-up token (no stepUpMaxAge): %d introspection calls; want 1 (its grant cached)", got)
	}
	handler := newHandler(t, introspectionConfig(t, s, clock), &upstream{})
	s.set("ory_at_short.sig", activeAnswer(now, map[string]interface{}{"exp": now.Unix() + 5}))
	if rec, _ := serve(handler, request("ory_at_short.sig")); rec.Code != http.StatusOK {
		t.Fatalf("a token expiring in 5 s: status %d %s; want 200", rec.Code, rec.Body.String())
	}
	s.set("ory_at_short.sig", map[string]interface{}{"active": false}) // the provider: expired
	clock.Advance(6 * time.Second)
	if rec, _ := serve(handler, request("ory_at_short.sig")); rec.Code != http.StatusUnauthorized {
		t.Errorf("6 s later, past the answer's exp and within clockSkew and introspectionCacheDuration: status %d; want 401 (never past its exp)", rec.Code)
	}
}

// TestIntrospectAlways: JWTs are verified locally and then asked about, so that a revoked one is
// refused; with the default (opaque), a JWT is never sent to the endpoint.
func TestIntrospectAlways(t *testing.T) {
	s := newIntrospectionServer(t)
	clock := newFakeClock()
	token := validToken(t)
	for _, tc := range []struct {
		mode   string
		active bool
		want   int
		calls  int64
	}{{"always", true, 200, 1}, {"always", false, 401, 1}, {"opaque", false, 200, 0}} {
		freshStore(t) // each case judges the token anew
		config := introspectionConfig(t, s, clock)
		config.Introspect = tc.mode
		if tc.active {
			s.set(token, activeAnswer(clock.Now(), nil))
		} else {
			s.set(token, map[string]interface{}{"active": false})
		}
		before := s.calls.Load()
		rec, _ := serve(newHandler(t, config, &upstream{}), request(token))
		if rec.Code != tc.want || s.calls.Load()-before != tc.calls {
			t.Errorf("introspect %s, the JWT active %v: status %d %s after %d calls; want %d after %d", tc.mode, tc.active, rec.Code, rec.Body.String(), s.calls.Load()-before, tc.want, tc.calls)
		}
		s.mu.Lock()
		delete(s.answers, token)
		s.mu.Unlock()
	}
}

func TestIntrospectionConfiguration(t *testing.T) {
	for _, tc := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.Introspect = "always" }, "apply with introspectionUrl only"},
		{func(c *Config) { c.IntrospectionURL = "idp.example/introspect" }, "introspectionUrl: \"idp.example/introspect\" is not an http(s) URL"},
		{func(c *Config) {
			c.IntrospectionURL = "https://idp.example/introspect"
			c.IntrospectionClientID = "withauth"
		}, "introspectionClientId and introspectionClientSecret: only one is set"},
		{func(c *Config) { c.IntrospectionURL = "https://idp.example/introspect"; c.Introspect = "sometimes" }, `introspect: "sometimes" is not a mode`},
		{func(c *Config) {
			c.IntrospectionURL = "https://idp.example/introspect"
			c.IntrospectionCacheDuration = "soon"
		}, `introspectionCacheDuration: "soon" is not a duration`},
		{func(c *Config) { c.IntrospectionRate = 50 }, "apply with introspectionUrl only"},
		{func(c *Config) { c.IntrospectionURL = "https://idp.example/introspect"; c.IntrospectionRate = 0 }, "introspectionRate: 0 is not between 1 and 10000"},
		{func(c *Config) { c.IntrospectionURL = "https://idp.example/introspect"; c.IntrospectionConcurrency = 0 }, "introspectionConcurrency: 0 is not between 1 and 256"},
		{func(c *Config) {
			c.IntrospectionURL = "https://idp.example/introspect"
			c.IntrospectionConcurrency = 1000
		}, "introspectionConcurrency: 1000 is not between 1 and 256"},
	} {
		config := pemConfig(t)
		tc.change(config)
		if got := newError(t, config); !strings.Contains(got, tc.want) {
			t.Errorf("New logged %q; want %q", got, tc.want)
		}
	}
}

// TestIntrospectionKeepsDigestsOnly: a token over 64 KiB is refused before any call, and what
// the endpoint remembers of a token is its 32-byte digest, whatever the token's size, so that
// the inactive answers it keeps stay small.
func TestIntrospectionKeepsDigestsOnly(t *testing.T) {
	s := newIntrospectionServer(t)
	clock := newFakeClock()
	handler := newHandler(t, introspectionConfig(t, s, clock), &upstream{}).(*Middleware)
	if rec, _ := serve(handler, request(strings.Repeat("x", jose.MaxTokenBytes+1))); rec.Code != 401 || bodyField(rec.Body.Bytes(), "reason") != "token_too_large" || s.calls.Load() != 0 {
		t.Fatalf("an opaque token over 64 KiB: status %d %s after %d calls; want 401 token_too_large and no call", rec.Code, rec.Body.String(), s.calls.Load())
	}
	for i := 0; i < 20; i++ {
		token := fmt.Sprint(i, "-", strings.Repeat("y", 10000))
		req := request(token)
		req.RemoteAddr = fmt.Sprint("198.51.100.", i, ":40000") // each within its client's share
		if rec, _ := serve(handler, req); rec.Code != 401 {
			t.Fatalf("inactive 10 KB token %d: status %d; want 401", i, rec.Code)
		}
	}
	e := handler.introspection.endpoint
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.inactive) != 20 {
		t.Fatalf("%d inactive answers remembered; want 20", len(e.inactive))
	}
	for key := range e.inactive {
		if len(key) != 32 {
			t.Fatalf("an inactive answer is kept under a key of %d bytes; want the token's 32-byte SHA-256", len(key))
		}
	}
}

// TestIntrospectionFailureLines: a failing endpoint's log line names the middlewares that use it
// and says what failed in the operator's terms: the connection's own error (no "status 0"), and
// for a 401 the credentials to check; never the secret.
func TestIntrospectionFailureLines(t *testing.T) {
	captured := captureLog(t)
	clock := newFakeClock()
	s := newIntrospectionServer(t)
	s.Config.Handler = http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		http.Error(rw, "who are you", http.StatusUnauthorized)
	})
	handler := newHandler(t, introspectionConfig(t, s, clock), &upstream{})
	if rec, _ := serve(handler, request("opaque-token")); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("the endpoint answering 401: status %d; want 503", rec.Code)
	}
	closed := newIntrospectionServer(t)
	closed.Close()
	clock.Advance(2 * time.Second)
	serve(newHandler(t, introspectionConfig(t, closed, clock), &upstream{}), request("opaque-token"))
	lines := captured.lines(false)
	if len(lines) != 2 {
		t.Fatalf("two failing endpoints logged %q; want one line each", lines)
	}
	if want := "withauth test: introspection at " + s.URL + "/introspect failed (tokens it judges are answered 503): the endpoint refused withauth's credentials (status 401 Unauthorized); check introspectionClientId and introspectionClientSecret"; lines[0] != want {
		t.Errorf("a 401 from the endpoint logged %q; want %q", lines[0], want)
	}
	if !strings.HasPrefix(lines[1], "withauth test: introspection at ") || !strings.Contains(lines[1], "connection refused") || strings.Contains(lines[1], "status 0") {
		t.Errorf("an endpoint that refuses connections logged %q; want the middleware named, the connection's error, no status 0", lines[1])
	}
	for _, line := range lines {
		if strings.Contains(line, introspectionSecret) {
			t.Errorf("%q holds the client secret", line)
		}
	}
}
