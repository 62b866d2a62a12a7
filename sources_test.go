package withauth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// sourceRequest carries token in one of the sources: "header", "cookie" or "query".
func sourceRequest(source, token string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "http://backend.example/admin?page=2", nil)
	switch source {
	case "header":
		req.Header.Set("X-Auth-Token", token)
	case "cookie":
		req.AddCookie(&http.Cookie{Name: "theme", Value: "dark"})
		req.AddCookie(&http.Cookie{Name: "__session", Value: token})
	case "query":
		req.URL.RawQuery = "page=2&access_token=" + token
		req.RequestURI = req.URL.RequestURI()
	}
	return req
}

func sourcesConfig(t testing.TB) *Config {
	config := pemConfig(t)
	config.TokenHeader = "X-Auth-Token"
	config.TokenCookie = "__session"
	config.TokenQueryParameter = "access_token"
	return config
}

// TestTokenSources: a token header (with or without "Bearer "), a cookie and a query parameter
// carry tokens; the query parameter never reaches the upstream's URL.
func TestTokenSources(t *testing.T) {
	valid := validToken(t)
	for _, source := range []string{"header", "cookie", "query"} {
		next := &upstream{}
		var seen *http.Request
		next.check = func(req *http.Request) { seen = req }
		handler := newHandler(t, sourcesConfig(t), next)
		for i := 0; i < 2; i++ { // verified, then from the source's cache
			if rec, _ := serve(handler, sourceRequest(source, valid)); rec.Code != http.StatusOK {
				t.Fatalf("a token in the %s, request %d: status %d (%s); want 200", source, i+1, rec.Code, errorDescription(rec))
			}
		}
		if got := seen.Header.Get("X-User-Id"); got == "" {
			t.Errorf("a token in the %s: no X-User-Id upstream; want the verified sub", source)
		}
		if seen.URL.Query().Get("access_token") != "" || strings.Contains(seen.RequestURI, "access_token") || seen.URL.Query().Get("page") != "2" {
			t.Errorf("a token in the %s: the upstream's URL is %s (%s); want page=2 kept and access_token gone", source, seen.URL, seen.RequestURI)
		}
		if rec, _ := serve(handler, sourceRequest(source, tamperedPayload(t))); rec.Code != http.StatusUnauthorized {
			t.Errorf("a forged token in the %s: status %d; want 401", source, rec.Code)
		}
	}
	bearer := sourceRequest("header", "")
	bearer.Header.Set("X-Auth-Token", "Bearer "+valid)
	if rec, _ := serve(newHandler(t, sourcesConfig(t), &upstream{}), bearer); rec.Code != http.StatusOK {
		t.Errorf("X-Auth-Token: Bearer <token>: status %d; want 200", rec.Code)
	}
	two := sourceRequest("header", valid)
	two.Header.Add("X-Auth-Token", valid)
	if rec, _ := serve(newHandler(t, sourcesConfig(t), &upstream{}), two); rec.Code != http.StatusBadRequest {
		t.Errorf("two X-Auth-Token headers: status %d; want 400", rec.Code)
	}
}

// TestFirstSourceIsTheOnlyOneJudged: the sources are tried in order and the first present one
// decides; the others are never consulted, and a token admitted from one source is cached for
// that source only.
func TestFirstSourceIsTheOnlyOneJudged(t *testing.T) {
	valid := validToken(t)
	forged := tamperedPayload(t)
	cases := []struct {
		name   string
		build  func() *http.Request
		status int
	}{
		{"a valid Authorization beside a forged cookie", func() *http.Request {
			req := sourceRequest("cookie", forged)
			req.Header.Set("Authorization", "Bearer "+valid)
			return req
		}, 200},
		{"a forged Authorization beside a valid cookie", func() *http.Request {
			req := sourceRequest("cookie", valid)
			req.Header.Set("Authorization", "Bearer "+forged)
			return req
		}, 401},
		{"a forged header beside a valid query token", func() *http.Request {
			req := sourceRequest("query", valid)
			req.Header.Set("X-Auth-Token", forged)
			return req
		}, 401},
	}
	for _, tc := range cases {
		if rec, _ := serve(newHandler(t, sourcesConfig(t), &upstream{}), tc.build()); rec.Code != tc.status {
			t.Errorf("%s: status %d (%s); want %d", tc.name, rec.Code, errorDescription(rec), tc.status)
		}
	}
	freshStore(t)
	handler := newHandler(t, sourcesConfig(t), &upstream{})
	serve(handler, sourceRequest("cookie", valid))
	m := handler.(*tokenHeaderRoute).m
	if cachedGrant(m.caches[fromCookie], valid) == nil || cachedGrant(m.caches[fromAuthorization], "Bearer "+valid) != nil || cachedGrant(m.caches[fromQuery], valid) != nil {
		t.Errorf("a token admitted from the cookie: want its grant in the cookie's cache only")
	}
}

// TestForwardAuthorizationRemovesTheTokenFromItsSource: with forwardAuthorization false the token
// leaves the source that carried it, and only that (other cookies stay).
func TestForwardAuthorizationRemovesTheTokenFromItsSource(t *testing.T) {
	valid := validToken(t)
	for _, source := range []string{"header", "cookie"} {
		config := sourcesConfig(t)
		config.ForwardAuthorization = false
		next := &upstream{}
		if rec, _ := serve(newHandler(t, config, next), sourceRequest(source, valid)); rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d; want 200", source, rec.Code)
		}
		if got := next.header.Get("X-Auth-Token") + next.header.Get("Cookie"); strings.Contains(got, valid) {
			t.Errorf("%s, forwardAuthorization false: the upstream received the token (%q); want it removed", source, got)
		}
		if source == "cookie" && next.header.Get("Cookie") != "theme=dark" {
			t.Errorf("cookie, forwardAuthorization false: Cookie %q upstream; want the other cookies kept (theme=dark)", next.header.Get("Cookie"))
		}
	}
}

// TestForwardAuthorizationFalseIsTheSameOnACacheHit: a request judged by its Authorization
// header, carrying tokens in the other sources too, reaches the upstream without any of them,
// whether it was verified or answered from the cache.
func TestForwardAuthorizationFalseIsTheSameOnACacheHit(t *testing.T) {
	valid := validToken(t)
	config := sourcesConfig(t)
	config.TokenQueryParameter = "" // the cache-hit fast path serves routes without one
	config.ForwardAuthorization = false
	next := &upstream{}
	handler := newHandler(t, config, next)
	for i, path := range []string{"verified", "from the cache"} {
		req := sourceRequest("cookie", valid)
		req.Header.Set("X-Auth-Token", valid)
		req.Header.Set("Authorization", "Bearer "+valid)
		if rec, _ := serve(handler, req); rec.Code != http.StatusOK {
			t.Fatalf("request %d (%s): status %d (%s); want 200", i+1, path, rec.Code, errorDescription(rec))
		}
		for _, name := range []string{"Authorization", "X-Auth-Token", "Cookie"} {
			if got := next.header.Get(name); strings.Contains(got, valid) {
				t.Errorf("request %d (%s), forwardAuthorization false: the upstream received the token in %s; want it removed", i+1, path, name)
			}
		}
		if got := next.header.Get("Cookie"); got != "theme=dark" {
			t.Errorf("request %d (%s): Cookie %q upstream; want the other cookies kept (theme=dark)", i+1, path, got)
		}
	}
}

// TestOptional: no credentials pass with every identity header stripped; invalid credentials
// are still refused; valid ones as usual.
func TestOptional(t *testing.T) {
	config := pemConfig(t)
	config.Optional = true
	next := &upstream{}
	handler := newHandler(t, config, next)
	anonymous := request("")
	anonymous.Header.Set("X-User-Id", "mallory")
	anonymous.Header["X_user_roles"] = []string{"admin"}
	if rec, _ := serve(handler, anonymous); rec.Code != http.StatusOK || next.header.Get("X-User-Id") != "" || next.header["X_user_roles"] != nil {
		t.Fatalf("optional, no credentials: status %d, X-User-Id %q; want 200 with every identity header stripped", rec.Code, next.header.Get("X-User-Id"))
	}
	if rec, _ := serve(handler, request(tamperedPayload(t))); rec.Code != http.StatusUnauthorized {
		t.Errorf("optional, a forged token: status %d; want 401 (never downgraded to anonymous)", rec.Code)
	}
	if rec, _ := serve(handler, request(validToken(t))); rec.Code != http.StatusOK || next.header.Get("X-User-Id") == "" {
		t.Errorf("optional, a valid token: status %d, X-User-Id %q; want 200 with the identity", rec.Code, next.header.Get("X-User-Id"))
	}
	config.Roles = []string{"admin"}
	if got := newError(t, config); !strings.Contains(got, "optional: cannot be combined with roles") {
		t.Errorf("optional with roles: New error %q; want it refused", got)
	}
}

func TestTokenSourcesConfiguration(t *testing.T) {
	for header, want := range map[string]string{
		"Authorization": `tokenHeader: "Authorization" cannot carry the token`,
		"X-User-Id":     `tokenHeader: "X-User-Id" cannot carry the token`,
		"x_user_email":  `tokenHeader: "x_user_email" cannot carry the token`,
		"Bad Header":    `tokenHeader: "Bad Header" cannot carry the token`,
	} {
		config := pemConfig(t)
		config.TokenHeader = header
		if got := newError(t, config); !strings.Contains(got, want) {
			t.Errorf("tokenHeader %q: New error %q; want %q", header, got, want)
		}
	}
}

// TestTwoTokenCookiesAreRefused: with session=<good>; session=<forged>, the first was judged
// and both forwarded, so an upstream reading the last one saw the forged token.
func TestTwoTokenCookiesAreRefused(t *testing.T) {
	next := &upstream{}
	handler := newHandler(t, sourcesConfig(t), next)
	valid := validToken(t)
	for name, values := range map[string][]string{
		"a good then a forged cookie":   {valid, tamperedPayload(t)},
		"an empty then a forged cookie": {"", tamperedPayload(t)},
		"the same token twice":          {valid, valid},
	} {
		for i := 0; i < 2; i++ { // the first verified token is cached: a hit must not differ
			req := sourceRequest("header", "")
			req.Header.Del("X-Auth-Token")
			req.Header.Set("Cookie", "theme=dark; __session="+values[0]+"; __session="+values[1])
			rec, _ := serve(handler, req)
			if rec.Code != http.StatusBadRequest || bodyField(rec.Body.Bytes(), "reason") != "duplicate_credentials" || next.calls.Load() != 0 {
				t.Errorf("%s, request %d: %d %s, upstream called %d times; want 400 duplicate_credentials", name, i+1, rec.Code, rec.Body.String(), next.calls.Load())
			}
		}
	}
	// In two Cookie headers, as HTTP/2 clients send them.
	req := sourceRequest("cookie", valid)
	req.Header.Add("Cookie", "__session="+tamperedPayload(t))
	if rec, _ := serve(handler, req); rec.Code != http.StatusBadRequest {
		t.Errorf("the token cookie in two Cookie headers: status %d; want 400", rec.Code)
	}
	if rec, _ := serve(handler, sourceRequest("cookie", valid)); rec.Code != http.StatusOK {
		t.Errorf("one token cookie: status %d (%s); want 200", rec.Code, errorDescription(rec))
	}
}

// TestBearerWithoutATokenIsInvalid: "Authorization: Bearer " arrives as "Bearer" (the trailing
// space trimmed on the way); it was taken as no credentials, and on an optional route it passed
// as anonymous with the header forwarded. It is an invalid credential: 400, never anonymous.
func TestBearerWithoutATokenIsInvalid(t *testing.T) {
	for _, optional := range []bool{false, true} {
		config := sourcesConfig(t)
		config.Optional = optional
		next := &upstream{}
		handler := newHandler(t, config, next)
		for _, value := range []string{"Bearer", "bearer", "BEARER", "Bearer  "} {
			req := request("")
			req.Header.Set("Authorization", value)
			rec, _ := serve(handler, req)
			if rec.Code != http.StatusBadRequest || bodyField(rec.Body.Bytes(), "error") != "invalid_request" || next.calls.Load() != 0 {
				t.Errorf("optional %v, Authorization %q: %d %s, upstream called %d times; want 400 invalid_request", optional, value, rec.Code, rec.Body.String(), next.calls.Load())
			}
		}
		for _, value := range []string{"Bearer", "Bearer "} {
			req := sourceRequest("header", "")
			req.Header.Set("X-Auth-Token", value)
			if rec, _ := serve(handler, req); rec.Code != http.StatusBadRequest || next.calls.Load() != 0 {
				t.Errorf("optional %v, X-Auth-Token %q: status %d; want 400 invalid_request", optional, value, rec.Code)
			}
		}
		basic := request("")
		basic.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
		want := http.StatusUnauthorized
		if optional {
			want = http.StatusOK
		}
		if rec, _ := serve(handler, basic); rec.Code != want {
			t.Errorf("optional %v, Authorization: Basic: status %d; want %d (another scheme carries no bearer credentials)", optional, rec.Code, want)
		}
	}
}
