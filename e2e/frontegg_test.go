package e2e

import (
	"context"
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/internal/backend"
	"github.com/seed0ec25cca/withauth/e2e/internal/harness"
	"github.com/seed0ec25cca/withauth/e2e/internal/idp"
	"github.com/seed0ec25cca/withauth/internal/fronteggmock"
)

// Frontegg vendor mode in a real Traefik: Traefik's environment holds nothing but what Frontegg's
// guide tells users to export (FRONTEGG_CLIENT_ID, FRONTEGG_API_KEY, plus the gateway, pointed at
// a mock of Frontegg's API in this process), and the middlewares hold nothing but the guide's
// route requirements.

const (
	fgClientID = "e2e-frontegg-client"
	fgAPIKey   = "e2e-frontegg-api-key"
	fgTenant   = "tenant-acme"
	// fgHTTPTimeout is the plugin's default httpTimeout: the routes cannot set another.
	fgHTTPTimeout = 5 * time.Second
	// fgHangClientTimeout bounds a request made while Frontegg's API hangs: httpTimeout plus a margin.
	fgHangClientTimeout = 8 * time.Second
)

// fronteggGuideMiddlewares are the guide's four withAuthentication calls as withauth middlewares:
// only requirements, no key source, no credentials, no timing. /shift's is an empty plugin map.
const fronteggGuideMiddlewares = `http:
  middlewares:
    shift-auth:
      plugin:
        withauth: {}
    admin-auth:
      plugin:
        withauth:
          roles: [admin]
    home-auth:
      plugin:
        withauth:
          roles: [admin, read-only]
    uploads-auth:
      plugin:
        withauth:
          permissions: [uploadFile]
`

var fronteggGuidePaths = []string{"/shift", "/admin", "/home", "/uploads"}

// fronteggRouters routes each guide path through its middleware to the backend.
func fronteggRouters(backendURL string) string {
	var b strings.Builder
	b.WriteString("http:\n  routers:\n")
	for _, path := range fronteggGuidePaths {
		name := strings.TrimPrefix(path, "/")
		fmt.Fprintf(&b, "    %s:\n      rule: \"PathPrefix(`%s`)\"\n      entryPoints: [web]\n      middlewares: [%s-auth]\n      service: backend\n",
			name, path, name)
	}
	fmt.Fprintf(&b, "  services:\n    backend:\n      loadBalancer:\n        servers:\n          - url: %q\n", backendURL)
	return b.String()
}

// fronteggSetup is a Frontegg mock, a backend and a Traefik that knows Frontegg only from its
// environment.
type fronteggSetup struct {
	mock *fronteggmock.API
	key  *rsa.PrivateKey // Frontegg's signing key; the mock serves its public half
	tr   *harness.Traefik
}

// startFronteggTraefik starts the mock (after prepare registered access tokens or a fault), the
// backend and Traefik, and waits for the guide's routers.
func startFronteggTraefik(t *testing.T, prepare func(*fronteggmock.API)) *fronteggSetup {
	t.Helper()
	return startFronteggTraefikWith(t, prepare, nil)
}

// startFronteggTraefikWith is startFronteggTraefik with more file-provider files, whose routers
// may use the service "backend".
func startFronteggTraefikWith(t *testing.T, prepare func(*fronteggmock.API), more map[string]string) *fronteggSetup {
	t.Helper()
	key, publicPEM := fronteggKey(t)
	mock := fronteggmock.New(fgClientID, fgAPIKey, publicPEM)
	if prepare != nil {
		prepare(mock)
	}
	mockSrv := httptest.NewServer(mock)
	backendSrv := httptest.NewServer(backend.Handler("backend"))
	t.Cleanup(func() {
		mock.Close() // releases requests held by FaultHang
		mockSrv.Close()
		backendSrv.Close()
	})
	dynamic := map[string]string{
		"frontegg-middlewares.yml": fronteggGuideMiddlewares,
		"frontegg-routers.yml":     fronteggRouters(backendSrv.URL),
	}
	for name, content := range more {
		dynamic[name] = content
	}
	tr := startTraefik(t, harness.Options{
		Env: []string{
			"FRONTEGG_CLIENT_ID=" + fgClientID,
			"FRONTEGG_API_KEY=" + fgAPIKey,
			"FRONTEGG_API_GATEWAY_URL=" + mockSrv.URL,
		},
		Dynamic: dynamic,
	})
	waitReady(t, tr, "/shift", "shift@file", "admin@file", "home@file", "uploads@file")
	if n := mock.VendorAuths.Load() + mock.KeyFetches.Load() + mock.Checks.Load(); n != 0 {
		t.Errorf("Frontegg's API was called %d times before any request carried a token; want none (no I/O when middlewares are built)", n)
	}
	return &fronteggSetup{mock: mock, key: key, tr: tr}
}

// fronteggKey loads Frontegg's signing key for the tests (testdata/keys/key-1) and the PEM
// public key the mock serves.
func fronteggKey(t *testing.T) (*rsa.PrivateKey, string) {
	return fixtureKey(t, "key-1")
}

// fixtureKey loads testdata/keys/<name> and its public PEM.
func fixtureKey(t *testing.T, name string) (*rsa.PrivateKey, string) {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	key, err := idp.LoadKey(filepath.Join(root, "testdata", "keys", name+".key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	publicPEM, err := os.ReadFile(filepath.Join(root, "testdata", "keys", name+".pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return key, string(publicPEM)
}

// token signs a Frontegg token of tokenType with Frontegg's key, as Frontegg's identity service
// would, with the claims Frontegg's SDKs read (type, sub, tenantId, roles, permissions, and
// createdByUserId or userId); claims add to or replace the common ones.
func (s *fronteggSetup) token(t *testing.T, tokenType string, claims map[string]any) string {
	t.Helper()
	now := time.Now()
	all := map[string]any{
		"type": tokenType, "tenantId": fgTenant, "tenantIds": []string{fgTenant},
		"iss": "https://app-e2e.frontegg.com", "aud": fgClientID,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	for k, v := range claims {
		all[k] = v
	}
	token, err := idp.Sign(s.key, "frontegg-kid-e2e", all)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// bearer and apiKey build a request carrying token as Frontegg's clients send it: a bearer token
// in Authorization, or an access token in x-api-key.
func bearer(path, who, token string) harness.Case {
	return harness.Case{Path: path, Who: who + " in Authorization", Raw: token}
}

func apiKey(path, who, token string) harness.Case {
	return harness.Case{Path: path, Who: who + " in x-api-key", Header: map[string]string{"X-Api-Key": token}}
}

// expect sets what must come of c: a status, the OAuth error code ("" for 200 or the bare
// challenge) and, for 200, header name/value pairs the backend must have received ("" = absent).
func expect(c harness.Case, status int, code string, seen ...string) harness.Case {
	c.Status, c.Error = status, code
	if len(seen) > 0 {
		c.Seen = map[string]string{}
		for i := 0; i+1 < len(seen); i += 2 {
			c.Seen[seen[i]] = seen[i+1]
		}
	}
	return c
}

// send runs c through Traefik within timeout; no answer in time fails the test.
func send(t *testing.T, baseURL string, c harness.Case, timeout time.Duration) (harness.Result, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	r, err := harness.Do(ctx, baseURL, c, nil)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("GET %s with %s: no answer after %s (want one within %s): %v", c.Path, c.Who, elapsed.Round(time.Millisecond), timeout, err)
	}
	return r, elapsed
}

// check sends c and reports how the answer differs from c's expectation.
func check(t *testing.T, baseURL string, c harness.Case) harness.Result {
	t.Helper()
	r, _ := send(t, baseURL, c, 10*time.Second)
	for _, p := range c.Check(r) {
		t.Errorf("GET %s with %s: %s", c.Path, c.Who, p)
	}
	return r
}

// checkUnavailable checks an answer for "Frontegg could not be asked": 503
// temporarily_unavailable with a Retry-After of a few seconds, which it returns.
func checkUnavailable(t *testing.T, c harness.Case, r harness.Result) int {
	t.Helper()
	c = expect(c, http.StatusServiceUnavailable, "temporarily_unavailable")
	if problems := c.Check(r); len(problems) > 0 {
		for _, p := range problems {
			t.Errorf("GET %s with %s: %s; want 503: Frontegg could not be asked", c.Path, c.Who, p)
		}
		return 0
	}
	ra := r.Header.Get("Retry-After")
	seconds, err := strconv.Atoi(ra)
	if err != nil || seconds <= 0 || seconds > 10 {
		t.Errorf("GET %s with %s: Retry-After %q, want a number of seconds from 1 to 10", c.Path, c.Who, ra)
		return 0
	}
	return seconds
}

// checkAlive checks that Traefik still runs and answers its ping.
func checkAlive(t *testing.T, tr *harness.Traefik) {
	t.Helper()
	if tr.Exited() {
		t.Fatalf("Traefik exited\n%s", tr.LogTail(40))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tr.APIURL+"/ping", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("Traefik's /ping: %v, want 200\n%s", err, tr.LogTail(40))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Traefik's /ping: status %d, want 200", resp.StatusCode)
	}
}

// logPluginLines logs what the plugin wrote to Traefik's output (its lines start "withauth").
func logPluginLines(t *testing.T, tr *harness.Traefik) {
	t.Helper()
	data, err := os.ReadFile(tr.LogFile)
	if err != nil {
		t.Logf("Traefik log: %v", err)
		return
	}
	var lines []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "withauth") {
			lines = append(lines, line)
		}
	}
	t.Logf("plugin lines in Traefik's log (%d):\n%s", len(lines), strings.Join(lines, "\n"))
}

// The mock's access tokens: id -> grants Frontegg holds for it.
var (
	adminUpload = fronteggmock.Grants{Roles: []string{"admin"}, Permissions: []string{"uploadFile"}}
	readOnly    = fronteggmock.Grants{Roles: []string{"read-only"}}
)

// TestFronteggGuideFromEnvironment walks the guide's routes with every kind of Frontegg token,
// then revokes an access token, then makes Frontegg's API fail, hang and talk nonsense.
func TestFronteggGuideFromEnvironment(t *testing.T) {
	t.Parallel()
	faultTokens := []string{"uat-fault-500", "uat-fault-garbage", "uat-hang-1", "uat-hang-2", "uat-after-faults"}
	s := startFronteggTraefik(t, func(m *fronteggmock.API) {
		m.AddAccessToken("users", "uat-ada", adminUpload)
		m.AddAccessToken("users", "uat-stale-claims", readOnly)
		m.AddAccessToken("users", "uat-revoke", adminUpload)
		for _, id := range faultTokens {
			m.AddAccessToken("users", id, adminUpload)
		}
		m.AddAccessToken("tenants", "tat-acme", readOnly)
		m.AddAccessToken("tenants", "tat-fault", readOnly)
	})
	url := s.tr.URL
	defer logPluginLines(t, s.tr)

	ada := s.token(t, "userToken", map[string]any{"sub": "user-ada", "email": "ada@acme.example",
		"roles": []string{"admin"}, "permissions": []string{"fe.secure.read.users"}})
	bob := s.token(t, "userToken", map[string]any{"sub": "user-bob", "email": "bob@acme.example",
		"roles": []string{"read-only"}, "permissions": []string{"uploadFile"}})
	userAPI := s.token(t, "userApiToken", map[string]any{"sub": "user-api-token-1", "createdByUserId": "user-ada",
		"roles": []string{"admin"}, "permissions": []string{"uploadFile"}})
	tenantAPI := s.token(t, "tenantApiToken", map[string]any{"sub": "tenant-api-token-1",
		"roles": []string{"read-only"}, "permissions": []string{}})
	// Access tokens carry no roles or permissions: Frontegg's API holds them.
	userAccess := func(id, userID string) string {
		return s.token(t, "userAccessToken", map[string]any{"sub": id, "userId": userID})
	}
	uat := userAccess("uat-ada", "user-ada")
	// Claims that promise more than Frontegg holds (read-only): the API's answer counts.
	uatStale := s.token(t, "userAccessToken", map[string]any{"sub": "uat-stale-claims", "userId": "user-eve",
		"roles": []string{"admin"}, "permissions": []string{"uploadFile"}})
	uatUnknown := userAccess("uat-never-issued", "user-ada")
	tat := s.token(t, "tenantAccessToken", map[string]any{"sub": "tat-acme"})

	t.Run("guide", func(t *testing.T) {
		var cases []harness.Case
		for _, path := range fronteggGuidePaths {
			cases = append(cases, expect(harness.Case{Path: path, Who: "no credentials"}, 401, ""))
		}
		adaSeen := []string{"X-User-Id", "user-ada", "X-Tenant-Id", fgTenant, "X-User-Email", "ada@acme.example",
			"X-User-Roles", "admin", "X-User-Permissions", "fe.secure.read.users"}
		bobSeen := []string{"X-User-Id", "user-bob", "X-Tenant-Id", fgTenant, "X-User-Roles", "read-only", "X-User-Permissions", "uploadFile"}
		cases = append(cases,
			// User tokens (admin; read-only).
			expect(bearer("/shift", "userToken ada (admin)", ada), 200, "", adaSeen...),
			expect(bearer("/admin", "userToken ada (admin)", ada), 200, "", adaSeen...),
			expect(bearer("/home", "userToken ada (admin)", ada), 200, "", adaSeen...),
			expect(bearer("/uploads", "userToken ada (admin, no uploadFile)", ada), 403, "insufficient_scope"),
			expect(bearer("/shift", "userToken bob (read-only, uploadFile)", bob), 200, "", bobSeen...),
			expect(bearer("/admin", "userToken bob (read-only)", bob), 403, "insufficient_scope"),
			expect(bearer("/home", "userToken bob (read-only)", bob), 200, "", bobSeen...),
			expect(bearer("/uploads", "userToken bob (uploadFile)", bob), 200, "", bobSeen...),
			// A user API token is its creator's: X-User-Id is createdByUserId, not sub.
			expect(bearer("/shift", "userApiToken by user-ada", userAPI), 200, "",
				"X-User-Id", "user-ada", "X-Tenant-Id", fgTenant, "X-User-Roles", "admin", "X-User-Permissions", "uploadFile"),
			expect(bearer("/admin", "userApiToken by user-ada", userAPI), 200, "", "X-User-Id", "user-ada"),
			expect(bearer("/uploads", "userApiToken by user-ada", userAPI), 200, "", "X-User-Id", "user-ada"),
			// A tenant API token has no user: no X-User-Id, not even a spoofed one.
			expect(bearer("/shift", "tenantApiToken (read-only)", tenantAPI), 200, "",
				"X-User-Id", "", "X-Tenant-Id", fgTenant, "X-User-Roles", "read-only"),
			expect(withHeader(bearer("/home", "tenantApiToken (read-only) + spoofed X-User-Id: mallory", tenantAPI), "X-User-Id", "mallory"),
				200, "", "X-User-Id", "", "X-Tenant-Id", fgTenant),
			expect(bearer("/admin", "tenantApiToken (read-only)", tenantAPI), 403, "insufficient_scope"),
			expect(bearer("/uploads", "tenantApiToken (no permissions)", tenantAPI), 403, "insufficient_scope"),
			// A user access token: roles and permissions from Frontegg's API (admin, uploadFile);
			// /shift only asks whether it is active, so it forwards the token's own (absent) grants.
			expect(apiKey("/shift", "userAccessToken of user-ada", uat), 200, "",
				"X-User-Id", "user-ada", "X-Tenant-Id", fgTenant, "X-User-Roles", "", "X-User-Permissions", ""),
			expect(apiKey("/admin", "userAccessToken of user-ada", uat), 200, "",
				"X-User-Id", "user-ada", "X-Tenant-Id", fgTenant, "X-User-Roles", "admin", "X-User-Permissions", "uploadFile"),
			expect(apiKey("/home", "userAccessToken of user-ada", uat), 200, "", "X-User-Id", "user-ada", "X-User-Roles", "admin"),
			expect(apiKey("/uploads", "userAccessToken of user-ada", uat), 200, "", "X-User-Id", "user-ada", "X-User-Permissions", "uploadFile"),
			expect(apiKey("/admin", "userAccessToken claiming admin, read-only at Frontegg", uatStale), 403, "insufficient_scope"),
			expect(apiKey("/home", "userAccessToken claiming admin, read-only at Frontegg", uatStale), 200, "",
				"X-User-Id", "user-eve", "X-User-Roles", "read-only", "X-User-Permissions", ""),
			expect(apiKey("/uploads", "userAccessToken claiming uploadFile, none at Frontegg", uatStale), 403, "insufficient_scope"),
			expect(apiKey("/shift", "userAccessToken Frontegg never issued", uatUnknown), 401, "invalid_token"),
			expect(apiKey("/admin", "userAccessToken Frontegg never issued", uatUnknown), 401, "invalid_token"),
			// A tenant access token: read-only at Frontegg, no user.
			expect(apiKey("/shift", "tenantAccessToken", tat), 200, "", "X-User-Id", "", "X-Tenant-Id", fgTenant),
			expect(apiKey("/admin", "tenantAccessToken (read-only)", tat), 403, "insufficient_scope"),
			expect(apiKey("/home", "tenantAccessToken (read-only)", tat), 200, "",
				"X-User-Id", "", "X-Tenant-Id", fgTenant, "X-User-Roles", "read-only"),
			expect(apiKey("/uploads", "tenantAccessToken (no permissions)", tat), 403, "insufficient_scope"),
			// Each kind of token only in its own header.
			expect(bearer("/shift", "userAccessToken", uat), 401, "invalid_token"),
			expect(bearer("/admin", "userAccessToken", uat), 401, "invalid_token"),
			expect(bearer("/home", "tenantAccessToken", tat), 401, "invalid_token"),
			expect(apiKey("/shift", "userToken ada", ada), 401, "invalid_token"),
			expect(apiKey("/home", "tenantApiToken", tenantAPI), 401, "invalid_token"),
		)
		runCases(t, url, cases, nil)
		// One vendor authentication and one key fetch serve all four middlewares.
		if auths, fetches := s.mock.VendorAuths.Load(), s.mock.KeyFetches.Load(); auths != 1 || fetches != 1 {
			t.Errorf("Frontegg's API saw %d vendor authentications and %d key fetches; want 1 and 1 (shared by the four middlewares)", auths, fetches)
		}
		if s.mock.Checks.Load() == 0 {
			t.Error("no access-token check reached Frontegg's API; want the vendor-only endpoints asked")
		}
	})
	if t.Failed() {
		return
	}

	t.Run("revoked access token refused once the last answer (10s) expires", func(t *testing.T) {
		token := userAccess("uat-revoke", "user-carol")
		for _, path := range []string{"/shift", "/admin"} {
			check(t, url, expect(apiKey(path, "userAccessToken uat-revoke, active", token), 200, "", "X-User-Id", "user-carol"))
		}
		if t.Failed() {
			return
		}
		s.mock.RevokeAccessToken("users", "uat-revoke")
		revoked := time.Now()
		const window = 12 * time.Second // the 10s the SDKs trust an answer, plus polling and margin
		refusedAfter := map[string]time.Duration{}
		for len(refusedAfter) < 2 {
			if time.Since(revoked) > window {
				t.Fatalf("uat-revoke still admitted %s after revocation on %v (refused so far: %v); want 401 within 10s",
					window, fronteggMissing(refusedAfter), refusedAfter)
			}
			for _, path := range []string{"/shift", "/admin"} {
				c := apiKey(path, "userAccessToken uat-revoke, revoked", token)
				r, _ := send(t, url, c, 10*time.Second)
				_, wasRefused := refusedAfter[path]
				switch {
				case r.Status == http.StatusUnauthorized:
					for _, p := range expect(c, 401, "invalid_token").Check(r) {
						t.Errorf("GET %s with %s: %s", path, c.Who, p)
					}
					if !wasRefused {
						refusedAfter[path] = time.Since(revoked)
					}
				case r.Status == http.StatusOK && !wasRefused:
					// Still within the time Frontegg's last answer is trusted.
				default:
					t.Fatalf("GET %s with %s, %s after revocation: status %d (body %.200q); want 200 until refused, then 401 for good",
						path, c.Who, time.Since(revoked).Round(time.Millisecond), r.Status, r.Body)
				}
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Logf("uat-revoke refused %s (/shift) and %s (/admin) after revocation", refusedAfter["/shift"].Round(time.Millisecond),
			refusedAfter["/admin"].Round(time.Millisecond))
		check(t, url, expect(bearer("/admin", "userToken ada (admin)", ada), 200, "", "X-User-Id", "user-ada"))
	})

	for _, fault := range []fronteggmock.Fault{fronteggmock.FaultStatus, fronteggmock.FaultJunk} {
		id := "uat-fault-" + string(fault)
		t.Run("Frontegg's API answers "+string(fault), func(t *testing.T) {
			s.mock.SetFault(fault)
			defer s.mock.SetFault(fronteggmock.NoFault)
			token := userAccess(id, "user-ada")
			for _, path := range []string{"/admin", "/home", "/uploads"} {
				c := apiKey(path, "userAccessToken "+id+" (active, admin)", token)
				r, _ := send(t, url, c, 10*time.Second)
				checkUnavailable(t, c, r)
			}
			// Whether a tenant access token is active may still be known from an earlier answer
			// (trusted 10s): refused as not active (401) or unavailable (503), never admitted.
			c := apiKey("/shift", "tenantAccessToken tat-fault (active)", s.token(t, "tenantAccessToken", map[string]any{"sub": "tat-fault"}))
			r, _ := send(t, url, c, 10*time.Second)
			switch r.Status {
			case http.StatusServiceUnavailable:
				checkUnavailable(t, c, r)
			case http.StatusUnauthorized:
				for _, p := range expect(c, 401, "invalid_token").Check(r) {
					t.Errorf("GET /shift with %s: %s", c.Who, p)
				}
			default:
				t.Errorf("GET /shift with %s while Frontegg answers %s: status %d (body %.200q); want 503 or 401", c.Who, fault, r.Status, r.Body)
			}
			// Frontegg's key was obtained before: tokens in Authorization need no call.
			check(t, url, expect(bearer("/home", "userToken bob (read-only)", bob), 200, "", "X-User-Id", "user-bob"))
			checkAlive(t, s.tr)
		})
	}

	t.Run("Frontegg's API hangs", func(t *testing.T) {
		s.mock.SetFault(fronteggmock.FaultHang)
		defer s.mock.SetFault(fronteggmock.NoFault)
		var wg sync.WaitGroup
		for i, path := range []string{"/admin", "/uploads"} {
			id := fmt.Sprintf("uat-hang-%d", i+1)
			c := apiKey(path, "userAccessToken "+id+" (active, admin)", userAccess(id, "user-ada"))
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r, ok := doWhileFronteggHangs(t, url, c); ok {
					checkUnavailable(t, c, r)
				}
			}()
		}
		// Meanwhile requests that need no call to Frontegg are answered at once.
		time.Sleep(500 * time.Millisecond)
		r, elapsed := send(t, url, expect(bearer("/home", "userToken bob (read-only)", bob), 200, ""), 2*time.Second)
		if r.Status != http.StatusOK {
			t.Errorf("GET /home with bob's userToken while Frontegg hangs: status %d, want 200", r.Status)
		}
		t.Logf("GET /home with bob's userToken while Frontegg hangs: %d after %s", r.Status, elapsed.Round(time.Millisecond))
		wg.Wait()
		checkAlive(t, s.tr)
	})

	t.Run("Frontegg's API back", func(t *testing.T) {
		s.mock.SetFault(fronteggmock.NoFault)
		check(t, url, expect(apiKey("/admin", "userAccessToken uat-after-faults (admin)", userAccess("uat-after-faults", "user-ada")),
			200, "", "X-User-Id", "user-ada", "X-User-Roles", "admin"))
		check(t, url, expect(bearer("/shift", "userToken ada", ada), 200, "", "X-User-Id", "user-ada"))
		checkAlive(t, s.tr)
	})
}

// TestFronteggKeyUnobtainable starts Traefik while Frontegg's API fails: without Frontegg's key
// every token gets 503 (500, garbage, a hang), until the API recovers and the next attempt after
// Retry-After obtains the key.
func TestFronteggKeyUnobtainable(t *testing.T) {
	t.Parallel()
	s := startFronteggTraefik(t, func(m *fronteggmock.API) {
		m.AddAccessToken("users", "uat-ada", adminUpload)
		m.SetFault(fronteggmock.FaultStatus)
	})
	url := s.tr.URL
	defer logPluginLines(t, s.tr)
	ada := s.token(t, "userToken", map[string]any{"sub": "user-ada", "roles": []string{"admin"}})
	uat := s.token(t, "userAccessToken", map[string]any{"sub": "uat-ada", "userId": "user-ada"})
	adaAt := func(path string) harness.Case { return bearer(path, "userToken ada (admin)", ada) }

	wantFetches := func(n int64) {
		t.Helper()
		if got := s.mock.KeyFetches.Load(); got != n {
			t.Errorf("Frontegg's key was fetched %d times, want %d", got, n)
		}
	}
	// retryAfter waits as long as the last 503 asked.
	retryAfter := 0
	wait := func() {
		t.Helper()
		if retryAfter <= 0 {
			t.Fatal("no Retry-After to wait for")
		}
		time.Sleep(time.Duration(retryAfter) * time.Second)
	}

	// 500: the first token triggers a fetch, which fails; the next attempt waits minRefreshInterval.
	r, _ := send(t, url, adaAt("/shift"), 10*time.Second)
	retryAfter = checkUnavailable(t, adaAt("/shift"), r)
	r, _ = send(t, url, apiKey("/admin", "userAccessToken", uat), 10*time.Second)
	retryAfter = checkUnavailable(t, apiKey("/admin", "userAccessToken", uat), r)
	check(t, url, expect(harness.Case{Path: "/admin", Who: "no credentials"}, 401, ""))
	check(t, url, expect(harness.Case{Path: "/admin", Who: `"not-a-jwt"`, Raw: "not-a-jwt"}, 401, "invalid_token"))
	wantFetches(1)
	checkAlive(t, s.tr)

	// Garbage instead of the configuration.
	s.mock.SetFault(fronteggmock.FaultJunk)
	wait()
	r, _ = send(t, url, adaAt("/admin"), 10*time.Second)
	retryAfter = checkUnavailable(t, adaAt("/admin"), r)
	wantFetches(2)
	checkAlive(t, s.tr)

	// A hang: two requests wait for the same fetch, which gives up after httpTimeout.
	s.mock.SetFault(fronteggmock.FaultHang)
	wait()
	retryAfter = 0
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, path := range []string{"/home", "/shift"} {
		c := adaAt(path)
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, ok := doWhileFronteggHangs(t, url, c)
			if !ok {
				return
			}
			seconds := checkUnavailable(t, c, r)
			mu.Lock()
			if seconds > retryAfter {
				retryAfter = seconds
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	wantFetches(3)
	checkAlive(t, s.tr)
	if t.Failed() {
		return
	}

	// Frontegg recovers: the next attempt obtains the key.
	s.mock.SetFault(fronteggmock.NoFault)
	wait()
	check(t, url, expect(adaAt("/admin"), 200, "", "X-User-Id", "user-ada", "X-User-Roles", "admin"))
	check(t, url, expect(apiKey("/uploads", "userAccessToken of user-ada", uat), 200, "", "X-User-Id", "user-ada", "X-User-Permissions", "uploadFile"))
	wantFetches(4)
	checkAlive(t, s.tr)
}

func withHeader(c harness.Case, name, value string) harness.Case {
	c.Header = map[string]string{name: value}
	return c
}

// fronteggMissing lists the guide paths not yet in done.
func fronteggMissing(done map[string]time.Duration) []string {
	var missing []string
	for _, path := range []string{"/shift", "/admin"} {
		if _, ok := done[path]; !ok {
			missing = append(missing, path)
		}
	}
	return missing
}

// doWhileFronteggHangs sends c while Frontegg's API hangs; ok is false (and the test failed)
// when no answer came within httpTimeout plus a margin.
func doWhileFronteggHangs(t *testing.T, url string, c harness.Case) (r harness.Result, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), fgHangClientTimeout)
	defer cancel()
	start := time.Now()
	r, err := harness.Do(ctx, url, c, nil)
	elapsed := time.Since(start).Round(time.Millisecond)
	if err != nil {
		t.Errorf("GET %s with %s while Frontegg hangs: no answer after %s: %v; want 503 within httpTimeout (%s) plus a margin",
			c.Path, c.Who, elapsed, err, fgHTTPTimeout)
		return r, false
	}
	t.Logf("GET %s with %s while Frontegg hangs: %s after %s", c.Path, c.Who, r.Outcome(), elapsed)
	return r, true
}
