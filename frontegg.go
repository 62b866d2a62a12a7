package withauth

// Frontegg vendor mode: what Frontegg's SDKs do with FRONTEGG_CLIENT_ID and FRONTEGG_API_KEY.
// The vendor authenticates to obtain Frontegg's public key and to check access tokens.

import (
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

	"github.com/seed0ec25cca/withauth/internal/jose"
)

const (
	defaultFronteggGateway = "https://api.frontegg.com"
	// failedCheckTTL keeps a failing API from being asked again by every request.
	failedCheckTTL = time.Second
	// maxCheckAnswers bounds the access-token answers kept.
	maxCheckAnswers = 10000
)

// withEnvironment is config with vendor mode's settings that it leaves empty taken from Traefik's
// environment (FRONTEGG_CLIENT_ID, FRONTEGG_API_KEY, FRONTEGG_API_GATEWAY_URL), as Frontegg's
// SDKs read them: the one place withauth reads the environment, once per New.
func withEnvironment(config *Config) *Config {
	resolved := *config
	resolved.ClientID = firstNonEmpty(config.ClientID, os.Getenv("FRONTEGG_CLIENT_ID"))
	resolved.APIKey = firstNonEmpty(config.APIKey, os.Getenv("FRONTEGG_API_KEY"))
	resolved.APIGatewayURL = firstNonEmpty(config.APIGatewayURL, os.Getenv("FRONTEGG_API_GATEWAY_URL"))
	return &resolved
}

// fronteggSettings checks vendor mode's settings (withEnvironment resolved them). ok is false when
// no client ID and API key are known.
func fronteggSettings(config *Config) (gateway, clientID, apiKey string, ok bool, err error) {
	clientID = strings.TrimSpace(config.ClientID)
	apiKey = strings.TrimSpace(config.APIKey)
	gateway = strings.TrimRight(firstNonEmpty(config.APIGatewayURL, defaultFronteggGateway), "/")
	if clientID == "" && apiKey == "" {
		return "", "", "", false, nil
	}
	if clientID == "" || apiKey == "" {
		return "", "", "", false, errors.New("clientId and apiKey: Frontegg vendor mode needs both (or FRONTEGG_CLIENT_ID and FRONTEGG_API_KEY in Traefik's environment); one of them is missing")
	}
	if u, perr := url.Parse(gateway); perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", "", "", false, fmt.Errorf("apiGatewayUrl: %q is not an http(s) URL; use https://api.frontegg.com (EU), https://api.us.frontegg.com, https://api.au.frontegg.com or https://api.ca.frontegg.com", redactURL(gateway))
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
	id       string // its processKey
	gateway  string
	clientID string
	apiKey   string
	client   *http.Client

	authMu       sync.Mutex
	vendorToken  string
	tokenRenewAt time.Time

	answers apiAnswerCache
	users   users            // the middlewares that use the client, for its log lines
	now     func() time.Time // Config.Now of the middleware that made it
	log     *processLog
}

// accessTokenCheckTTL is how long an answer about access tokens is trusted, as in the SDKs:
// a revoked access token is refused within this time.
const accessTokenCheckTTL = 10 * time.Second

// accessTokenKind is the API's path segment for an access token type.
func accessTokenKind(tokenType string) string {
	if tokenType == "userAccessToken" {
		return "users"
	}
	return "tenants"
}

type accessTokenData struct {
	Roles       []string `json:"roles"`
	Permissions []string `json:"permissions"`
}

// newFronteggAPI readies a fresh client of one gateway, credentials and timeout (id).
func newFronteggAPI(id string, fresh *fronteggAPI) *fronteggAPI {
	fresh.id = id
	fresh.answers.users = &fresh.users
	fresh.answers.now = fresh.now
	fresh.answers.log = fresh.log
	return fresh
}

func (f *fronteggAPI) describe() string { return redactURL(f.gateway) }

// fetch obtains Frontegg's public key; it verifies every token whatever kid it names.
func (f *fronteggAPI) fetch(ctx context.Context) (*jose.KeySet, error) {
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
	key, err := jose.ParsePublicKeyPEM(doc.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("configuration response publicKey: %v", err)
	}
	return jose.SingleKeySet(key), nil
}

// get calls the API as the vendor. A 401 drops the vendor token so the next call renews it.
func (f *fronteggAPI) get(ctx context.Context, path string) ([]byte, int, error) {
	token, err := f.token(ctx)
	if err != nil {
		return nil, 0, err
	}
	body, status, err := fetchBounded(ctx, f.client, http.MethodGet, f.gateway+path, nil, http.Header{"X-Access-Token": {token}})
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
	if f.vendorToken != "" && f.now().Before(f.tokenRenewAt) {
		return f.vendorToken, nil
	}
	credentials, err := json.Marshal(map[string]string{"clientId": f.clientID, "secret": f.apiKey})
	if err != nil {
		return "", err
	}
	body, _, err := fetchBounded(ctx, f.client, http.MethodPost, f.gateway+"/auth/vendor", credentials, http.Header{"Content-Type": {"application/json"}})
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
	f.tokenRenewAt = f.now().Add(lifetime)
	return f.vendorToken, nil
}

// apiAnswerCache keeps answers of the API for a while; concurrent callers of one key share a
// single call.
type apiAnswerCache struct {
	mu      sync.Mutex
	entries map[string]*apiAnswer
	users   *users           // its client's, for its log lines
	now     func() time.Time // its client's clock
	log     *processLog
}

// apiAnswer is one answer of the API: the field its loader fills, or err.
type apiAnswer struct {
	ready  chan struct{}
	active map[string]bool
	grants *accessTokenData
	// disabled: Frontegg answered 403, access tokens are turned off.
	disabled bool
	err      error
	expires  time.Time
}

func (c *apiAnswerCache) get(key string, timeout time.Duration, load func(ctx context.Context, a *apiAnswer) error) (*apiAnswer, error) {
	c.mu.Lock()
	a := c.entries[key]
	if a != nil && a.expires.IsZero() {
		c.mu.Unlock()
		<-a.ready // bounded: the loader's calls time out
		return a, a.err
	}
	if a != nil && c.now().Before(a.expires) {
		c.mu.Unlock()
		return a, a.err
	}
	if c.entries == nil || len(c.entries) >= maxCheckAnswers {
		c.entries = make(map[string]*apiAnswer)
	}
	a = &apiAnswer{ready: make(chan struct{})}
	c.entries[key] = a
	c.mu.Unlock()

	c.load(a, timeout, load)
	return a, a.err
}

func (c *apiAnswerCache) load(a *apiAnswer, timeout time.Duration, load func(ctx context.Context, a *apiAnswer) error) {
	err := errCheckUnavailable
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
		ttl := accessTokenCheckTTL
		if err != nil {
			c.log.errorf("%s: Frontegg access token check failed: %v", c.users.String(), err)
			ttl = failedCheckTTL
		}
		c.mu.Lock()
		// Separate assignments: Yaegi v0.16.1 drops a.err in "a.err, a.expires = …".
		a.err = err
		a.expires = c.now().Add(ttl)
		c.mu.Unlock()
		close(a.ready)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err = load(ctx, a)
}
