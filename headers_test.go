package withauth

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// serveTwice sends the same request twice through handler (a verification, then a cache hit)
// and returns what the upstream received the second time.
func serveTwice(t *testing.T, handler http.Handler, next *upstream, build func() *http.Request) http.Header {
	t.Helper()
	for i := 0; i < 2; i++ {
		next.calls = 0
		if rec, _ := serve(handler, build()); rec.Code != http.StatusOK || next.calls != 1 {
			t.Fatalf("request %d: status %d (%s), upstream called %d times; want 200 and once", i+1, rec.Code, errorDescription(rec), next.calls)
		}
	}
	return next.header
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

// TestForwardedValuesReadAsWhatWasJudged: list items were joined unescaped and control
// characters deleted, so roles ["viewer,admin"] reached the upstream as "viewer,admin" and
// ["adm\u0000in"] as "admin". Such items, and such strings, are now left out.
func TestForwardedValuesReadAsWhatWasJudged(t *testing.T) {
	cases := []struct {
		name  string
		claim interface{}
		want  string
	}{
		{"an item holding a comma", []interface{}{"viewer,admin", "reader"}, "reader"},
		{"an item with a NUL", []interface{}{"adm\u0000in"}, ""},
		{"an item with surrounding spaces", []interface{}{" admin ", "reader"}, "reader"},
		{"an item with a tab", []interface{}{"admin\t"}, ""},
		{"an empty item", []interface{}{"", "reader"}, "reader"},
		{"an object item (JSON holds commas)", []interface{}{map[string]interface{}{"a": 1, "b": 2}, "reader"}, "reader"},
		{"a nested list", []interface{}{[]interface{}{"a", "b"}}, ""},
		{"a string with a line break", "admin\r\nX-Admin: yes", ""},
		{"a string with surrounding spaces", " admin ", ""},
		{"a string with a no-break space", "admin\u00a0", ""},
		{"plain items", []interface{}{"admin", "read-only", 7.5, true}, "admin,read-only,7.5,true"},
		{"a plain string with a comma", "Lovelace, Ada", "Lovelace, Ada"},
	}
	for _, tc := range cases {
		config := pemConfig(t)
		config.ForwardHeaders = map[string]string{"X-Value": "value"}
		next := &upstream{}
		rec, _ := serve(newHandler(t, config, next), request(tokenWith(map[string]interface{}{"value": tc.claim})(t)))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d; want 200", tc.name, rec.Code)
		}
		if got := next.header.Values("X-Value"); tc.want == "" && got != nil || tc.want != "" && (len(got) != 1 || got[0] != tc.want) {
			t.Errorf("%s: the upstream received X-Value %q; want %q", tc.name, got, tc.want)
		}
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
