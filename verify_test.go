package withauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
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
		{name: "typ JWT (an ID token, say)", config: typs, token: withTyp("JWT"), wantStatus: 401, wantError: "invalid_token", wantErr: errHeaderTyp},
		{name: "no typ", config: typs, token: withTyp(nil), wantStatus: 401, wantError: "invalid_token", wantErr: errHeaderTyp},
		{name: "typ not a string", config: typs, token: withTyp(1), wantStatus: 401, wantError: "invalid_token", wantErr: errHeaderTyp},
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
	values := forwardedValues(&tokenRules{forward: forward, userID: userID}, claims)
	want := []string{"ada@example.com", "", "admin,viewer", "", "pro", ""}
	if !reflect.DeepEqual(values, want) {
		t.Errorf("forwarded %q; want %q (\"\" for the absent claims)", values, want)
	}
	names, views := forwardedHeaders([]string{"X-Email", "X-Absent", "X-Roles", "X-Absent-List", "X-Plan", "X-Absent-Nested"}, values)
	if !reflect.DeepEqual(names, []string{"X-Email", "X-Roles", "X-Plan"}) || !reflect.DeepEqual(views, [][]string{{"ada@example.com"}, {"admin,viewer"}, {"pro"}}) {
		t.Errorf("headers %q = %q; want the three present ones", names, views)
	}
	for i, view := range views {
		if cap(view) != 1 {
			t.Errorf("%s's value has capacity %d; want 1, so that appending to a request's header never writes into the grant", names[i], cap(view))
		}
	}
}

// TestVerifiedClaimsAreNeverModified: withauth's own values (the user id, Frontegg's grants for
// an access token) used to be written into the decoded claims, and that rewritten map was what
// the claims header carried. They are values of their own: the decoded claims stay exactly as
// signed, and the headers read the computed values.
func TestVerifiedClaimsAreNeverModified(t *testing.T) {
	judge := func(t *testing.T, handler http.Handler, token string, source credentialSource) (before, after map[string]interface{}, g *grant) {
		t.Helper()
		m := handler.(*Middleware)
		raw, err := jose.Parse(token, m.algorithms, nil)
		if err != nil {
			t.Fatalf("parseToken: %v", err)
		}
		claims, err := jose.DecodeClaims(raw)
		if err != nil {
			t.Fatalf("decodeClaims: %v", err)
		}
		before, _ = jose.DecodeClaims(raw)
		expires, read, err := checkClaims(&m.tokenRules, m.trust.only, claims, source, time.Now().UnixNano())
		if err != nil {
			t.Fatalf("checkClaims: %v", err)
		}
		key, err := lookupKey(context.Background(), m.trust.only.keys, raw.Kid)
		if err != nil {
			t.Fatalf("lookupKey: %v", err)
		}
		return before, claims, newGrant(&m.tokenRules, read, &signedToken{raw: raw, key: key, trusted: m.trust.only}, expires)
	}
	forwarded := func(g *grant, name string) string {
		for i, n := range g.forwardNames {
			if n == name {
				return g.forwardValues[i][0]
			}
		}
		return ""
	}

	t.Run("a token with its own id claim", func(t *testing.T) {
		config := pemConfig(t)
		config.ClaimsHeader = "X-Auth-Claims"
		token := tokenWith(map[string]interface{}{"id": "the-token's-own-id"})(t)
		before, after, g := judge(t, newHandler(t, config, &upstream{}), token, fromAuthorization)
		if !reflect.DeepEqual(before, after) {
			t.Errorf("the verified claims changed: %v, then %v; want them as decoded", before, after)
		}
		sub := before["sub"].(string)
		if got := forwarded(g, "X-User-Id"); got != sub {
			t.Errorf("X-User-Id %q; want the user id withauth computes, the sub %q, not the token's own id", got, sub)
		}
		encoded, _ := base64.RawURLEncoding.DecodeString(forwarded(g, "X-Auth-Claims"))
		var header map[string]interface{}
		if err := json.Unmarshal(encoded, &header); err != nil || header["id"] != sub || header["email"] != before["email"] {
			t.Errorf("claims header %s (%v); want the claims with id the computed user id %q", encoded, err, sub)
		}
	})

	t.Run("a Frontegg access token, its grants fetched", func(t *testing.T) {
		mock := newMockFrontegg(t)
		fronteggEnv(t, mock)
		config := CreateConfig()
		config.Roles = []string{"admin"}
		token := fronteggToken(t, "userAccessToken", map[string]interface{}{"roles": []string{"FETCH-ROLES-BY-API"}})
		before, after, g := judge(t, newHandler(t, config, &upstream{}), token, fromAPIKey)
		if !reflect.DeepEqual(before, after) {
			t.Errorf("the verified claims changed: %v, then %v; want them as decoded (the placeholders stay in them)", before, after)
		}
		if !g.allowed || forwarded(g, "X-User-Roles") != "admin" || forwarded(g, "X-User-Id") != "owner-user-9" {
			t.Errorf("grant allowed %v, X-User-Roles %q, X-User-Id %q; want admitted with Frontegg's grants (admin) and the owner's id", g.allowed, forwarded(g, "X-User-Roles"), forwarded(g, "X-User-Id"))
		}
	})
}
