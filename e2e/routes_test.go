package e2e

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
	"github.com/seed0ec25cca/withauth/e2e/internal/idp"
)

// TestGuideRoutes runs the guide's routes through Traefik's file provider, plus a route whose
// JWKS endpoint is down.
func TestGuideRoutes(t *testing.T) {
	s := newStack(t)
	deadPort, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	routes := append(harness.GuideRoutes(), harness.Route{Name: "down", Path: "/down",
		Auth: map[string]any{"jwksUrl": "http://127.0.0.1:" + strconv.Itoa(deadPort) + idp.JWKSPath, "httpTimeout": "1s"}})
	tr := startTraefik(t, harness.Options{Dynamic: map[string]string{
		"guide.yml": harness.FileConfig(routes, s.common(), s.backendURL),
	}})
	waitReady(t, tr, "/shift", harness.RouterNames(routes)...)

	runCases(t, tr.URL, harness.GuideCases(), s.mint())

	t.Run("keys never obtained: 503", func(t *testing.T) {
		c := harness.Case{Path: "/down", Who: "alice", Token: &harness.Alice, Status: http.StatusServiceUnavailable}
		r, err := harness.Do(context.Background(), tr.URL, c, s.mint())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range c.Check(r) {
			t.Error(p)
		}
		if ra := r.Header.Get("Retry-After"); ra == "" {
			t.Error("503 without Retry-After header")
		} else if n, err := strconv.Atoi(ra); err != nil || n <= 0 {
			t.Errorf("Retry-After %q, want a positive number of seconds", ra)
		}
	})
}

// TestPublicKeyAudienceEnvOnly configures the key as PEM and an audience, with Traefik's static
// configuration given only as TRAEFIK_* environment variables.
func TestPublicKeyAudienceEnvOnly(t *testing.T) {
	s := newStack(t)
	routes := []harness.Route{{Name: "pem", Path: "/pem", Auth: map[string]any{
		"publicKey": s.idp.PublicKeyPEM(), "issuer": s.idpURL, "audience": []string{"other-app", idp.DefaultAudience},
	}}}
	tr := startTraefik(t, harness.Options{StaticInEnv: true, Dynamic: map[string]string{
		"pem.yml": harness.FileConfig(routes, nil, s.backendURL),
	}})
	waitReady(t, tr, "/pem", "pem@file")
	wrongAud := harness.Alice
	wrongAud.Audience = "someone-else"
	runCases(t, tr.URL, []harness.Case{
		{Path: "/pem", Who: "alice", Token: &harness.Alice, Status: 200, Seen: map[string]string{"X-User-Id": "alice"}},
		{Path: "/pem", Who: "alice for another audience", Token: &wrongAud, Status: 401, Error: "invalid_token"},
		{Path: "/pem", Who: "no token", Status: 401},
	}, s.mint())
}
