package withauth

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// capturedLines replaces Traefik's log with a recorder for one test.
type capturedLines struct {
	mu           sync.Mutex
	debug, error []string
}

func captureLog(t *testing.T) *capturedLines {
	c := &capturedLines{}
	log := testProcess(t).log
	log.debug = func(line string) { c.mu.Lock(); c.debug = append(c.debug, line); c.mu.Unlock() }
	log.error = func(line string) { c.mu.Lock(); c.error = append(c.error, line); c.mu.Unlock() }
	return c
}

func (c *capturedLines) lines(debug bool) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if debug {
		return append([]string{}, c.debug...)
	}
	return append([]string{}, c.error...)
}

// TestRejectionLog: one line per refusal at the configured level, with the middleware's name,
// status, reason, client, method and path, what is known of a verified token, never the token
// or the query; at most 10 a second, then a line saying how many were left out.
func TestRejectionLog(t *testing.T) {
	captured := captureLog(t)
	config := pemConfig(t)
	config.LogRejections = "debug"
	config.Roles = []string{"owner"}
	handler := newHandler(t, config, &upstream{})
	token := validToken(t)
	req := request(token)
	req.URL.RawQuery = "secret=s3cr3t"
	serve(handler, req)
	lines := captured.lines(true)
	if len(lines) != 1 {
		t.Fatalf("one refusal logged %d debug lines %q; want 1", len(lines), lines)
	}
	line := lines[0]
	for _, want := range []string{"withauth test: refused 403 reason=insufficient_scope", "client=192.0.2.1:1234", "method=GET", `path="/admin"`,
		`iss="https://app-demo.frontegg.com"`, `sub="6b3c1a2e-0f4d-4f4a-9d57-1c1f0e0d7a11"`, `kid="key-1"`, `claim="roles" found=array`} {
		if !strings.Contains(line, want) {
			t.Errorf("rejection line %q lacks %q", line, want)
		}
	}
	if strings.Contains(line, token) || strings.Contains(line, "s3cr3t") {
		t.Errorf("rejection line %q holds the token or the query; want neither", line)
	}
	if got := captured.lines(false); len(got) != 0 {
		t.Errorf("logRejections debug wrote ERROR lines %q; want none", got)
	}

	// A burst: at most 10 lines a second, then the count of the others.
	config.LogRejections = "error"
	config.Roles = nil
	clock := newFakeClock()
	config.Now = clock.Now
	burst := newHandler(t, config, &upstream{})
	for i := 0; i < 25; i++ {
		serve(burst, request(""))
	}
	clock.Advance(time.Second)
	serve(burst, request(""))
	lines = captured.lines(false)
	if len(lines) != 12 || !strings.Contains(lines[10], "15 more refusals in the last second were not logged") {
		t.Fatalf("26 refusals over two seconds logged %d lines %q; want 10 lines, the count of the 15 left out, and the new second's line", len(lines), lines)
	}
	if !strings.Contains(lines[0], "refused 401 reason=no_credentials") {
		t.Errorf("first line %q; want the 401's reason", lines[0])
	}
}

// TestRuntimeLinesReachTraefiksLog: the plugin's own lines (a failing key endpoint) go through
// the log package, which Traefik logs at ERROR, and name the middlewares concerned.
func TestRuntimeLinesReachTraefiksLog(t *testing.T) {
	captured := captureLog(t)
	server := newKeyServer(t)
	server.set(http.StatusInternalServerError, []byte("down"))
	config := jwksConfig(t, server)
	handler := handlerIn(testProcess(t), &upstream{}, config, "admin-auth@file")
	if _, refused := handler.(misconfigured); refused {
		t.Fatalf("New refused the configuration (%T); want a middleware", handler)
	}
	serve(handler, request(validToken(t)))
	lines := captured.lines(false)
	if len(lines) != 1 || !strings.Contains(lines[0], "withauth admin-auth@file: fetching keys from "+server.url()+" failed (no keys obtained yet: tokens are answered 503): unexpected status 500") {
		t.Fatalf("a failing key endpoint logged %q; want one ERROR line naming the middleware, the endpoint and that no keys were obtained", lines)
	}
}

// TestPasswordsInURLsAreNeverLogged: a jwksUrl, an issuer or a discovered jwks_uri with a
// password in it (https://keys:S3cret@idp/...) was logged whole when a fetch failed, and a
// refused one in New's error.
func TestPasswordsInURLsAreNeverLogged(t *testing.T) {
	captured := captureLog(t)
	server := newKeyServer(t)
	server.set(http.StatusInternalServerError, []byte("down"))
	withPassword := strings.Replace(server.URL, "http://", "http://keys:S3cret@", 1)
	discovered := newKeyServer(t)
	discovered.set(http.StatusInternalServerError, []byte("down"))
	discoveredWithPassword := strings.Replace(discovered.URL, "http://", "http://keys:S3cret@", 1)
	document := newKeyServer(t)
	document.serveOnly(map[string][]byte{"/.well-known/openid-configuration": []byte(`{"issuer":"` + document.URL + `","jwks_uri":"` + discoveredWithPassword + `/jwks"}`)})

	for name, change := range map[string]func(*Config){
		"jwksUrl":             func(c *Config) { c.JWKSURL = withPassword + "/.well-known/jwks.json" },
		"jwksUrl, no server":  func(c *Config) { c.JWKSURL = "http://keys:S3cret@127.0.0.1:1/jwks" },
		"issuer":              func(c *Config) { c.Issuer = withPassword },
		"discovered jwks_uri": func(c *Config) { c.Issuer = document.URL },
	} {
		config := jwksConfig(t, server)
		config.JWKSURL = ""
		change(config)
		serve(newHandler(t, config, &upstream{}), request(validToken(t)))
		lines := captured.lines(false)
		if len(lines) == 0 || !strings.Contains(strings.Join(lines, "\n"), "keys:xxxxx@") && !strings.Contains(strings.Join(lines, "\n"), "keys:***@") {
			t.Errorf("%s with a password, failing: logged %q; want the failure logged with the password redacted", name, lines)
		}
	}
	for _, bad := range []string{"keys:S3cret@idp.example/jwks", "ftp://keys:S3cret@idp.example/jwks", "https://keys:S3cret@idp.example:port/jwks"} {
		config := CreateConfig()
		config.JWKSURL = bad
		newError(t, config)
		config = CreateConfig()
		config.LoginURL = strings.Replace(bad, "jwks", "login", 1)
		config.PublicKey = string(readFixture(t, "keys/key-1.pub.pem"))
		newError(t, config)
	}
	for _, line := range captured.lines(false) {
		if strings.Contains(line, "S3cret") {
			t.Errorf("Traefik's log holds %q; want no password in any line", line)
		}
	}
}

// TestAbsentRequiredClaimIsLoggedOnce: a misspelled claim path (realm_access.role) refuses every
// token with a 403 like a missing role; the first time, withauth logs it at ERROR, whatever
// logRejections says, naming the route, the path and the token's claim names, never values.
func TestAbsentRequiredClaimIsLoggedOnce(t *testing.T) {
	log := captureLog(t)
	config := givenConfig(t, map[string]interface{}{"rolesClaim": "realm_access.role", "roles": "auditor"})
	handler := handlerIn(testProcess(t), &upstream{}, config, "keycloak-route")
	for i := 0; i < 3; i++ {
		token := tokenWith(map[string]interface{}{"jti": fmt.Sprint("absent-", i)})(t)
		if rec, _ := serve(handler, request(token)); rec.Code != http.StatusForbidden {
			t.Fatalf("token %d without realm_access.role: status %d; want 403", i, rec.Code)
		}
	}
	var found []string
	for _, line := range log.lines(false) {
		if strings.Contains(line, "absent from a verified token") {
			found = append(found, line)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d ERROR lines about the absent claim; want exactly 1:\n%s", len(found), strings.Join(log.lines(false), "\n"))
	}
	line := found[0]
	for _, want := range []string{"withauth keycloak-route:", `"realm_access.role"`, "realm_access", "email", "rolesClaim"} {
		if !strings.Contains(line, want) {
			t.Errorf("the line lacks %q: %s", want, line)
		}
	}
	for _, value := range []string{"ada@example.com", "auditor\"]", "Ada Lovelace"} {
		if strings.Contains(line, value) {
			t.Errorf("the line holds the claim value %q: %s", value, line)
		}
	}
	// A token that has the claim path but not the role is an ordinary refusal: nothing more.
	token := tokenWith(map[string]interface{}{"realm_access": map[string]interface{}{"role": []string{"viewer"}}})(t)
	if rec, _ := serve(handler, request(token)); rec.Code != http.StatusForbidden {
		t.Fatalf("token without the role: status %d; want 403", rec.Code)
	}
}
