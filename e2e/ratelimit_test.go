package e2e

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
	"github.com/seed0ec25cca/withauth/e2e/internal/idp"
)

// The README's recipe for per-user rate limits through a real Traefik: withauth first, then
// Traefik's own rateLimit keyed on the X-User-Id withauth sets. One user over the limit gets 429,
// another is unaffected, and a spoofed X-User-Id neither escapes its own budget nor spends
// another user's. A route with the two middlewares the other way round shows why the order
// matters: there the spoofed header picks the bucket.

// rateLimitBurst is how many requests a user may send at once; the budget refills at one a
// minute, so none comes back while the test runs.
const rateLimitBurst = 3

func rateLimitConfig(s *stack) string {
	auth := map[string]any{"plugin": map[string]any{harness.PluginName: s.common()}}
	limit := map[string]any{"rateLimit": map[string]any{
		"average": 1, "period": "1m", "burst": rateLimitBurst,
		"sourceCriterion": map[string]any{"requestHeaderName": "X-User-Id"},
	}}
	router := func(path string, middlewares ...string) map[string]any {
		return map[string]any{"rule": "PathPrefix(`" + path + "`)", "entryPoints": []string{"web"}, "service": "backend", "middlewares": middlewares}
	}
	config := map[string]any{"http": map[string]any{
		"routers": map[string]any{
			"limited":    router("/limited", "auth", "per-user"),
			"misordered": router("/misordered", "per-user-first", "auth-second"),
		},
		"middlewares": map[string]any{"auth": auth, "per-user": limit, "per-user-first": limit, "auth-second": auth},
		"services": map[string]any{"backend": map[string]any{"loadBalancer": map[string]any{
			"servers": []map[string]string{{"url": s.backendURL}}}}},
	}}
	out, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		panic(err)
	}
	return string(out)
}

func TestPerUserRateLimitInTraefik(t *testing.T) {
	s := newStack(t)
	tr := startTraefik(t, harness.Options{Dynamic: map[string]string{"ratelimit.yml": rateLimitConfig(s)}})
	waitReady(t, tr, "/limited", "limited@file", "misordered@file")
	mint := s.mint()
	token := func(who idp.Request) string {
		tok, err := mint(who)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	alice, bob, carol, dave := token(harness.Alice), token(harness.Bob), token(harness.Carol), token(idp.Request{Subject: "dave"})
	send := func(path, tok, spoofed string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, tr.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if spoofed != "" {
			req.Header.Set("X-User-Id", spoofed)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	expect := func(what string, got, want int) {
		t.Helper()
		if got != want {
			t.Errorf("%s: status %d; want %d", what, got, want)
		}
	}

	for i := 1; i <= rateLimitBurst; i++ {
		expect("alice within her budget", send("/limited", alice, ""), http.StatusOK)
	}
	expect("alice over her budget", send("/limited", alice, ""), http.StatusTooManyRequests)
	expect("alice over her budget, claiming to be someone new", send("/limited", alice, "nobody-yet"), http.StatusTooManyRequests)
	expect("bob, another user", send("/limited", bob, ""), http.StatusOK)
	// Carol claims to be alice: withauth replaces the header, so she spends her own budget,
	// and alice's (spent) budget does not refuse her.
	for i := 1; i <= rateLimitBurst; i++ {
		expect("carol claiming to be alice, within her own budget", send("/limited", carol, "alice"), http.StatusOK)
	}
	expect("carol over her own budget", send("/limited", carol, "alice"), http.StatusTooManyRequests)
	expect("bob, still within his budget", send("/limited", bob, ""), http.StatusOK)

	// The wrong order: rateLimit reads the client's header before withauth replaces it.
	for i := 1; i <= rateLimitBurst; i++ {
		expect("dave on the misordered route", send("/misordered", dave, ""), http.StatusOK)
	}
	expect("dave over the budget of the header he sent (none)", send("/misordered", dave, ""), http.StatusTooManyRequests)
	if got := send("/misordered", dave, "fresh-name"); got != http.StatusOK {
		t.Errorf("dave over his budget with a made-up X-User-Id on the misordered route: status %d; want 200 (the wrong order lets a spoofed header escape the limit, which is why withauth must come first)", got)
	}
}
