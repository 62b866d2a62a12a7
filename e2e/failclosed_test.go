package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/internal/backend"
	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
	"github.com/seed0ec25cca/withauth/e2e/internal/idp"
	"github.com/seed0ec25cca/withauth/internal/fronteggmock"
)

// Fail closed through a real Traefik (its own decoding, Yaegi, the file provider), deployed as
// Traefik usually is: a catch-all router (PathPrefix(`/`), lowest priority) to the same backend.
// A refused configuration keeps its router and answers every request 500; the catch-all never
// serves its path.

// longDashedHeader has 24 dashes: enumerating its underscore spellings (2^24) never finished.
var longDashedHeader = "X" + strings.Repeat("-Auth", 24)

// refusedRoutes are middlewares New must refuse, each with what Traefik's log must say.
var refusedRoutes = []struct {
	route harness.Route
	error string
}{
	{harness.Route{Name: "emptyroles", Path: "/empty-roles", Auth: map[string]any{"roles": ""}}, `roles: is empty`},
	{harness.Route{Name: "emptylist", Path: "/empty-list", Auth: map[string]any{"roles": []string{}}}, `roles: is empty`},
	{harness.Route{Name: "misspelled", Path: "/misspelled", Auth: map[string]any{"role": "admin"}}, `unknown key "role" (did you mean roles?)`},
	{harness.Route{Name: "banana", Path: "/banana", Auth: map[string]any{"clockSkew": "banana"}}, `clockSkew: "banana" is not a duration`},
	{harness.Route{Name: "minrefresh", Path: "/min-refresh", Auth: map[string]any{"minRefreshInterval": "0s"}}, `minRefreshInterval: 0s is below 1s`},
	{harness.Route{Name: "emptyissuer", Path: "/empty-issuer", Auth: map[string]any{"issuer": ""}}, `issuer: is empty`},
	{harness.Route{Name: "emptystepup", Path: "/empty-stepup", Auth: map[string]any{"stepUp": ""}}, `stepUp: is empty`},
	{harness.Route{Name: "cachebanana", Path: "/cache-banana", Auth: map[string]any{"cacheSize": "banana"}}, `cacheSize: "banana" is not a whole number`},
	{harness.Route{Name: "quotedtemplate", Path: "/quoted-template", Auth: map[string]any{"roles": "{{ env `WITHAUTH_UNSET` }}"}}, `roles: is empty`},
}

// droppedByTraefik are keys given as null: the file provider (paerser's decodeRaw) drops a
// null-valued key before any plugin sees it, so withauth cannot refuse it there, and the route
// is served as if the key were absent. The README says so and gives the remedy: quote a
// templated value, which then arrives as "" and is refused (quotedtemplate above).
var droppedByTraefik = []harness.Route{
	{Name: "nullroles", Path: "/null-roles", Auth: map[string]any{"roles": nil}},
}

func TestFailClosedConfigurationInTraefik(t *testing.T) {
	s := newStack(t)
	routes := []harness.Route{
		{Name: "admin", Path: "/admin", Auth: map[string]any{"roles": []string{"admin"}}},
		{Name: "long", Path: "/long", Auth: map[string]any{"claimsHeader": longDashedHeader}},
		{Name: "preflight", Path: "/preflight", Auth: map[string]any{"forwardAuthorization": false}},
		{Name: "catchall", Path: "/", Bare: true},
	}
	all := append([]harness.Route{}, routes...)
	for _, r := range refusedRoutes {
		all = append(all, r.route)
	}
	all = append(all, droppedByTraefik...)
	start := time.Now()
	tr := startTraefik(t, harness.Options{Dynamic: map[string]string{
		"failclosed.yml": harness.FileConfig(all, s.common(), s.backendURL),
	}})
	waitReady(t, tr, "/admin", harness.RouterNames(all)...)
	t.Logf("routers, the one with a %d-character claimsHeader among them, served %s after Traefik's start",
		len(longDashedHeader), time.Since(start).Round(time.Millisecond))

	cases := []harness.Case{
		{Path: "/admin", Who: "alice (read-only)", Token: &harness.Alice, Status: http.StatusForbidden, Error: "insufficient_scope"},
		{Path: "/long", Who: "alice", Token: &harness.Alice, Status: http.StatusOK,
			Header: map[string]string{"X-User_id": "spoofed", "X-User-Id": "spoofed"},
			Seen:   map[string]string{"X-User-Id": "alice", "X-User_id": ""}},
		{Path: "/elsewhere", Who: "nobody (the catch-all serves unprotected paths)", Status: http.StatusOK},
	}
	for _, r := range refusedRoutes {
		// The route keeps its router and refuses everyone; the catch-all never serves it.
		cases = append(cases,
			harness.Case{Path: r.route.Path, Who: "alice (read-only)", Token: &harness.Alice, Status: http.StatusInternalServerError, Error: "server_error"},
			harness.Case{Path: r.route.Path, Who: "nobody", Status: http.StatusInternalServerError, Error: "server_error"})
	}
	for _, r := range droppedByTraefik {
		cases = append(cases, harness.Case{Path: r.Path, Who: "alice (read-only), the null key dropped by Traefik", Token: &harness.Alice,
			Status: http.StatusOK, Seen: map[string]string{"X-User-Id": "alice"}})
	}
	runCases(t, tr.URL, cases, s.mint())
	log := tr.LogTail(1 << 20)
	for _, r := range droppedByTraefik {
		if strings.Contains(log, "withauth "+r.Name+"-auth@file:") {
			t.Errorf("Traefik's log mentions %s; want nothing: the null key never reached withauth (if it now does, refuse it and update the README)", r.Name)
		}
	}
	for _, r := range refusedRoutes {
		line := "withauth " + r.route.Name + "-auth@file: configuration refused"
		if !strings.Contains(log, line) || !strings.Contains(log, r.error) {
			t.Errorf("Traefik's log lacks %q with %q; want the refusal logged at load, naming the middleware, the key and the fix", line, r.error)
		}
	}
	if errs, err := tr.WaitRefused(context.Background(), time.Second, "misspelled@file"); err == nil {
		t.Errorf("Traefik disabled the router of a refused configuration (%q); want it kept, answering 500", errs)
	}

	t.Run("a preflight carries no credentials upstream", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodOptions, tr.URL+"/preflight", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", "https://app.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Authorization", "Bearer forged.token.value")
		req.Header.Set("X-Api-Key", "forged")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var seen backend.Seen
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&seen) != nil {
			t.Fatalf("preflight: status %d; want 200 with the backend's answer", resp.StatusCode)
		}
		if seen.Authorization {
			t.Errorf("the backend received the preflight's forged Authorization; want it stripped")
		}
	})
}

// TestFronteggAccessTokensDisabledInTraefik: Frontegg's 403 "Api tokens are disabled" is a 401
// for the client, not a 503 it would retry forever.
func TestFronteggAccessTokensDisabledInTraefik(t *testing.T) {
	s := startFronteggTraefik(t, func(m *fronteggmock.API) {
		m.AddAccessToken("users", "uat-e2e", fronteggmock.Grants{Roles: []string{"admin"}})
		m.SetFault(fronteggmock.FaultAccessDisabled)
	})
	token := s.token(t, "userAccessToken", map[string]any{"sub": "uat-e2e", "userId": "owner-1"})
	for _, path := range []string{"/shift", "/admin"} { // the active list, then the token's grants
		r := check(t, s.tr.URL, expect(apiKey(path, "an access token", token), http.StatusUnauthorized, "invalid_token"))
		if ra := r.Header.Get("Retry-After"); ra != "" {
			t.Errorf("GET %s: Retry-After %q; want none (a 401, not an outage)", path, ra)
		}
	}
	check(t, s.tr.URL, expect(bearer("/shift", "a user token", s.token(t, "userToken", map[string]any{"sub": "user-1"})), http.StatusOK, ""))
}

// fronteggSources is a vendor-mode route that also reads tokenHeader, tokenCookie and
// tokenQueryParameter.
const fronteggSources = `http:
  middlewares:
    sources-auth:
      plugin:
        withauth:
          tokenHeader: X-Auth-Token
          tokenCookie: __session
          tokenQueryParameter: access_token
  routers:
    sources:
      rule: "PathPrefix(` + "`/sources`" + `)"
      entryPoints: [web]
      middlewares: [sources-auth]
      service: backend
    catchall:
      rule: "PathPrefix(` + "`/`" + `)"
      entryPoints: [web]
      service: backend
`

// TestFronteggAccessTokensOutsideAPIKeyInTraefik: a revoked userAccessToken, or a
// tenantAccessToken never listed as active, sent in X-Auth-Token, a cookie or the query got 200
// with the owner's identity: Frontegg's "is it active" check ran for x-api-key only. Access
// tokens are now accepted in x-api-key only.
func TestFronteggAccessTokensOutsideAPIKeyInTraefik(t *testing.T) {
	s := startFronteggTraefikWith(t, func(m *fronteggmock.API) {
		m.AddAccessToken("users", "uat-e2e", fronteggmock.Grants{Roles: []string{"admin"}})
	}, map[string]string{"frontegg-sources.yml": fronteggSources})
	tokens := map[string]string{
		"a revoked user access token":        s.token(t, "userAccessToken", map[string]any{"sub": "uat-revoked", "userId": "owner-1"}),
		"a tenant access token never active": s.token(t, "tenantAccessToken", map[string]any{"sub": "tat-never"}),
		"an active user access token":        s.token(t, "userAccessToken", map[string]any{"sub": "uat-e2e", "userId": "owner-1"}),
	}
	for who, token := range tokens {
		for _, c := range []harness.Case{
			{Path: "/sources", Who: who + " in X-Auth-Token", Header: map[string]string{"X-Auth-Token": token}},
			{Path: "/sources", Who: who + " in the __session cookie", Header: map[string]string{"Cookie": "__session=" + token}},
			{Path: "/sources?access_token=" + token, Who: who + " in the query"},
		} {
			check(t, s.tr.URL, expect(c, http.StatusUnauthorized, "invalid_token"))
		}
	}
	check(t, s.tr.URL, expect(apiKey("/sources", "an active user access token", tokens["an active user access token"]), http.StatusOK, "", "X-User-Id", "owner-1"))
	user := s.token(t, "userToken", map[string]any{"sub": "user-1"})
	check(t, s.tr.URL, expect(harness.Case{Path: "/sources", Who: "a user token in X-Auth-Token", Header: map[string]string{"X-Auth-Token": user}}, http.StatusOK, "", "X-User-Id", "user-1"))
}

// TestOtherRoutesIdentityHeadersAndTenantsInTraefik: /shift forwards X-User-Name, /home does
// not; a client's X-User-Name sent to /home reached the backend beside the verified
// X-User-Id. And a tenant claim that is not one string equal to a listed tenant is 403.
func TestOtherRoutesIdentityHeadersAndTenantsInTraefik(t *testing.T) {
	s := newStack(t)
	routes := []harness.Route{
		{Name: "shift", Path: "/shift", Auth: map[string]any{"forwardHeaders": harness.ShiftForwardHeaders}},
		{Name: "home", Path: "/home", Auth: map[string]any{"roles": "admin, read-only"}},
		{Name: "acme", Path: "/acme", Auth: map[string]any{"tenants": []string{"acme"}}},
		{Name: "catchall", Path: "/", Bare: true},
	}
	tr := startTraefik(t, harness.Options{Dynamic: map[string]string{"routes.yml": harness.FileConfig(routes, s.common(), s.backendURL)}})
	waitReady(t, tr, "/home", harness.RouterNames(routes)...)
	spoofed := map[string]string{"X-User-Name": "Mallory (admin)", "X_User_Name": "Mallory (admin)"}
	tenant := func(value any) *idp.Request {
		r := harness.Alice
		r.Tenant = ""
		r.Extra = map[string]any{"tenantId": value}
		return &r
	}
	runCases(t, tr.URL, []harness.Case{
		{Path: "/home", Who: "alice + X-User-Name: Mallory (admin)", Token: &harness.Alice, Header: spoofed, Status: http.StatusOK,
			Seen: map[string]string{"X-User-Id": "alice", "X-User-Name": "", "X_user_name": ""}},
		{Path: "/shift", Who: "alice + X-User-Name: Mallory (admin)", Token: &harness.Alice, Header: spoofed, Status: http.StatusOK,
			Seen: map[string]string{"X-User-Id": "alice", "X-User-Name": "Alice Liddell", "X_user_name": ""}},
		{Path: "/acme", Who: "tenant acme", Token: tenant("acme"), Status: http.StatusOK, Seen: map[string]string{"X-Tenant-Id": "acme"}},
		{Path: "/acme", Who: `tenant "acme attacker-org"`, Token: tenant("acme attacker-org"), Status: http.StatusForbidden, Error: "insufficient_scope"},
		{Path: "/acme", Who: `tenant ["attacker", "acme"]`, Token: tenant([]string{"attacker", "acme"}), Status: http.StatusForbidden, Error: "insufficient_scope"},
		{Path: "/acme", Who: `tenant {"acme": null}`, Token: tenant(map[string]any{"acme": nil}), Status: http.StatusForbidden, Error: "insufficient_scope"},
	}, s.mint())
}
