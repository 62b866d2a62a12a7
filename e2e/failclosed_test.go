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
	"github.com/seed0ec25cca/withauth/internal/fronteggmock"
)

// Fail closed through a real Traefik (its own mapstructure decoding, Yaegi, the file provider):
// settings that used to weaken a route are refused at load, and the route is never served.

// longDashedHeader has 24 dashes: enumerating its underscore spellings (2^24) never finished.
var longDashedHeader = "X" + strings.Repeat("-Auth", 24)

// refusedRoutes are middlewares New must refuse, each with the error Traefik must report.
var refusedRoutes = []struct {
	route harness.Route
	error string
}{
	{harness.Route{Name: "emptyroles", Path: "/empty-roles", Auth: map[string]any{"roles": ""}},
		`roles: is set but empty`},
	{harness.Route{Name: "misspelled", Path: "/misspelled", Auth: map[string]any{"role": "admin"}},
		`unknown key "role" (did you mean roles?)`},
}

func TestFailClosedConfigurationInTraefik(t *testing.T) {
	s := newStack(t)
	routes := []harness.Route{
		{Name: "admin", Path: "/admin", Auth: map[string]any{"roles": []string{"admin"}}},
		{Name: "long", Path: "/long", Auth: map[string]any{"claimsHeader": longDashedHeader}},
		{Name: "preflight", Path: "/preflight", Auth: map[string]any{"forwardAuthorization": false}},
	}
	all := append([]harness.Route{}, routes...)
	for _, r := range refusedRoutes {
		all = append(all, r.route)
	}
	start := time.Now()
	tr := startTraefik(t, harness.Options{Dynamic: map[string]string{
		"failclosed.yml": harness.FileConfig(all, s.common(), s.backendURL),
	}})
	waitReady(t, tr, "/admin", harness.RouterNames(routes)...)
	t.Logf("routers, the one with a %d-character claimsHeader among them, served %s after Traefik's start",
		len(longDashedHeader), time.Since(start).Round(time.Millisecond))

	for _, r := range refusedRoutes {
		errs, err := tr.WaitRefused(context.Background(), 30*time.Second, r.route.Name+"@file")
		if err != nil {
			t.Fatal(err)
		}
		if joined := strings.Join(errs, "; "); !strings.Contains(joined, r.error) {
			t.Errorf("router %s: Traefik reports %q; want New's error %q", r.route.Name, joined, r.error)
		}
	}
	cases := []harness.Case{
		{Path: "/admin", Who: "alice (read-only)", Token: &harness.Alice, Status: http.StatusForbidden, Error: "insufficient_scope"},
		{Path: "/long", Who: "alice", Token: &harness.Alice, Status: http.StatusOK,
			Header: map[string]string{"X-User_id": "spoofed", "X-User-Id": "spoofed"},
			Seen:   map[string]string{"X-User-Id": "alice", "X-User_id": ""}},
	}
	runCases(t, tr.URL, cases, s.mint())
	for _, r := range refusedRoutes {
		// The route is not served (Traefik's 404), so a read-only user cannot reach it.
		got, err := harness.Do(context.Background(), tr.URL, harness.Case{Path: r.route.Path, Token: &harness.Alice}, s.mint())
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != http.StatusNotFound {
			t.Errorf("GET %s with alice (read-only): status %d (%.200s); want Traefik's 404 (the router refused)", r.route.Path, got.Status, got.Body)
		}
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
