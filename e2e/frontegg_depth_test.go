package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/internal/backend"
	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
	"github.com/seed0ec25cca/withauth/e2e/internal/idp"
	"github.com/seed0ec25cca/withauth/internal/fronteggmock"
)

const multiFactorACR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"

// TestFronteggInDepthThroughTraefik: step-up per route with RFC 9470's challenge, tenants, and a
// rotation of Frontegg's key followed within seconds, in vendor mode through a real Traefik.
func TestFronteggInDepthThroughTraefik(t *testing.T) {
	key, publicPEM := fronteggKey(t)
	mock := fronteggmock.New(fgClientID, fgAPIKey, publicPEM)
	mockSrv := httptest.NewServer(mock)
	backendSrv := httptest.NewServer(backend.Handler("backend"))
	t.Cleanup(func() {
		mock.Close()
		mockSrv.Close()
		backendSrv.Close()
	})
	routes := []harness.Route{
		{Name: "mfa", Path: "/mfa", Auth: map[string]any{"stepUp": true, "stepUpMaxAge": "5m"}},
		{Name: "acme", Path: "/acme", Auth: map[string]any{"tenants": []string{fgTenant}}},
		{Name: "globex", Path: "/globex", Auth: map[string]any{"tenants": "tenant-globex"}},
		{Name: "rotating", Path: "/rotating", Auth: map[string]any{"minRefreshInterval": "1s"}},
	}
	tr := startTraefik(t, harness.Options{
		Env:     []string{"FRONTEGG_CLIENT_ID=" + fgClientID, "FRONTEGG_API_KEY=" + fgAPIKey, "FRONTEGG_API_GATEWAY_URL=" + mockSrv.URL},
		Dynamic: map[string]string{"depth.yml": harness.FileConfig(routes, nil, backendSrv.URL)},
	})
	waitReady(t, tr, "/acme", harness.RouterNames(routes)...)
	s := &fronteggSetup{mock: mock, key: key, tr: tr}

	now := time.Now().Unix()
	mfa := s.token(t, "userToken", map[string]any{"sub": "ada", "acr": multiFactorACR, "amr": []string{"pwd", "mfa", "otp"}, "auth_time": now - 60})
	password := s.token(t, "userToken", map[string]any{"sub": "ada", "amr": []string{"pwd"}, "auth_time": now - 60})
	stale := s.token(t, "userToken", map[string]any{"sub": "ada", "acr": multiFactorACR, "amr": []string{"mfa", "otp"}, "auth_time": now - 3600})
	check(t, tr.URL, expect(bearer("/mfa", "a token after MFA", mfa), http.StatusOK, ""))
	for who, token := range map[string]string{"a password-only token": password, "an MFA token of an hour ago": stale} {
		r := check(t, tr.URL, expect(bearer("/mfa", who, token), http.StatusUnauthorized, "insufficient_user_authentication"))
		want := `Bearer realm="withauth", error="insufficient_user_authentication", error_description="this route requires a stronger, or more recent, authentication", acr_values="` + multiFactorACR + `", max_age="300"`
		if got := r.Header.Get("WWW-Authenticate"); got != want {
			t.Errorf("GET /mfa with %s: WWW-Authenticate %s; want %s", who, got, want)
		}
		t.Logf("GET /mfa with %s: %d, WWW-Authenticate: %s", who, r.Status, r.Header.Get("WWW-Authenticate"))
	}

	member := s.token(t, "userToken", map[string]any{"sub": "ada"}) // tenantId tenant-acme
	check(t, tr.URL, expect(bearer("/acme", "a member of tenant-acme", member), http.StatusOK, "", "X-Tenant-Id", fgTenant))
	check(t, tr.URL, expect(bearer("/globex", "a member of tenant-acme only", member), http.StatusForbidden, "insufficient_scope"))
	switched := s.token(t, "userToken", map[string]any{"sub": "ada", "tenantId": "tenant-initech", "tenantIds": []string{"tenant-initech", "tenant-globex"}})
	// The tenant judged is the token's tenantId, the one X-Tenant-Id forwards: tenantIds (the
	// user's other tenants) does not count.
	check(t, tr.URL, expect(bearer("/globex", "a user of tenant-initech whose tenantIds hold tenant-globex", switched), http.StatusForbidden, "insufficient_scope"))

	// Rotation: Frontegg's key changes; the first token of the new key is verified after one refetch.
	check(t, tr.URL, expect(bearer("/rotating", "the current key", member), http.StatusOK, ""))
	newKey, newPEM := fixtureKey(t, "key-2")
	rotatedAt := time.Now()
	mock.RotateKey(newPEM)
	time.Sleep(1100 * time.Millisecond) // past minRefreshInterval since the first fetch
	claims := map[string]any{"type": "userToken", "sub": "ada", "tenantId": fgTenant, "iss": "https://app-e2e.frontegg.com",
		"aud": fgClientID, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	rotated, err := idp.Sign(newKey, "frontegg-kid-e2e", claims)
	if err != nil {
		t.Fatal(err)
	}
	fetches := mock.KeyFetches.Load()
	r := check(t, tr.URL, expect(bearer("/rotating", "a token of the rotated key", rotated), http.StatusOK, ""))
	t.Logf("rotation: key replaced at the mock; %s later the first token of the new key answered %d after %d key fetch(es)",
		time.Since(rotatedAt).Round(time.Millisecond), r.Status, mock.KeyFetches.Load()-fetches)
	if !strings.Contains(r.Header.Get("Content-Type"), "json") {
		t.Errorf("the backend's answer is not JSON")
	}
}
