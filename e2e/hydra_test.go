package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
	"github.com/seed0ec25cca/withauth/e2e/internal/hydra"
	"github.com/seed0ec25cca/withauth/e2e/internal/idp"
)

// TestHydraIssuerOnly: withauth configured with a real OpenID provider's issuer alone (keys
// found by discovery), client-credentials access tokens, scopes in scp, a key rotated through
// Hydra's admin API.
func TestHydraIssuerOnly(t *testing.T) {
	ctx := context.Background()
	h := startHydra(t)
	const client, secret, audience = "withauth-e2e", "withauth-e2e-secret", "api://withauth"
	if err := h.CreateClient(ctx, client, secret, "read write admin", audience); err != nil {
		t.Fatal(err)
	}

	s := newStack(t)
	common := map[string]any{"issuer": h.Issuer, "minRefreshInterval": "1s"}
	routes := []harness.Route{
		{Name: "hydra", Path: "/hydra", Auth: map[string]any{"audience": []string{audience}}},
		{Name: "hydrawrite", Path: "/hydra-write", Auth: map[string]any{"permissionsClaim": "scp", "permissions": []string{"write"}}},
		{Name: "hydraadmin", Path: "/hydra-admin", Auth: map[string]any{"permissionsClaim": "scp", "permissions": []string{"admin"}}},
		// Two issuers on one route: Hydra (discovery) and the demo IdP (its JWKS).
		{Name: "twoissuers", Path: "/two-issuers", OwnSettings: true, Auth: map[string]any{
			"minRefreshInterval": "1s",
			"issuers":            []map[string]any{{"issuer": h.Issuer}, {"issuer": s.idpURL, "jwksUrl": s.idpURL + idp.JWKSPath}},
		}},
	}
	tr := startTraefik(t, harness.Options{Dynamic: map[string]string{"hydra.yml": harness.FileConfig(routes, common, s.backendURL)}})
	waitReady(t, tr, "/hydra", harness.RouterNames(routes)...)

	token, err := h.Token(ctx, client, secret, "read write", audience)
	if err != nil {
		t.Fatal(err)
	}
	header, claims := decodeJWT(t, token)
	t.Logf("Hydra's token: header %s, claims %s", header, claims)
	for _, c := range []harness.Case{
		{Path: "/hydra", Who: "a client-credentials token", Raw: token, Status: http.StatusOK, Seen: map[string]string{"X-User-Id": client}},
		{Path: "/hydra-write", Who: "a token whose scp holds write", Raw: token, Status: http.StatusOK, Seen: map[string]string{"X-User-Permissions": "read,write"}},
		{Path: "/hydra-admin", Who: "a token whose scp lacks admin", Raw: token, Status: http.StatusForbidden, Error: "insufficient_scope"},
		{Path: "/hydra", Who: "no token", Status: http.StatusUnauthorized},
		{Path: "/two-issuers", Who: "Hydra's token", Raw: token, Status: http.StatusOK},
		{Path: "/two-issuers", Who: "the demo IdP's token", Raw: mustMint(t, s.mint(), harness.Alice), Status: http.StatusOK},
	} {
		check(t, tr.URL, c)
	}

	// A key created through Hydra's admin API signs the next tokens: withauth refetches for its
	// unknown kid (minRefreshInterval 1s after the first fetch).
	if err := h.RotateKey(ctx, "rotated-1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	rotated, err := h.Token(ctx, client, secret, "read", audience)
	if err != nil {
		t.Fatal(err)
	}
	rotatedHeader, _ := decodeJWT(t, rotated)
	if !strings.Contains(rotatedHeader, `"kid":"rotated-1"`) {
		t.Fatalf("after the rotation Hydra signed with %s; want kid rotated-1", rotatedHeader)
	}
	t.Logf("after the rotation: header %s", rotatedHeader)
	check(t, tr.URL, harness.Case{Path: "/hydra", Who: "a token of the rotated key", Raw: rotated, Status: http.StatusOK})
	check(t, tr.URL, harness.Case{Path: "/hydra", Who: "the token of the first key", Raw: token, Status: http.StatusOK})
}

// startHydra runs Hydra for one test.
func startHydra(t *testing.T) *hydra.Hydra {
	t.Helper()
	ctx := context.Background()
	binary, err := hydra.Binary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hydra.Start(ctx, binary, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(h.LogTail())
		}
		h.Stop()
	})
	return h
}

// TestHydraOpaqueTokensIntrospected: Hydra's own opaque access tokens, judged through a real
// Traefik by Hydra's RFC 7662 endpoint: admitted with the answer's sub and scope, scopes
// judged, and a token revoked through Hydra refused once introspectionCacheDuration has passed.
func TestHydraOpaqueTokensIntrospected(t *testing.T) {
	ctx := context.Background()
	h := startHydra(t)
	const client, secret, audience = "withauth-opaque", "withauth-opaque-secret", "api://withauth"
	if err := h.CreateOpaqueClient(ctx, client, secret, "read write admin", audience); err != nil {
		t.Fatal(err)
	}
	s := newStack(t)
	const cacheDuration = 2 * time.Second
	common := map[string]any{"issuer": h.Issuer, "introspectionUrl": h.IntrospectionURL(), "introspectionCacheDuration": cacheDuration.String(),
		"audience": []string{audience}, "permissionsClaim": "scope"}
	routes := []harness.Route{
		{Name: "opaque", Path: "/opaque"},
		{Name: "opaquewrite", Path: "/opaque-write", Auth: map[string]any{"permissions": []string{"write"}}},
		{Name: "opaqueadmin", Path: "/opaque-admin", Auth: map[string]any{"permissions": []string{"admin"}}},
	}
	tr := startTraefik(t, harness.Options{Dynamic: map[string]string{"opaque.yml": harness.FileConfig(routes, common, s.backendURL)}})
	waitReady(t, tr, "/opaque", harness.RouterNames(routes)...)

	token, err := h.Token(ctx, client, secret, "read write", audience)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(token, ".") == 2 {
		t.Fatalf("Hydra issued %.20q…, a JWT; want an opaque token", token)
	}
	t.Logf("Hydra's opaque token: %.12s… (%d characters)", token, len(token))
	for _, c := range []harness.Case{
		{Path: "/opaque", Who: "Hydra's opaque token", Raw: token, Status: http.StatusOK, Seen: map[string]string{"X-User-Id": client, "X-User-Permissions": "read,write"}},
		{Path: "/opaque-write", Who: "an opaque token whose scope holds write", Raw: token, Status: http.StatusOK},
		{Path: "/opaque-admin", Who: "an opaque token whose scope lacks admin", Raw: token, Status: http.StatusForbidden, Error: "insufficient_scope"},
		{Path: "/opaque", Who: "a made-up opaque token", Raw: "ory_at_made-up.token", Status: http.StatusUnauthorized, Error: "invalid_token"},
	} {
		check(t, tr.URL, c)
	}

	if err := h.Revoke(ctx, client, secret, token); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	deadline := revoked.Add(cacheDuration + 2*time.Second)
	for {
		r, _ := send(t, tr.URL, harness.Case{Path: "/opaque", Who: "the revoked token", Raw: token}, 10*time.Second)
		if r.Status == http.StatusUnauthorized {
			t.Logf("the revoked token was refused %s after its revocation (introspectionCacheDuration %s)", time.Since(revoked).Round(100*time.Millisecond), cacheDuration)
			break
		}
		if r.Status != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("the revoked token: status %d %s after %s; want 200 until introspectionCacheDuration (%s), then 401", r.Status, r.Body, time.Since(revoked), cacheDuration)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// decodeJWT returns a compact JWS's header and claims as JSON text, for the log.
func decodeJWT(t *testing.T, token string) (string, string) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a compact JWS", token)
	}
	var out [2]string
	for i := 0; i < 2; i++ {
		data, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || !json.Valid(data) {
			t.Fatalf("JWS part %d is not base64url JSON: %v", i, err)
		}
		out[i] = string(data)
	}
	return out[0], out[1]
}
