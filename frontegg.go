package withauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// Frontegg vendor mode: what Frontegg's SDKs do with FRONTEGG_CLIENT_ID and FRONTEGG_API_KEY.
// The vendor authenticates to obtain Frontegg's public key and to check access tokens.

const (
	defaultFronteggGateway = "https://api.frontegg.com"
	// failedCheckTTL keeps a failing API from being asked again by every request.
	failedCheckTTL = time.Second
	// maxCheckAnswers bounds the access-token answers kept.
	maxCheckAnswers = 10000
)

// accessTokenCheckTTL is how long an answer about access tokens is trusted, as in the SDKs:
// a revoked access token is refused within this time. A variable so tests need not wait.
var accessTokenCheckTTL = 10 * time.Second

var (
	errTokenType        = errors.New("the token type is not accepted in this header")
	errNoTokenType      = errors.New("the token has no Frontegg token type (type claim)")
	errAccessRevoked    = errors.New("the access token is not active")
	errCheckUnavailable = errors.New("the access token could not be checked with Frontegg; try again shortly")
	errAccessDisabled   = errors.New("access tokens are disabled for this Frontegg account")
)

// Token types accepted per header, as Frontegg's SDKs accept them.
var (
	authorizationTokenTypes = map[string]bool{"userToken": true, "userApiToken": true, "tenantApiToken": true}
	apiKeyTokenTypes        = map[string]bool{"userAccessToken": true, "tenantAccessToken": true}
)

// fronteggSettings resolves vendor mode's settings, the configuration first, then Traefik's
// environment. ok is false when no client ID and API key are known.
func fronteggSettings(config *Config) (gateway, clientID, apiKey string, ok bool, err error) {
	clientID = firstNonEmpty(config.ClientID, os.Getenv("FRONTEGG_CLIENT_ID"))
	apiKey = firstNonEmpty(config.APIKey, os.Getenv("FRONTEGG_API_KEY"))
	gateway = strings.TrimRight(firstNonEmpty(config.APIGatewayURL, os.Getenv("FRONTEGG_API_GATEWAY_URL"), defaultFronteggGateway), "/")
	if clientID == "" && apiKey == "" {
		return "", "", "", false, nil
	}
	if clientID == "" || apiKey == "" {
		return "", "", "", false, errors.New("Frontegg vendor mode needs both clientId and apiKey (or FRONTEGG_CLIENT_ID and FRONTEGG_API_KEY in Traefik's environment); one of them is missing")
	}
	if u, perr := url.Parse(gateway); perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", "", "", false, fmt.Errorf("apiGatewayUrl: %q is not an http(s) URL; use https://api.frontegg.com (EU), https://api.us.frontegg.com, https://api.au.frontegg.com or https://api.ca.frontegg.com", gateway)
	}
	return gateway, clientID, apiKey, true, nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// fronteggAPI is one vendor's client of Frontegg's API, shared by every middleware that uses
// the same gateway and credentials. As a keyFetcher it supplies Frontegg's public key.
type fronteggAPI struct {
	gateway  string
	clientID string
	apiKey   string
	client   *http.Client

	authMu       sync.Mutex
	vendorToken  string
	tokenRenewAt time.Time

	answers answerCache
}

func (f *fronteggAPI) describe() string { return f.gateway }

// fetch obtains Frontegg's public key; it verifies every token whatever kid it names.
func (f *fronteggAPI) fetch(ctx context.Context) (*keySet, error) {
	body, _, err := f.get(ctx, "/identity/resources/configurations/v1")
	if err != nil {
		return nil, err
	}
	var doc struct {
		PublicKey string `json:"publicKey"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("invalid configuration response: %v", err)
	}
	key, err := parsePublicKeyPEM(doc.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("configuration response publicKey: %v", err)
	}
	return singleKeySet(key), nil
}

// get calls the API as the vendor. A 401 drops the vendor token so the next call renews it.
func (f *fronteggAPI) get(ctx context.Context, path string) ([]byte, int, error) {
	token, err := f.token(ctx)
	if err != nil {
		return nil, 0, err
	}
	body, status, err := f.do(ctx, http.MethodGet, path, nil, http.Header{"X-Access-Token": {token}})
	if status == http.StatusUnauthorized {
		f.authMu.Lock()
		if f.vendorToken == token {
			f.vendorToken = ""
		}
		f.authMu.Unlock()
	}
	return body, status, err
}

// token returns the vendor token, authenticating when there is none or it is about to expire.
func (f *fronteggAPI) token(ctx context.Context) (string, error) {
	f.authMu.Lock()
	defer f.authMu.Unlock()
	if f.vendorToken != "" && time.Now().Before(f.tokenRenewAt) {
		return f.vendorToken, nil
	}
	credentials, err := json.Marshal(map[string]string{"clientId": f.clientID, "secret": f.apiKey})
	if err != nil {
		return "", err
	}
	body, _, err := f.do(ctx, http.MethodPost, "/auth/vendor", credentials, http.Header{"Content-Type": {"application/json"}})
	if err != nil {
		return "", fmt.Errorf("vendor authentication: %v", err)
	}
	var answer struct {
		Token     string  `json:"token"`
		ExpiresIn float64 `json:"expiresIn"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.Token == "" {
		return "", errors.New("vendor authentication: the answer holds no token")
	}
	// Renew at 80% of the lifetime, so that no call goes out with an expired token.
	lifetime := time.Duration(answer.ExpiresIn * float64(time.Second) * 0.8)
	f.vendorToken = answer.Token
	f.tokenRenewAt = time.Now().Add(lifetime)
	return f.vendorToken, nil
}

func (f *fronteggAPI) do(ctx context.Context, method, path string, body []byte, header http.Header) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, method, f.gateway+path, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	for name, values := range header {
		req.Header[name] = values
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	data, err := readBounded(resp)
	return data, resp.StatusCode, err
}

// accessTokenKind is the API's path segment for an access token type.
func accessTokenKind(tokenType string) string {
	if tokenType == "userAccessToken" {
		return "users"
	}
	return "tenants"
}

// activeAccessTokens lists the IDs of the active access tokens of a kind.
func (f *fronteggAPI) activeAccessTokens(kind string) (*answer, error) {
	return f.answers.get("active "+kind, f.client.Timeout, func(ctx context.Context, a *answer) error {
		body, status, err := f.get(ctx, "/identity/resources/vendor-only/"+kind+"/access-tokens/v1/active")
		if status == http.StatusForbidden {
			noteAccessDisabled(a, body)
			return nil
		}
		if err != nil {
			return err
		}
		var ids []string
		if err := json.Unmarshal(body, &ids); err != nil {
			return fmt.Errorf("invalid active access tokens answer: %v", err)
		}
		a.active = toSet(ids)
		return nil
	})
}

// noteAccessDisabled records Frontegg's 403 on its access-token endpoints, its answer when the
// vendor turned access tokens off: the SDKs take it as "not authenticated", so it is a 401
// cached like any answer, not a 503 that clients would retry forever.
func noteAccessDisabled(a *answer, body []byte) {
	fmt.Fprintf(os.Stderr, "withauth: Frontegg refused the access token check (403 %.200s); access tokens are refused while it does\n", body)
	a.disabled = true
}

// accessTokenGrants fetches the roles and permissions Frontegg holds for an access token;
// the answer's grants stay nil for a token Frontegg no longer knows.
func (f *fronteggAPI) accessTokenGrants(kind, id string) (*answer, error) {
	return f.answers.get(kind+" "+id, f.client.Timeout, func(ctx context.Context, a *answer) error {
		body, status, err := f.get(ctx, "/identity/resources/vendor-only/"+kind+"/access-tokens/v1/"+url.PathEscape(id))
		if status == http.StatusNotFound {
			return nil
		}
		if status == http.StatusForbidden {
			noteAccessDisabled(a, body)
			return nil
		}
		if err != nil {
			return err
		}
		var data accessTokenData
		if err := json.Unmarshal(body, &data); err != nil {
			return fmt.Errorf("invalid access token answer: %v", err)
		}
		a.grants = &data
		return nil
	})
}

type accessTokenData struct {
	Roles       []string `json:"roles"`
	Permissions []string `json:"permissions"`
}

// checkAccessToken does what the SDKs do after verifying an access token: with no roles or
// permissions required, the token must be listed as active; otherwise Frontegg's roles and
// permissions for it replace the claims the requirements are checked against. It returns when
// the answer stops being trusted.
func (f *fronteggAPI) checkAccessToken(claims map[string]interface{}, needsGrants bool) (time.Time, error) {
	tokenType, _ := claims["type"].(string)
	sub, _ := claims["sub"].(string)
	kind := accessTokenKind(tokenType)
	if !needsGrants {
		a, err := f.activeAccessTokens(kind)
		if err != nil {
			return time.Time{}, errCheckUnavailable
		}
		if a.disabled {
			return a.expires, errAccessDisabled
		}
		if !a.active[sub] {
			return a.expires, errAccessRevoked
		}
		return a.expires, nil
	}
	a, err := f.accessTokenGrants(kind, sub)
	if err != nil {
		return time.Time{}, errCheckUnavailable
	}
	if a.disabled {
		return a.expires, errAccessDisabled
	}
	if a.grants == nil {
		return a.expires, errAccessRevoked
	}
	claims["roles"] = stringsToClaim(a.grants.Roles)
	claims["permissions"] = stringsToClaim(a.grants.Permissions)
	return a.expires, nil
}

func stringsToClaim(items []string) []interface{} {
	list := make([]interface{}, len(items))
	for i, item := range items {
		list[i] = item
	}
	return list
}

// userID is the id Frontegg's SDKs give the user of a token (req.frontegg.user.id): the
// creating user for API tokens, the owning user for access tokens, none for tenant tokens.
// Tokens of other issuers, without a Frontegg type, are identified by sub.
func userID(claims map[string]interface{}) (string, bool) {
	tokenType, _ := claims["type"].(string)
	var id interface{}
	switch tokenType {
	case "userApiToken":
		id = claims["createdByUserId"]
	case "userAccessToken":
		id = claims["userId"]
	case "tenantApiToken", "tenantAccessToken":
		return "", false
	default:
		id = claims["sub"]
	}
	s, ok := id.(string)
	return s, ok && s != ""
}

// answerCache keeps answers of the API for a while; concurrent callers of one key share a
// single call.
type answerCache struct {
	mu      sync.Mutex
	entries map[string]*answer
}

// answer is one answer of the API: the field its loader fills, or err.
type answer struct {
	ready  chan struct{}
	active map[string]bool
	grants *accessTokenData
	// disabled: Frontegg answered 403, access tokens are turned off.
	disabled bool
	err      error
	expires  time.Time
}

func (c *answerCache) get(key string, timeout time.Duration, load func(ctx context.Context, a *answer) error) (*answer, error) {
	c.mu.Lock()
	a := c.entries[key]
	if a != nil && a.expires.IsZero() {
		c.mu.Unlock()
		<-a.ready // bounded: the loader's calls time out
		return a, a.err
	}
	if a != nil && time.Now().Before(a.expires) {
		c.mu.Unlock()
		return a, a.err
	}
	if c.entries == nil || len(c.entries) >= maxCheckAnswers {
		c.entries = make(map[string]*answer)
	}
	a = &answer{ready: make(chan struct{})}
	c.entries[key] = a
	c.mu.Unlock()

	c.load(a, timeout, load)
	return a, a.err
}

func (c *answerCache) load(a *answer, timeout time.Duration, load func(ctx context.Context, a *answer) error) {
	err := errCheckUnavailable
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
		ttl := accessTokenCheckTTL
		if err != nil {
			fmt.Fprintf(os.Stderr, "withauth: Frontegg access token check failed: %v\n", err)
			ttl = failedCheckTTL
		}
		c.mu.Lock()
		// Separate assignments: Yaegi v0.16.1 drops a.err in "a.err, a.expires = …".
		a.err = err
		a.expires = time.Now().Add(ttl)
		c.mu.Unlock()
		close(a.ready)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err = load(ctx, a)
}
