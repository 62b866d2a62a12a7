package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/seed0ec25cca/withauth/e2e/internal/backend"
	"github.com/seed0ec25cca/withauth/e2e/internal/idp"
)

// The demo's users.
var (
	Alice = idp.Request{Subject: "alice", Name: "Alice Liddell", Email: "alice@acme.example", Tenant: "acme",
		Roles: []string{"read-only"}, Permissions: []string{"uploadFile"}}
	Bob = idp.Request{Subject: "bob", Name: "Bob Builder", Email: "bob@acme.example", Tenant: "acme",
		Roles: []string{"admin", "billing"}}
	Carol = idp.Request{Subject: "carol", Name: "Carol Danvers", Email: "carol@globex.example", Tenant: "globex"}
)

func expired(r idp.Request) idp.Request     { r.TTL = -10 * time.Minute; return r }
func unknownKey(r idp.Request) idp.Request  { r.UnknownKey = true; return r }
func otherIssuer(r idp.Request) idp.Request { r.Issuer = "https://evil.example"; return r }
func ptr(r idp.Request) *idp.Request        { return &r }

// seen and headers build header maps from name, value pairs.
func seen(kv ...string) map[string]string    { return pairs(kv) }
func headers(kv ...string) map[string]string { return pairs(kv) }

func pairs(kv []string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// Case is one request through Traefik and what must come of it.
type Case struct {
	Path   string
	Who    string            // the token, for people
	Token  *idp.Request      // token to mint; nil: see Raw
	Raw    string            // a literal token; with Token nil and Raw "", no Authorization header
	Header map[string]string // more request headers (spoofed identity headers)
	Host   string            // the request's Host; "" for the base URL's
	Status int               // expected status
	Error  string            // expected OAuth error code for 401/403 ("" for the bare no-token challenge)
	Seen   map[string]string // headers the backend must have received with these values; "" = absent
}

// GuideCases walks through the guide's routes (see GuideRoutes).
func GuideCases() []Case {
	aliceSeen := seen("X-User-Id", "alice", "X-Tenant-Id", "acme", "X-User-Email", "alice@acme.example",
		"X-User-Roles", "read-only", "X-User-Permissions", "uploadFile")
	return []Case{
		{Path: "/shift", Who: "no token", Status: 401},
		{Path: "/shift", Who: "carol (no roles)", Token: ptr(Carol), Status: 200,
			Seen: seen("X-User-Id", "carol", "X-Tenant-Id", "globex", "X-User-Email", "carol@globex.example",
				"X-User-Name", "Carol Danvers", "X-User-Roles", "", "X-User-Permissions", "")},
		{Path: "/shift", Who: "alice, expired", Token: ptr(expired(Alice)), Status: 401, Error: "invalid_token"},
		{Path: "/shift", Who: "alice, signed by an unknown key", Token: ptr(unknownKey(Alice)), Status: 401, Error: "invalid_token"},
		{Path: "/shift", Who: "alice, another issuer", Token: ptr(otherIssuer(Alice)), Status: 401, Error: "invalid_token"},
		{Path: "/shift", Who: `"not-a-jwt"`, Raw: "not-a-jwt", Status: 401, Error: "invalid_token"},
		{Path: "/shift", Who: "alice + spoofed X-User-Id: mallory, X-User-Roles: admin", Token: ptr(Alice),
			Header: headers("X-User-Id", "mallory", "X-User-Roles", "admin"), Status: 200,
			Seen: seen("X-User-Id", "alice", "X-User-Roles", "read-only", "X-User-Name", "Alice Liddell")},
		{Path: "/admin", Who: "no token + spoofed X-User-Id: mallory", Header: headers("X-User-Id", "mallory"), Status: 401},
		{Path: "/admin", Who: "alice (read-only)", Token: ptr(Alice), Status: 403, Error: "insufficient_scope"},
		{Path: "/admin", Who: "bob (admin, billing)", Token: ptr(Bob), Status: 200,
			Seen: seen("X-User-Id", "bob", "X-User-Roles", "admin,billing", "X-User-Permissions", "")},
		{Path: "/home", Who: "alice (read-only)", Token: ptr(Alice), Status: 200, Seen: aliceSeen},
		{Path: "/home", Who: "bob (admin, billing)", Token: ptr(Bob), Status: 200, Seen: seen("X-User-Id", "bob")},
		{Path: "/home", Who: "carol (no roles)", Token: ptr(Carol), Status: 403, Error: "insufficient_scope"},
		{Path: "/uploads", Who: "alice (uploadFile)", Token: ptr(Alice), Status: 200, Seen: aliceSeen},
		{Path: "/uploads", Who: "bob (no permissions)", Token: ptr(Bob), Status: 403, Error: "insufficient_scope"},
	}
}

// Minter mints a token for a request.
type Minter func(idp.Request) (string, error)

// LocalMinter mints with an in-process IdP, as issuer.
func LocalMinter(p *idp.IdP, issuer string) Minter {
	return func(r idp.Request) (string, error) { return p.Mint(r, issuer) }
}

// HTTPMinter mints through a running IdP's /token endpoint.
func HTTPMinter(idpURL string) Minter {
	return func(r idp.Request) (string, error) {
		q := url.Values{"sub": {r.Subject}, "name": {r.Name}, "email": {r.Email}, "tenant": {r.Tenant},
			"roles": {strings.Join(r.Roles, ",")}, "permissions": {strings.Join(r.Permissions, ",")}}
		if r.TTL != 0 {
			q.Set("ttl", r.TTL.String())
		}
		if r.UnknownKey {
			q.Set("key", "unknown")
		}
		if r.Issuer != "" {
			q.Set("iss", r.Issuer)
		}
		status, body, err := get(context.Background(), idpURL+"/token?"+q.Encode())
		if err != nil {
			return "", err
		}
		if status != http.StatusOK {
			return "", fmt.Errorf("IdP /token: status %d: %s", status, body)
		}
		return string(body), nil
	}
}

// TokenURL is the IdP URL that mints the token of r (for curl).
func TokenURL(idpURL string, r idp.Request) string {
	q := url.Values{"sub": {r.Subject}, "tenant": {r.Tenant}}
	if len(r.Roles) > 0 {
		q.Set("roles", strings.Join(r.Roles, ","))
	}
	if len(r.Permissions) > 0 {
		q.Set("permissions", strings.Join(r.Permissions, ","))
	}
	return idpURL + "/token?" + q.Encode()
}

// ErrorBody is withauth's JSON error answer.
type ErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// Result is what came back for a case.
type Result struct {
	Status int
	Header http.Header
	Body   []byte
	Seen   *backend.Seen // the backend's answer (status 200)
	Err    *ErrorBody    // withauth's error answer (other statuses)
}

// Do sends the case's request to baseURL (Traefik's entry point).
func Do(ctx context.Context, baseURL string, c Case, mint Minter) (Result, error) {
	token := c.Raw
	if c.Token != nil {
		var err error
		if token, err = mint(*c.Token); err != nil {
			return Result{}, fmt.Errorf("mint token for %s: %w", c.Who, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+c.Path, nil)
	if err != nil {
		return Result{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if c.Host != "" {
		req.Host = c.Host
	}
	for k, v := range c.Header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Result{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Result{}, err
	}
	r := Result{Status: resp.StatusCode, Header: resp.Header, Body: body}
	if r.Status == http.StatusOK {
		var s backend.Seen
		if json.Unmarshal(body, &s) == nil {
			r.Seen = &s
		}
	} else {
		var e ErrorBody
		if json.Unmarshal(body, &e) == nil {
			r.Err = &e
		}
	}
	return r, nil
}

// Check lists how r differs from what the case expects; empty means it passed.
func (c Case) Check(r Result) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if r.Status != c.Status {
		bad("status %d, want %d (body %.300q)", r.Status, c.Status, r.Body)
		return problems
	}
	if c.Status == http.StatusOK {
		if r.Seen == nil {
			return append(problems, fmt.Sprintf("200 body is not the backend's JSON: %.300q", r.Body))
		}
		if r.Seen.Path != c.Path {
			bad("backend saw path %q, want %q", r.Seen.Path, c.Path)
		}
		// Only a request that carried Authorization can have it passed on (an x-api-key one has none).
		if (c.Token != nil || c.Raw != "") && !r.Seen.Authorization {
			bad("backend did not receive the Authorization header (forwardAuthorization defaults to true)")
		}
		keys := make([]string, 0, len(c.Seen))
		for k := range c.Seen {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			got, ok := r.Seen.Headers[k]
			switch want := c.Seen[k]; {
			case want == "" && ok:
				bad("backend received %s: %q, want it absent", k, got)
			case want != "" && got != want:
				bad("backend received %s: %q, want %q (all: %v)", k, got, want, r.Seen.Headers)
			}
		}
		return problems
	}
	challenge := r.Header.Get("WWW-Authenticate")
	if c.Status == http.StatusUnauthorized || c.Status == http.StatusForbidden {
		if c.Error == "" && challenge != `Bearer realm="withauth"` {
			bad(`WWW-Authenticate %q, want exactly Bearer realm="withauth"`, challenge)
		}
		if c.Error != "" && (!strings.HasPrefix(challenge, `Bearer realm="withauth"`) ||
			!strings.Contains(challenge, `error="`+c.Error+`"`)) {
			bad(`WWW-Authenticate %q, want Bearer realm="withauth" with error="%s"`, challenge, c.Error)
		}
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		bad("Content-Type %q, want application/json", ct)
	}
	switch {
	case r.Err == nil:
		bad(`body %.300q is not JSON {"error": ..., "error_description": ...}`, r.Body)
	case r.Err.Error == "" || r.Err.Description == "":
		bad("JSON body %s lacks error or error_description", r.Body)
	case c.Error != "" && r.Err.Error != c.Error:
		bad("JSON error %q, want %q", r.Err.Error, c.Error)
	}
	return problems
}

// Outcome renders a result in a few words: "200", "401 invalid_token".
func (r Result) Outcome() string {
	s := fmt.Sprint(r.Status)
	if r.Err != nil && r.Err.Error != "" {
		s += " " + r.Err.Error
	}
	return s
}

// Backend renders what the backend saw, or that it was not reached.
func (r Result) Backend() string {
	if r.Seen == nil {
		return "(not reached)"
	}
	return r.Seen.Summary()
}
