package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
)

// buildChecker builds cmd/withauth-check (a module of its own) for the test.
func buildChecker(t *testing.T) string {
	t.Helper()
	binary := filepath.Join(t.TempDir(), "withauth-check")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Dir = filepath.Join("..", "cmd", "withauth-check")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building withauth-check: %v\n%s", err, out)
	}
	return binary
}

// TestCheckerAgreesWithTraefik: what withauth-check says Traefik drops, a real Traefik drops,
// and its catch-all then serves the path without a token to the same backend, which sees the
// identity header the client wrote; withauth-check fails on that file, naming each router.
func TestCheckerAgreesWithTraefik(t *testing.T) {
	s := newStack(t)
	routes := []harness.Route{
		{Name: "guarded", Path: "/guarded", Auth: map[string]any{"roles": []string{"admin"}}},
		{Name: "typo", Path: "/typo", Plugin: "withAuth"},
		{Name: "catchall", Path: "/", Bare: true},
	}
	var config map[string]map[string]map[string]any
	if err := json.Unmarshal([]byte(harness.FileConfig(routes, s.common(), s.backendURL)), &config); err != nil {
		t.Fatal(err)
	}
	// A router naming a middleware no file defines.
	config["http"]["routers"]["ghost"] = map[string]any{"rule": "PathPrefix(`/ghost`)", "entryPoints": []string{"web"}, "service": "backend", "middlewares": []string{"ghost-auth"}}
	content, _ := json.MarshalIndent(config, "", "  ")
	path := filepath.Join(t.TempDir(), "routes.yml")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}

	tr := startTraefik(t, harness.Options{Dynamic: map[string]string{"routes.yml": string(content)}})
	waitReady(t, tr, "/guarded", "guarded@file", "catchall@file")
	runCases(t, tr.URL, []harness.Case{
		{Path: "/guarded", Who: "alice (read-only)", Token: &harness.Alice, Status: http.StatusForbidden, Error: "insufficient_scope"},
		{Path: "/typo", Who: "nobody, a spoofed X-User-Id (the catch-all serves the dropped router's path)", Status: http.StatusOK,
			Header: map[string]string{"X-User-Id": "mallory"}, Seen: map[string]string{"X-User-Id": "mallory"}},
		{Path: "/ghost", Who: "nobody (the catch-all serves the dropped router's path)", Status: http.StatusOK},
	}, s.mint())

	out, err := exec.Command(buildChecker(t), path).Output()
	status := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		status = exitErr.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	report := string(out)
	t.Logf("withauth-check %s:\n%s", filepath.Base(path), report)
	for _, want := range []string{
		`typo@file: the middleware "typo-auth@file" names a plugin Traefik does not know ("withAuth"): Traefik drops this router`,
		`ghost@file: the middleware "ghost-auth@file" does not exist: Traefik drops this router`,
		`catchall@file: warning: matches every path and reaches backend@file without withauth`,
	} {
		if !strings.Contains(report, want) {
			t.Errorf("withauth-check's report lacks %q", want)
		}
	}
	if status != 1 {
		t.Errorf("withauth-check exited %d on routers Traefik drops; want 1", status)
	}
}

// TestSecretFilesInTraefik: introspectionClientSecretFile in a real Traefik: the endpoint gets
// the file's secret, Traefik's API shows the path and never the secret, and after the file
// changes, the next configuration load uses the new secret.
func TestSecretFilesInTraefik(t *testing.T) {
	s := newStack(t)
	var mu sync.Mutex
	expected := "first-secret"
	var refused int
	endpoint := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if req.Header.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("traefik:"+expected)) {
			refused++
			http.Error(rw, "unknown client", http.StatusUnauthorized)
			return
		}
		_ = req.ParseForm()
		_ = json.NewEncoder(rw).Encode(map[string]any{"active": true, "sub": "client-" + req.PostForm.Get("token"), "iss": s.idpURL,
			"exp": time.Now().Add(time.Hour).Unix(), "token_type": "Bearer"})
	}))
	t.Cleanup(endpoint.Close)
	secretFile := filepath.Join(t.TempDir(), "introspection-secret")
	if err := os.WriteFile(secretFile, []byte("first-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	routes := []harness.Route{{Name: "opaque", Path: "/opaque", Auth: map[string]any{"introspectionUrl": endpoint.URL,
		"introspectionClientId": "traefik", "introspectionClientSecretFile": secretFile}}}
	tr := startTraefik(t, harness.Options{Dynamic: map[string]string{"opaque.yml": harness.FileConfig(routes, s.common(), s.backendURL)}})
	waitReady(t, tr, "/opaque", harness.RouterNames(routes)...)
	check(t, tr.URL, harness.Case{Path: "/opaque", Who: "an opaque token, the secret read from its file", Raw: "token-one", Status: http.StatusOK,
		Seen: map[string]string{"X-User-Id": "client-token-one"}})

	resp, err := http.Get(tr.APIURL + "/api/http/middlewares/opaque-auth@file")
	if err != nil {
		t.Fatal(err)
	}
	shown, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(shown), secretFile) || strings.Contains(string(shown), "first-secret") {
		t.Errorf("Traefik's API shows %s; want the secret's path, never the secret", shown)
	}

	// The Secret rotates: the file changes, then a configuration load (here, a router added).
	mu.Lock()
	expected = "second-secret"
	mu.Unlock()
	if err := os.WriteFile(secretFile, []byte("second-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	routes = append(routes, harness.Route{Name: "reload", Path: "/reload", Bare: true})
	if err := tr.WriteDynamic("opaque.yml", harness.FileConfig(routes, s.common(), s.backendURL)); err != nil {
		t.Fatal(err)
	}
	if err := tr.WaitRouters(context.Background(), 30*time.Second, "reload@file"); err != nil {
		t.Fatal(err)
	}
	check(t, tr.URL, harness.Case{Path: "/opaque", Who: "a new opaque token after the rotation and a reload", Raw: "token-two", Status: http.StatusOK,
		Seen: map[string]string{"X-User-Id": "client-token-two"}})
	mu.Lock()
	defer mu.Unlock()
	if refused != 0 {
		t.Errorf("the endpoint refused %d calls; want every call made with the file's current secret", refused)
	}
}
