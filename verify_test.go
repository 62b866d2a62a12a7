package withauth

import (
	"net/http"
	"reflect"
	"testing"
)

// TestTokenConfusionGuards: authorizedParties checks azp, else client_id; typ checks the JOSE
// header's typ as RFC 9068 §4 compares it.
func TestTokenConfusionGuards(t *testing.T) {
	key := privateKey(t, "key-1")
	withTyp := func(typ interface{}) func(testing.TB) string {
		return func(t testing.TB) string {
			header := rs256Header("key-1")
			if typ == nil {
				delete(header, "typ")
			} else {
				header["typ"] = typ
			}
			return signRS256(t, key, header, userClaims(t, nil))
		}
	}
	parties := func(c *Config) { c.AuthorizedParties = []string{"spa-client", "cli"} }
	typs := func(c *Config) { c.Typ = []string{"at+jwt"} }
	runTokenCases(t, pemConfig, []tokenCase{
		{name: "azp accepted", config: parties, token: tokenWith(map[string]interface{}{"azp": "spa-client", "client_id": "other"}), wantStatus: 200},
		{name: "client_id accepted without azp", config: parties, token: tokenWith(map[string]interface{}{"client_id": "cli"}), wantStatus: 200},
		{name: "azp of another client", config: parties, token: tokenWith(map[string]interface{}{"azp": "other", "client_id": "cli"}), wantStatus: 401, wantError: "invalid_token", wantErr: errAuthorized},
		{name: "neither azp nor client_id", config: parties, token: validToken, wantStatus: 401, wantError: "invalid_token", wantErr: errAuthorized},
		{name: "typ at+jwt", config: typs, token: withTyp("at+jwt"), wantStatus: 200},
		{name: "typ application/at+jwt", config: typs, token: withTyp("application/at+JWT"), wantStatus: 200},
		{name: "typ JWT (an ID token, say)", config: typs, token: withTyp("JWT"), wantStatus: 401, wantError: "invalid_token", wantErr: errTokenTyp},
		{name: "no typ", config: typs, token: withTyp(nil), wantStatus: 401, wantError: "invalid_token", wantErr: errTokenTyp},
		{name: "typ not a string", config: typs, token: withTyp(1), wantStatus: 401, wantError: "invalid_token", wantErr: errTokenTyp},
		{name: "no guard: any typ", token: withTyp("JWT"), wantStatus: http.StatusOK},
	})
}

// TestAbsentClaimsForwardNothing: a forwarded header whose claim is absent stays unset, also
// right after a header whose claim is present. (Under Yaegi a comma-ok map read of an absent key
// in a loop keeps the previous iteration's value: forwardedValues must not read it.)
func TestAbsentClaimsForwardNothing(t *testing.T) {
	forward := []forwardedHeader{
		{name: "X-Email", claim: newClaimPath("email")},
		{name: "X-Absent", claim: newClaimPath("nickname")},
		{name: "X-Roles", claim: newClaimPath("roles"), asList: true},
		{name: "X-Absent-List", claim: newClaimPath("groups"), asList: true},
		{name: "X-Plan", claim: newClaimPath("metadata.plan")},
		{name: "X-Absent-Nested", claim: newClaimPath("metadata.tier")},
	}
	claims := map[string]interface{}{
		"email":    "ada@example.com",
		"roles":    []interface{}{"admin", "viewer"},
		"metadata": map[string]interface{}{"plan": "pro"},
	}
	names, values := forwardedValues(forward, claims)
	got := map[string][]string{}
	for i, name := range names {
		got[name] = values[i]
	}
	want := map[string][]string{"X-Email": {"ada@example.com"}, "X-Roles": {"admin,viewer"}, "X-Plan": {"pro"}}
	if !reflect.DeepEqual(got, want) || len(names) != len(values) {
		t.Errorf("forwarded %q = %q; want %q", names, values, want)
	}
}
