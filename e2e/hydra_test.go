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
