package withauth

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

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

// TestIdentityHeadersSpelledWithUnderscoresAreStripped: CGI-style servers (WSGI, PHP, Rack)
// turn X-User-Id and X_User_Id into the same HTTP_X_USER_ID, so a client that sends the
// underscore spelling may be believed by the upstream: those spellings are stripped too.
func TestIdentityHeadersSpelledWithUnderscoresAreStripped(t *testing.T) {
	config := pemConfig(t)
	config.ClaimsHeader = "X-Auth-Claims"
	smuggle := func(r *http.Request) {
		// As Go's server names them: the name canonicalised, underscores kept.
		r.Header["X_user_id"] = []string{"attacker"}
		r.Header["X_user_roles"] = []string{"admin"}
		r.Header["X-User_email"] = []string{"attacker@example.com"}
		r.Header["X_auth_claims"] = []string{"e30"}
	}
	for _, token := range []string{validToken(t), ""} {
		next := &upstream{}
		req := request(token)
		smuggle(req)
		if token == "" {
			// A preflight passes without a token: the headers must go all the same.
			req.Method = http.MethodOptions
			req.Header.Set("Origin", "https://app.example")
			req.Header.Set("Access-Control-Request-Method", "POST")
		}
		rec, _ := serve(newHandler(t, config, next), req)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d; want 200", rec.Code)
		}
		for name, values := range next.header {
			alias := http.CanonicalHeaderKey(strings.ReplaceAll(name, "_", "-"))
			if alias != name && (strings.HasPrefix(alias, "X-User-") || alias == "X-Auth-Claims" || alias == "X-Tenant-Id") {
				t.Errorf("the upstream received %s: %q, which CGI-style servers read as %s; want it stripped", name, values, alias)
			}
		}
	}
}

// TestNewIsLinearInHeaderNameLength: every spelling of a forwarded name was enumerated, 2^dashes
// of them; a 45-character claimsHeader kept Traefik's configuration load busy 30 s. Past
// maxListedDashes names are normalized on each request instead.
func TestNewIsLinearInHeaderNameLength(t *testing.T) {
	long := "X" + strings.Repeat("-a", 99) // 99 dashes
	config := pemConfig(t)
	config.ClaimsHeader = long
	config.ForwardHeaders = map[string]string{"X" + strings.Repeat("-b", 60): "sub"}
	start := time.Now()
	next := &upstream{}
	handler := newHandler(t, config, next)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("New took %v for header names with 99 and 60 dashes; want far below 2s (linear in the name)", elapsed)
	}
	smuggled := strings.ReplaceAll(http.CanonicalHeaderKey(long), "-", "_")
	got := serveTwice(t, handler, next, func() *http.Request {
		req := request(validToken(t))
		req.Header[smuggled] = []string{"e30"}
		return req
	})
	if values := got[smuggled]; values != nil {
		t.Fatalf("the upstream received %s: %q; want every spelling of claimsHeader stripped", smuggled, values)
	}
}

// TestEverySpellingOfAForwardedNameIsStripped: with forwardHeaders {X_Auth_User: sub}, a
// client's X-Auth-User reached the upstream beside the verified value, and CGI-style servers
// read both as HTTP_X_AUTH_USER.
func TestEverySpellingOfAForwardedNameIsStripped(t *testing.T) {
	config := pemConfig(t)
	config.ForwardHeaders = map[string]string{"X_Auth_User": "sub"}
	next := &upstream{}
	got := serveTwice(t, newHandler(t, config, next), next, func() *http.Request {
		req := request(validToken(t))
		// As Go's server (Traefik's entry point) names what clients send.
		for _, sent := range []string{"X-Auth-User", "x-auth_user", "X_Auth-User"} {
			req.Header[http.CanonicalHeaderKey(sent)] = []string{"attacker"}
		}
		return req
	})
	for name, values := range got {
		if headerKey(name) == "X-Auth-User" && (name != "X_auth_user" || len(values) != 1 || values[0] != userClaims(t, nil)["sub"]) {
			t.Errorf("the upstream received %s: %q; want only X_auth_user with the token's sub", name, values)
		}
	}
	if got.Get("X_auth_user") == "" {
		t.Errorf("the upstream received no X_auth_user; want the token's sub")
	}
}

// TestDefaultIdentityHeadersAreAlwaysStripped: with a custom forwardHeaders, a client's
// X-Tenant-Id and the other default names passed through to a backend written against them.
func TestDefaultIdentityHeadersAreAlwaysStripped(t *testing.T) {
	config := pemConfig(t)
	config.ForwardHeaders = map[string]string{"X-User-Id": "sub"}
	spoofed := []string{"X-Tenant-Id", "X-User-Email", "X-User-Roles", "X-User-Permissions", "X_tenant_id", "X-User_roles"}
	next := &upstream{}
	handler := newHandler(t, config, next)
	build := func() *http.Request {
		req := request(validToken(t))
		for _, name := range spoofed {
			req.Header[name] = []string{"spoofed"}
		}
		return req
	}
	got := serveTwice(t, handler, next, build)
	for _, name := range spoofed {
		if values := got[name]; values != nil {
			t.Errorf("the upstream received %s: %q with forwardHeaders {X-User-Id: sub}; want every default identity header stripped", name, values)
		}
	}
	if got.Get("X-User-Id") == "" {
		t.Errorf("X-User-Id missing upstream; want the token's sub")
	}
}

// TestForwardHeadersThatAreOneHeaderAreRefused: two names a backend reads as one header.
func TestForwardHeadersThatAreOneHeaderAreRefused(t *testing.T) {
	cases := []struct {
		name    string
		forward map[string]string
		claims  string
		want    string
	}{
		{"case", map[string]string{"X-User-Id": "sub", "x-user-id": "email"}, "", `forwardHeaders: "X-User-Id" and "x-user-id" are the same header`},
		{"underscores", map[string]string{"X-User-Id": "sub", "X_User_Id": "email"}, "", `forwardHeaders: "X-User-Id" and "X_User_Id" are the same header`},
		{"claimsHeader", nil, "x_user_email", `claimsHeader: "x_user_email" is also forwardHeaders' "X-User-Email"`},
		{"a reserved header spelled with underscores", map[string]string{"Transfer_Encoding": "sub"}, "", `forwardHeaders: "Transfer_Encoding" cannot carry a claim`},
	}
	for _, tc := range cases {
		config := pemConfig(t)
		config.ForwardHeaders = tc.forward
		config.ClaimsHeader = tc.claims
		if got := newError(t, config); !strings.Contains(got, tc.want) {
			t.Errorf("%s: New error %q; want it to contain %q", tc.name, got, tc.want)
		}
	}
}

// TestIdentityHeadersOfOtherRoutesAreStripped: the examples forward X-User-Name on /shift
// only; a client sent X-User-Name: Mallory (admin) to /home, and the backend received it beside
// the verified X-User-Id. Every withauth middleware of the process strips every name any of
// them forwards, in every spelling, whichever was built first, on a miss and on a hit.
func TestIdentityHeadersOfOtherRoutesAreStripped(t *testing.T) {
	home := pemConfig(t)
	homeNext := &upstream{}
	homeHandler := newHandler(t, home, homeNext) // built before /shift names X-Shift-Name
	shift := pemConfig(t)
	shift.ForwardHeaders = map[string]string{"X-User-Id": "sub", "X-Shift-Name": "name"}
	shiftNext := &upstream{}
	shiftHandler := newHandler(t, shift, shiftNext)
	spoof := func() *http.Request {
		req := request(validToken(t))
		for _, name := range []string{"X-Shift-Name", "X_shift_name", "X-Shift_name"} {
			req.Header[name] = []string{"Mallory (admin)"}
		}
		return req
	}
	got := serveTwice(t, homeHandler, homeNext, spoof)
	for name, values := range got {
		if headerKey(name) == "X-Shift-Name" {
			t.Errorf("/home's upstream received %s: %q; want every spelling of /shift's X-Shift-Name stripped", name, values)
		}
	}
	got = serveTwice(t, shiftHandler, shiftNext, spoof)
	if values := got["X-Shift-Name"]; len(values) != 1 || values[0] == "Mallory (admin)" {
		t.Errorf("/shift's upstream received X-Shift-Name %q; want only the verified name claim", values)
	}
}

// TestATokenHeaderAnotherRouteForwards: New depends on its configuration alone, so a route's
// tokenHeader that another route forwards as an identity header loads, in either order, as on a
// fresh Traefik; the route still reads its tokens from it and never passes that name on, and the
// other route still replaces a client's value with its claim.
func TestATokenHeaderAnotherRouteForwards(t *testing.T) {
	forwards := pemConfig(t)
	forwards.ForwardHeaders = map[string]string{"X-User-Id": "sub", "X-Carried-Token": "jti"}
	reads := pemConfig(t)
	reads.TokenHeader = "x-carried-token"
	readsNext, forwardsNext := &upstream{}, &upstream{}
	forwardsHandler := newHandler(t, forwards, forwardsNext)
	readsHandler := newHandler(t, reads, readsNext)
	fresh := handlerIn(newProcess(), &upstream{}, reads, "fresh")
	if _, refused := fresh.(misconfigured); refused {
		t.Fatal("the reading route on a fresh Traefik: refused; want loaded, as after the forwarding route")
	}
	token := tokenWith(map[string]interface{}{"jti": "jti-1"})(t)
	for _, tc := range []struct {
		name string
		set  func(*http.Request)
	}{
		{"the token in the header", func(req *http.Request) { req.Header.Set("X-Carried-Token", token) }},
		{"the token in Authorization, a spoof in the header", func(req *http.Request) {
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("X-Carried-Token", "mallory")
		}},
	} {
		readsNext.calls.Store(0)
		req := request("")
		tc.set(req)
		if rec, _ := serve(readsHandler, req); rec.Code != 200 || readsNext.calls.Load() != 1 {
			t.Fatalf("%s, on the reading route: status %d %s; want 200", tc.name, rec.Code, rec.Body.String())
		}
		if got := readsNext.header.Values("X-Carried-Token"); len(got) != 0 {
			t.Errorf("%s: the reading route's upstream got X-Carried-Token %q; want none (another route's identity header)", tc.name, got)
		}
	}
	spoofed := request(token)
	spoofed.Header.Set("X-Carried-Token", "mallory")
	if rec, _ := serve(forwardsHandler, spoofed); rec.Code != 200 || forwardsNext.header.Get("X-Carried-Token") != "jti-1" {
		t.Errorf("the forwarding route: status %d, X-Carried-Token %q; want 200 and the claim", rec.Code, forwardsNext.header.Get("X-Carried-Token"))
	}
}

// TestListsRenderOneWay: OAuth's space-separated scope arrives comma-joined in a header of one's
// own, as the roles and permissions headers render a space-separated claim.
func TestListsRenderOneWay(t *testing.T) {
	runTokenCases(t, func(t testing.TB) *Config {
		config := pemConfig(t)
		config.PermissionsClaim = "scope"
		config.ForwardHeaders = map[string]string{"X-Scope": "scope", "X-Scp": "scp", "X-User-Permissions": "scope", "X-Plan": "plan"}
		return config
	}, []tokenCase{{
		name:        "scope, scp and a plain string",
		token:       tokenWith(map[string]interface{}{"scope": "read write", "scp": "openid profile", "plan": "pro plus"}),
		wantStatus:  http.StatusOK,
		wantForward: map[string]string{"X-Scope": "read,write", "X-Scp": "openid,profile", "X-User-Permissions": "read,write", "X-Plan": "pro plus"},
	}})
}

// TestNamesWithauthOwnsAreNeverForwardable: a claim may not be forwarded as a header withauth
// reads credentials or the client's address from (S4-10: one route forwarding DPoP would strip
// every route's proofs for the life of the process); the refused configuration leaves the
// process's identity headers as they were, and DPoP routes keep working.
func TestNamesWithauthOwnsAreNeverForwardable(t *testing.T) {
	client := newDPoPClient(t, algorithmKeys(t).p256, "ES256")
	token := tokenWith(map[string]interface{}{"cnf": map[string]interface{}{"jkt": client.jkt}})(t)
	dpopRoute := newHandler(t, dpopConfig("required")(t), &upstream{})
	headers := testProcess(t).headers
	owned := headers.owned.Load()
	for _, name := range []string{"DPoP", "dpop", "X-Api-Key", "x_api_key", "Authorization", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "X-Forwarded-For", "DPoP-Nonce"} {
		config := pemConfig(t)
		config.ForwardHeaders = map[string]string{name: "sub"}
		if got := newError(t, config); !strings.Contains(got, "forwardHeaders: "+strconv.Quote(name)+" cannot carry a claim") {
			t.Errorf("forwardHeaders %s: New logged %q; want the name refused", name, got)
		}
		config = pemConfig(t)
		config.ClaimsHeader = name
		if got := newError(t, config); !strings.Contains(got, "claimsHeader: "+strconv.Quote(name)+" cannot carry the claims") {
			t.Errorf("claimsHeader %s: New logged %q; want the name refused", name, got)
		}
	}
	if headers.owned.Load() != owned {
		t.Error("refused configurations changed the process's identity headers; want them left as they were")
	}
	rec, _ := serve(dpopRoute, dpopRequest(token, client.proof(t, "GET", testOrigin+"/admin", token, time.Now(), nil)))
	if rec.Code != http.StatusOK {
		t.Errorf("a valid DPoP request after those configurations were refused: status %d %s; want 200", rec.Code, bodyField(rec.Body.Bytes(), "reason"))
	}
}
