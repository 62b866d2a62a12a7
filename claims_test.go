package withauth

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAttacksOnClaimTypes(t *testing.T) {
	now := time.Now().Unix()
	onlyAPI := func(c *Config) { c.Audience = []string{"api"} }
	onlyOne := func(c *Config) { c.Audience = []string{"1"} }
	needsAdmin := func(c *Config) { c.Roles = []string{"admin"} }
	rawClaim := func(name, value string) func(testing.TB) string {
		return func(t testing.TB) string {
			return signRaw(t, privateKey(t, "key-1"), `{"alg":"RS256","kid":"key-1"}`, appendMembers(claimsText(t, map[string]interface{}{name: nil}), `"`+name+`":`+value))
		}
	}
	cases := []tokenCase{
		{name: "exp as a float in the future", token: rawClaim("exp", strconv.FormatInt(now+3600, 10)+".5"), wantStatus: 200},
		refused("exp as a float in the past", rawClaim("exp", strconv.FormatInt(now-40, 10)+".5"), errExpired),
		{name: "exp huge (1e300)", token: rawClaim("exp", "1e300"), wantStatus: 200},
		refused("exp hugely negative (-1e300)", rawClaim("exp", "-1e300"), errExpired),
		refused("exp beyond float64 (1e400)", rawClaim("exp", "1e400"), errNumberRange),
		refused("exp as a numeric string", rawClaim("exp", `"`+strconv.FormatInt(now+3600, 10)+`"`), errNoExpiry),
		refused("exp as a date string", rawClaim("exp", `"2999-01-01T00:00:00Z"`), errNoExpiry),
		refused("exp true", rawClaim("exp", "true"), errNoExpiry),
		refused("exp null", rawClaim("exp", "null"), errNoExpiry),
		refused("exp in an array", rawClaim("exp", "["+strconv.FormatInt(now+3600, 10)+"]"), errNoExpiry),
		refused("exp in an object", rawClaim("exp", `{"$numberLong":"`+strconv.FormatInt(now+3600, 10)+`"}`), errNoExpiry),
		refused("nbf huge (1e300)", rawClaim("nbf", "1e300"), errNotYetValid),
		refused("iat huge (1e300)", rawClaim("iat", "1e300"), errIssuedInFuture),
		refused("nbf as a string", rawClaim("nbf", `"0"`), errBadTimeClaim),
		refused("iat null", rawClaim("iat", "null"), errBadTimeClaim),

		{name: "aud a number", config: onlyOne, token: rawClaim("aud", "1"), wantStatus: 401, wantError: "invalid_token", wantErr: errAudience},
		{name: "aud an array of numbers", config: onlyOne, token: rawClaim("aud", "[1,2]"), wantStatus: 401, wantError: "invalid_token", wantErr: errAudience},
		{name: "aud an object", config: onlyAPI, token: rawClaim("aud", `{"api":true}`), wantStatus: 401, wantError: "invalid_token", wantErr: errAudience},
		{name: "aud an object with the audience as a value", config: onlyAPI, token: rawClaim("aud", `{"0":"api"}`), wantStatus: 401, wantError: "invalid_token", wantErr: errAudience},
		{name: "aud null", config: onlyAPI, token: rawClaim("aud", "null"), wantStatus: 401, wantError: "invalid_token", wantErr: errAudience},
		{name: "aud an array holding null", config: onlyAPI, token: rawClaim("aud", "[null]"), wantStatus: 401, wantError: "invalid_token", wantErr: errAudience},
		{name: "aud an empty array", config: onlyAPI, token: rawClaim("aud", "[]"), wantStatus: 401, wantError: "invalid_token", wantErr: errAudience},
		{name: "aud a nested array", config: onlyAPI, token: rawClaim("aud", `[["api"]]`), wantStatus: 401, wantError: "invalid_token", wantErr: errAudience},
		{name: "aud true", config: onlyAPI, token: rawClaim("aud", "true"), wantStatus: 401, wantError: "invalid_token", wantErr: errAudience},
		{name: "aud in other case", config: onlyAPI, token: rawClaim("aud", `"API"`), wantStatus: 401, wantError: "invalid_token", wantErr: errAudience},
		{name: "aud with a trailing space", config: onlyAPI, token: rawClaim("aud", `"api "`), wantStatus: 401, wantError: "invalid_token", wantErr: errAudience},
		{name: "aud missing", config: onlyAPI, token: tokenWith(map[string]interface{}{"aud": nil}), wantStatus: 401, wantError: "invalid_token", wantErr: errAudience},
		{name: "aud an array mixing a number and the audience", config: onlyAPI, token: rawClaim("aud", `[1,"api"]`), wantStatus: 200},

		{name: "roles a string equal to the role (a list of one)", config: needsAdmin, token: rawClaim("roles", `"admin"`), wantStatus: 200},
		{name: "roles a space-separated string holding the role", config: needsAdmin, token: rawClaim("roles", `"owner admin"`), wantStatus: 200},
		{name: "roles a string of the role and a tab", config: needsAdmin, token: rawClaim("roles", `"admin\towner"`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles a comma-separated string", config: needsAdmin, token: rawClaim("roles", `"admin,owner"`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles a string containing the role", config: needsAdmin, token: rawClaim("roles", `"superadministrator"`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles an object keyed by the role (Zitadel)", config: needsAdmin, token: rawClaim("roles", `{"admin":{"org-1":"acme"}}`), wantStatus: 200},
		{name: "roles an object holding the role as a value", config: needsAdmin, token: rawClaim("roles", `{"role":"admin"}`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles a nested list", config: needsAdmin, token: rawClaim("roles", `[["admin"]]`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles a list of numbers", config: needsAdmin, token: rawClaim("roles", `[1,2]`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles true", config: needsAdmin, token: rawClaim("roles", `true`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles null", config: needsAdmin, token: rawClaim("roles", `null`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles a list with the role padded", config: needsAdmin, token: rawClaim("roles", `[" admin","admin "]`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles a list with the role in capitals", config: needsAdmin, token: rawClaim("roles", `["ADMIN"]`), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles a list with the role and its neighbours", config: needsAdmin, token: rawClaim("roles", `[1,null,{"a":1},"admin"]`), wantStatus: 200},
		{name: "permissions a string equal to the permission", config: func(c *Config) { c.Permissions = []string{"uploadFile"} }, token: rawClaim("permissions", `"uploadFile"`), wantStatus: 200},
		{name: "permissions a string containing the permission", config: func(c *Config) { c.Permissions = []string{"uploadFile"} }, token: rawClaim("permissions", `"uploadFiles"`), wantStatus: 403, wantError: "insufficient_scope"},
	}
	runTokenCases(t, pemConfig, cases)
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

// TestRequirementClaimShapes: OAuth scope strings, Zitadel's role objects and Keycloak client
// ids holding dots are lists, and are forwarded as the lists they are.
func TestRequirementClaimShapes(t *testing.T) {
	cases := []struct {
		name        string
		claimPath   string
		claim       interface{}
		permissions []string
		wantStatus  int
		wantHeader  string
	}{
		{"scope string", "scope", "openid read write", []string{"write"}, 200, "openid,read,write"},
		{"scope string without the scope", "scope", "openid read", []string{"write"}, 403, ""},
		{"scope string is not split on commas", "scope", "read,write", []string{"write"}, 403, ""},
		{"object keys (Zitadel)", "urn:zitadel:iam:org:project:roles", map[string]interface{}{"editor": map[string]interface{}{"1": "acme"}, "admin": map[string]interface{}{}}, []string{"admin"}, 200, "admin,editor"},
		{"an escaped dot in a path (Keycloak client roles)", `resource_access.my\.client.roles`, nil, []string{"uploader"}, 200, "uploader,viewer"},
	}
	for _, tc := range cases {
		config := pemConfig(t)
		config.PermissionsClaim = tc.claimPath
		config.Permissions = tc.permissions
		changes := map[string]interface{}{tc.claimPath: tc.claim}
		if tc.claim == nil {
			changes = map[string]interface{}{"resource_access": map[string]interface{}{
				"my.client": map[string]interface{}{"roles": []interface{}{"uploader", "viewer"}},
				"my":        map[string]interface{}{"client": map[string]interface{}{"roles": []interface{}{"admin"}}},
			}}
		}
		next := &upstream{}
		rec, _ := serve(newHandler(t, config, next), request(tokenWith(changes)(t)))
		if rec.Code != tc.wantStatus {
			t.Errorf("%s: status %d (%s); want %d", tc.name, rec.Code, errorDescription(rec), tc.wantStatus)
			continue
		}
		if got := next.header.Get("X-User-Permissions"); tc.wantStatus == 200 && got != tc.wantHeader {
			t.Errorf("%s: X-User-Permissions %q; want %q", tc.name, got, tc.wantHeader)
		}
	}
}

// TestTenants: tenants is any-of over tenantId or an item of Frontegg's tenantIds; tenantClaim
// names another claim for other issuers.
// TestTenants: the tenant claim is one tenant, a string equal to one of tenants; nothing else
// is (a space-separated string, a list, an object), and Frontegg's tenantIds (every tenant of
// the user) does not count, so that X-Tenant-Id only ever forwards the tenant judged.
func TestTenants(t *testing.T) {
	tenants := func(c *Config) { c.Tenants = []string{"acme", "globex"} }
	entra := func(c *Config) { c.Tenants = []string{"72f988bf"}; c.TenantClaim = "tid" }
	refusedTenant := func(name string, tenant interface{}) tokenCase {
		return tokenCase{name: name, config: tenants, token: tokenWith(map[string]interface{}{"tenantId": tenant}), wantStatus: 403, wantError: "insufficient_scope"}
	}
	runTokenCases(t, pemConfig, []tokenCase{
		{name: "tenantId one of them", config: tenants, token: tokenWith(map[string]interface{}{"tenantId": "acme", "tenantIds": nil}),
			wantStatus: 200, wantForward: map[string]string{"X-Tenant-Id": "acme"}},
		{name: "another tenantId, tenantIds holding one of them", config: tenants,
			token: tokenWith(map[string]interface{}{"tenantId": "initech", "tenantIds": []interface{}{"initech", "globex"}}), wantStatus: 403, wantError: "insufficient_scope"},
		refusedTenant("a space-separated string holding one of them", "acme attacker-org"),
		refusedTenant("a list holding one of them", []interface{}{"attacker", "acme"}),
		refusedTenant("a list of one of them", []interface{}{"acme"}),
		refusedTenant("an object keyed by one of them", map[string]interface{}{"acme": nil}),
		refusedTenant("one of them with a space", "acme "),
		refusedTenant("one of them in other case", "ACME"),
		{name: "neither", config: tenants, token: tokenWith(map[string]interface{}{"tenantId": "initech", "tenantIds": []interface{}{"initech"}}), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "no tenant claim", config: tenants, token: tokenWith(map[string]interface{}{"tenantId": nil, "tenantIds": nil}), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "tenantClaim tid", config: entra, token: tokenWith(map[string]interface{}{"tid": "72f988bf"}), wantStatus: 200},
		{name: "tenantClaim tid, tenantIds do not count", config: entra, token: tokenWith(map[string]interface{}{"tenantIds": []interface{}{"72f988bf"}}), wantStatus: 403, wantError: "insufficient_scope"},
	})
}

// TestGrantWildcards: with grantWildcards, a granted "prefix.*" covers required names under
// prefix, as Frontegg's entitlements do; never otherwise, and never across a segment.
func TestGrantWildcards(t *testing.T) {
	required := func(wildcards bool, names ...string) func(*Config) {
		return func(c *Config) { c.Permissions = names; c.GrantWildcards = wildcards }
	}
	granted := func(names ...interface{}) func(testing.TB) string {
		return tokenWith(map[string]interface{}{"permissions": names})
	}
	runTokenCases(t, pemConfig, []tokenCase{
		{name: "fe.secure.* covers fe.secure.read.users", config: required(true, "fe.secure.read.users"), token: granted("fe.secure.*"), wantStatus: 200},
		{name: "off by default", config: required(false, "fe.secure.read.users"), token: granted("fe.secure.*"), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "fe.* does not cover fex.read", config: required(true, "fex.read"), token: granted("fe.*"), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "fe.secure.* does not cover fe.secure itself", config: required(true, "fe.secure"), token: granted("fe.secure.*"), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "* alone covers nothing", config: required(true, "fe.read"), token: granted("*"), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "a wildcard in the middle is literal", config: required(true, "fe.secure.read"), token: granted("fe.*.read"), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "on the required side it is a name", config: required(true, "fe.*"), token: granted("fe.read"), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles too", config: func(c *Config) { c.Roles = []string{"org.admin"}; c.GrantWildcards = true }, token: tokenWith(map[string]interface{}{"roles": []interface{}{"org.*"}}), wantStatus: 200},
	})
}

// TestLongListsAreJudgedAsShortOnes: a list long enough to be checked whole (joinNames) is
// forwarded exactly as checking each name would forward it, whatever its names hold: commas,
// empty names, control characters, space or other Unicode white space at either end, non-ASCII.
func TestLongListsAreJudgedAsShortOnes(t *testing.T) {
	pieces := []string{"read", "write", "fe.secure.*", "", " ", ",", "\t", "\u00a0", "\u3000", "é", "a b", "\x7f", "\u0085", "x,"}
	oneByOne := func(names []string) string {
		var kept []string
		for _, name := range names {
			if listItemText(name) {
				kept = append(kept, name)
			}
		}
		return strings.Join(kept, ",")
	}
	// A fixed pseudo-random sequence (a linear congruential generator): the same cases on
	// every run, compiled and under Yaegi.
	state := uint32(1)
	next := func(n int) int {
		state = state*1664525 + 1013904223
		return int(state>>16) % n
	}
	wholePassed := 0
	for c := 0; c < 3000; c++ {
		names := make([]string, wholeListChecked+next(8))
		items := make([]interface{}, len(names))
		for i := range names {
			// Mostly clean names, so that many lists pass the whole check.
			name := pieces[next(3)]
			switch next(8) {
			case 0, 1:
				name = pieces[next(len(pieces))] + pieces[next(3)] + pieces[next(len(pieces))]
			case 2:
				name = pieces[next(len(pieces))] // alone: empty, a comma, white space, ...
			}
			names[i] = name
			items[i] = name
		}
		want := oneByOne(names)
		if readsAsNames(strings.Join(names, ","), len(names)) {
			wholePassed++
		}
		if got := joinNames(names); got != want {
			t.Fatalf("joinNames(%q) = %q; want %q", names, got, want)
		}
		if got := joinItems(items, true); got != want {
			t.Fatalf("joinItems(%q) = %q; want %q", names, got, want)
		}
	}
	if wholePassed < 100 {
		t.Fatalf("only %d of 3000 lists passed the whole check; want at least 100, so that it is exercised", wholePassed)
	}
}

// TestNestedListsAreNeverForwardedAsNames: roles [["admin"]] were judged as no role but
// forwarded as X-User-Roles: admin. A judged list forwards only the names meets reads; any
// other header renders a nested array or object as JSON, never as its items.
func TestNestedListsAreNeverForwardedAsNames(t *testing.T) {
	custom := func(c *Config) {
		c.ForwardHeaders = map[string]string{"X-User-Id": "sub", "X-User-Roles": "roles", "X-Groups": "groups"}
	}
	runTokenCases(t, pemConfig, []tokenCase{
		{name: "roles [[admin]] on a route requiring admin", config: func(c *Config) { c.Roles = []string{"admin"} },
			token: tokenWith(map[string]interface{}{"roles": []interface{}{[]interface{}{"admin"}}}), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "roles [[admin]] forward nothing", token: tokenWith(map[string]interface{}{"roles": []interface{}{[]interface{}{"admin"}}}),
			wantStatus: 200, wantForward: map[string]string{"X-User-Roles": ""}},
		{name: "roles [viewer, [admin], {admin: 1}, 7] forward viewer", token: tokenWith(map[string]interface{}{"roles": []interface{}{"viewer", []interface{}{"admin"}, map[string]interface{}{"admin": 1}, 7}}),
			wantStatus: 200, wantForward: map[string]string{"X-User-Roles": "viewer"}},
		{name: "permissions [[uploadFile], read] forward read", token: tokenWith(map[string]interface{}{"permissions": []interface{}{[]interface{}{"uploadFile"}, "read"}}),
			wantStatus: 200, wantForward: map[string]string{"X-User-Permissions": "read"}},
		{name: "a custom roles header too", config: custom, token: tokenWith(map[string]interface{}{"roles": []interface{}{[]interface{}{"admin"}, "viewer"}}),
			wantStatus: 200, wantForward: map[string]string{"X-User-Roles": "viewer"}},
		{name: "another claim's nested array reads as JSON", config: custom, token: tokenWith(map[string]interface{}{"groups": []interface{}{[]interface{}{"admin"}, "ops", 7}}),
			wantStatus: 200, wantForward: map[string]string{"X-Groups": `["admin"],ops,7`}},
	})
}
