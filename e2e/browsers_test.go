package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/seed0ec25cca/withauth/e2e/internal/backend"
	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
)

// TestBrowsersThroughTraefik: a cookie-carried token, a query-parameter token the backend does
// not see in its URL, a WebSocket upgrade with a query token to an echoing backend, optional
// mode with and without tokens, a browser navigation redirected and an API call answered 401,
// and rejection lines read from Traefik's own JSON log file at the configured level.
func TestBrowsersThroughTraefik(t *testing.T) {
	s := newStack(t)
	echo := httptest.NewServer(websocket.Handler(func(ws *websocket.Conn) {
		var message string
		for websocket.Message.Receive(ws, &message) == nil {
			if websocket.Message.Send(ws, "echo: "+message) != nil {
				return
			}
		}
	}))
	t.Cleanup(echo.Close)
	logDir := t.TempDir()
	traefikLog := filepath.Join(logDir, "traefik.json")
	accessLog := filepath.Join(logDir, "access.log")
	routes := []harness.Route{
		{Name: "cookie", Path: "/cookie", Auth: map[string]any{"tokenCookie": "__session", "forwardAuthorization": false}},
		{Name: "query", Path: "/query", Auth: map[string]any{"tokenQueryParameter": "access_token"}},
		{Name: "optional", Path: "/optional", Auth: map[string]any{"optional": true}},
		{Name: "browser", Path: "/browser", Auth: map[string]any{"loginUrl": "https://login.example/sign-in?next={url}", "logRejections": "error"}},
		{Name: "quiet", Path: "/quiet", Auth: map[string]any{"roles": "admin", "logRejections": "debug"}},
		{Name: "ws", Path: "/ws", BackendURL: echo.URL, Auth: map[string]any{"tokenQueryParameter": "access_token"}},
	}
	dynamic := harness.FileConfig(routes, s.common(), s.backendURL)
	tr := startTraefik(t, harness.Options{
		Args:    []string{"--log.format=json", "--log.filePath=" + traefikLog, "--accesslog=true", "--accesslog.filepath=" + accessLog},
		Dynamic: map[string]string{"browsers.yml": dynamic},
	})
	waitReady(t, tr, "/optional", harness.RouterNames(routes)...)
	alice := mustMint(t, s.mint(), harness.Alice)
	bob := mustMint(t, s.mint(), harness.Bob)

	get := func(path string, header map[string]string) (*http.Response, backend.Seen) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, tr.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for name, value := range header {
			req.Header.Set(name, value)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var seen backend.Seen
		_ = json.NewDecoder(resp.Body).Decode(&seen)
		return resp, seen
	}

	resp, seen := get("/cookie", map[string]string{"Cookie": "theme=dark; __session=" + alice})
	if resp.StatusCode != http.StatusOK || seen.Headers["X-User-Id"] != "alice" {
		t.Errorf("a token in the __session cookie: status %d, X-User-Id %q; want 200 and alice", resp.StatusCode, seen.Headers["X-User-Id"])
	}
	resp, seen = get("/query/page?access_token="+url.QueryEscape(alice)+"&tab=2", nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(seen.Query, "access_token") || seen.Query != "tab=2" {
		t.Errorf("a query-parameter token: status %d, the backend's query %q; want 200 and tab=2 alone", resp.StatusCode, seen.Query)
	}

	// A browser WebSocket cannot set headers: the token rides in the query.
	config, err := websocket.NewConfig(strings.Replace(tr.URL, "http", "ws", 1)+"/ws/chat?access_token="+url.QueryEscape(alice), tr.URL)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := websocket.DialConfig(config)
	if err != nil {
		t.Fatalf("WebSocket upgrade with a query token: %v", err)
	}
	if err := websocket.Message.Send(ws, "hello"); err != nil {
		t.Fatal(err)
	}
	var answer string
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := websocket.Message.Receive(ws, &answer); err != nil || answer != "echo: hello" {
		t.Errorf("WebSocket echo: %q, %v; want \"echo: hello\"", answer, err)
	}
	ws.Close()
	forged, err := websocket.NewConfig(strings.Replace(tr.URL, "http", "ws", 1)+"/ws/chat?access_token=forged.token.value", tr.URL)
	if err != nil {
		t.Fatal(err)
	}
	if ws, err := websocket.DialConfig(forged); err == nil {
		ws.Close()
		t.Errorf("WebSocket upgrade with a forged query token: connected; want refused")
	}

	resp, seen = get("/optional", map[string]string{"X-User-Id": "mallory"})
	if resp.StatusCode != http.StatusOK || seen.Headers["X-User-Id"] != "" {
		t.Errorf("optional, anonymous: status %d, X-User-Id %q; want 200 and no identity", resp.StatusCode, seen.Headers["X-User-Id"])
	}
	resp, seen = get("/optional", map[string]string{"Authorization": "Bearer " + bob})
	if resp.StatusCode != http.StatusOK || seen.Headers["X-User-Id"] != "bob" {
		t.Errorf("optional, bob's token: status %d, X-User-Id %q; want 200 and bob", resp.StatusCode, seen.Headers["X-User-Id"])
	}
	resp, _ = get("/optional", map[string]string{"Authorization": "Bearer forged.token.value"})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("optional, a forged token: status %d; want 401", resp.StatusCode)
	}

	resp, _ = get("/browser/settings?tab=1", map[string]string{"Accept": "text/html,application/xhtml+xml"})
	wantLocation := "https://login.example/sign-in?next=" + url.QueryEscape(tr.URL+"/browser/settings?tab=1")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != wantLocation {
		t.Errorf("a browser navigation: status %d, Location %q; want 302 to %q", resp.StatusCode, resp.Header.Get("Location"), wantLocation)
	}
	resp, _ = get("/browser/settings", map[string]string{"Accept": "application/json"})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("an API call: status %d; want 401", resp.StatusCode)
	}
	get("/quiet", map[string]string{"Authorization": "Bearer " + alice}) // 403, logged at debug

	// Traefik's own log file, JSON: the rejection lines at their levels.
	deadline := time.Now().Add(5 * time.Second)
	var errorLines, debugLines []string
	for time.Now().Before(deadline) {
		errorLines, debugLines = pluginLogLines(t, traefikLog)
		if len(errorLines) >= 2 && len(debugLines) >= 1 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(errorLines) < 2 || !strings.Contains(strings.Join(errorLines, "\n"), "withauth browser-auth@file: refused 401 reason=no_credentials") {
		t.Errorf("Traefik's log at error: %q; want the /browser refusals", errorLines)
	}
	if len(debugLines) < 1 || !strings.Contains(strings.Join(debugLines, "\n"), `withauth quiet-auth@file: refused 403 reason=insufficient_scope`) {
		t.Errorf("Traefik's log at debug: %q; want the /quiet refusal with its claim", debugLines)
	}
	for _, line := range append(errorLines, debugLines...) {
		if strings.Contains(line, alice) {
			t.Errorf("a log line holds a token: %q", line)
		}
	}
	t.Logf("rejection lines in Traefik's JSON log: %q", append(errorLines, debugLines...))

	// What Traefik's access log records of the query token (the README says it): the default
	// format keeps the original request line, token included; JSON with RequestPath dropped
	// keeps it out.
	data, _ := os.ReadFile(accessLog)
	if !strings.Contains(string(data), "access_token="+alice[:20]) {
		t.Errorf("Traefik's default access log does not hold the query token; the README says it does: %.300s", data)
	}
	jsonLog := filepath.Join(logDir, "access.json")
	quiet := startTraefik(t, harness.Options{
		Args:    []string{"--accesslog=true", "--accesslog.format=json", "--accesslog.filepath=" + jsonLog, "--accesslog.fields.names.RequestPath=drop"},
		Dynamic: map[string]string{"browsers.yml": dynamic},
	})
	waitReady(t, quiet, "/optional", harness.RouterNames(routes)...)
	if resp, err := http.Get(quiet.URL + "/query/page?access_token=" + url.QueryEscape(alice)); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("query token, second Traefik: %v", err)
	}
	quiet.Stop() // flushes the access log
	data, _ = os.ReadFile(jsonLog)
	if len(data) == 0 || strings.Contains(string(data), alice[:20]) {
		t.Errorf("JSON access log with RequestPath dropped: %.300s; want entries without the token", data)
	}
}

// pluginLogLines reads Traefik's JSON log and returns the withauth rejection messages, at error
// and at debug.
func pluginLogLines(t *testing.T, path string) (errorLines, debugLines []string) {
	file, err := os.Open(path)
	if err != nil {
		return nil, nil
	}
	defer file.Close()
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		var entry struct {
			Level   string `json:"level"`
			Message string `json:"message"`
		}
		if json.Unmarshal(scanner.Bytes(), &entry) != nil || !strings.Contains(entry.Message, "refused") || !strings.Contains(entry.Message, "withauth") {
			continue
		}
		switch entry.Level {
		case "error":
			errorLines = append(errorLines, entry.Message)
		case "debug":
			debugLines = append(debugLines, entry.Message)
		}
	}
	return errorLines, debugLines
}
