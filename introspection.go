package withauth

// Token introspection (RFC 7662): opaque tokens, and with introspect "always" every token, are
// asked about at the identity provider, one bounded client per endpoint for the process.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

const (
	// maxIntrospectionRate and maxIntrospectionConcurrency bound introspectionRate and
	// introspectionConcurrency; callBudget shares them among client addresses.
	maxIntrospectionRate        = 10000
	maxIntrospectionConcurrency = 256
	// inactiveAnswerTTL is how long an inactive (or unknown) token is refused without asking
	// again; maxRememberedAnswers bounds how many inactive and how many active tokens are
	// remembered (active ones, so that asking about them again is a revalidation).
	inactiveAnswerTTL    = 5 * time.Second
	maxRememberedAnswers = 10000
)

// introspection is a route's introspection: the shared endpoint, whether JWTs are asked about
// too, and how long an active answer is trusted.
type introspection struct {
	endpoint *introspectionEndpoint
	// epoch is the key epoch of the route's introspected grants: no key verified them, so no key
	// set change outdates them; their expiry alone does.
	epoch         *keyEpoch
	always        bool
	cacheDuration time.Duration
}

// newIntrospection checks introspectionUrl, introspectionClientId, introspectionClientSecret,
// introspect, introspectionCacheDuration, introspectionRate and introspectionConcurrency; nil
// when introspection is off.
func newIntrospection(config *Config, timing fetchTiming) (*introspection, error) {
	endpointURL := strings.TrimSpace(config.IntrospectionURL)
	id, secret := strings.TrimSpace(config.IntrospectionClientID), strings.TrimSpace(config.IntrospectionClientSecret)
	mode := strings.TrimSpace(config.Introspect)
	if endpointURL == "" {
		if id != "" || secret != "" || mode != "" || config.IntrospectionCacheDuration != "" ||
			config.IntrospectionRate != defaultIntrospectionRate || config.IntrospectionConcurrency != defaultIntrospectionConcurrency {
			return nil, errors.New("introspect, introspectionClientId, introspectionClientSecret, introspectionCacheDuration, introspectionRate and introspectionConcurrency apply with introspectionUrl only; set introspectionUrl (RFC 7662's endpoint) or remove them")
		}
		return nil, nil
	}
	if err := checkEndpointURL(endpointURL, exampleIntrospectionURL); err != nil {
		return nil, fmt.Errorf("introspectionUrl: %v", err)
	}
	if (id == "") != (secret == "") {
		return nil, errors.New("introspectionClientId and introspectionClientSecret: only one is set; give both (the client withauth authenticates as), or neither for an endpoint that needs none")
	}
	i := &introspection{cacheDuration: 30 * time.Second, epoch: newStaticEpoch()}
	switch mode {
	case "", "opaque":
	case "always":
		i.always = true
	default:
		return nil, fmt.Errorf("introspect: %q is not a mode; use opaque (tokens that are not JWTs) or always (JWTs too, after their signature)", config.Introspect)
	}
	if config.IntrospectionCacheDuration != "" {
		d, err := parseDuration("introspectionCacheDuration", config.IntrospectionCacheDuration)
		if err != nil {
			return nil, err
		}
		i.cacheDuration = d
	}
	rate, concurrency := config.IntrospectionRate, config.IntrospectionConcurrency
	if rate < 1 || rate > maxIntrospectionRate {
		return nil, fmt.Errorf("introspectionRate: %d is not between 1 and %d; give the calls a second the endpoint may receive from this Traefik (default %d)", rate, maxIntrospectionRate, defaultIntrospectionRate)
	}
	if concurrency < 1 || concurrency > maxIntrospectionConcurrency {
		return nil, fmt.Errorf("introspectionConcurrency: %d is not between 1 and %d; give the calls the endpoint may have in flight from this Traefik (default %d)", concurrency, maxIntrospectionConcurrency, defaultIntrospectionConcurrency)
	}
	// One endpoint per URL, client and settings for the process (share), so that its budget is the
	// process's.
	i.endpoint = &introspectionEndpoint{url: endpointURL, clientID: id, clientSecret: secret, client: timing.client(), now: timing.now, log: timing.log,
		budget: newCallBudget(float64(rate), concurrency, timing.now, timing.log), inactive: make(map[string]int64), active: make(map[string]int64),
		inflight: make(map[string]*introspectionCall)}
	i.endpoint.id = processKey("introspection", endpointURL, id, secret, timing.timeout.String(), timing.tls.id, strconv.Itoa(rate), strconv.Itoa(concurrency))
	return i, nil
}

// introspectionEndpoint asks one RFC 7662 endpoint about tokens: one call per token at a time,
// inactive answers remembered a few seconds, calls within the budget.
type introspectionEndpoint struct {
	id                          string // its processKey
	url, clientID, clientSecret string
	client                      *http.Client
	now                         func() time.Time
	log                         *processLog
	budget                      *callBudget
	users                       users // the middlewares that use the endpoint, for its log lines

	mu sync.Mutex
	// inactive and active map a token's SHA-256 to until when its last answer holds (Unix
	// nanoseconds): an inactive token is refused without a call meanwhile; asking about an
	// active one again is a revalidation, which the budget serves first.
	inactive       map[string]int64
	active         map[string]int64
	inflight       map[string]*introspectionCall // by token's SHA-256
	lastFailureLog int64
}

// introspectionCall is one call in progress; done is closed when claims and err are set.
type introspectionCall struct {
	done   chan struct{}
	claims map[string]interface{}
	err    error
}

// introspect returns the members of an active token's answer, asked for client (its address).
// An inactive token is errTokenInactive; an endpoint that fails or answers something else than
// RFC 7662's JSON is errIntrospectionUnavailable; a client past its share of the budget,
// errIntrospectionBusy.
func introspect(ctx context.Context, e *introspectionEndpoint, token, client string) (map[string]interface{}, error) {
	if len(token) > jose.MaxTokenBytes {
		return nil, errTokenTooLarge
	}
	// Remembered by their SHA-256, so that what is kept of a token is 32 bytes, whatever its size.
	sum := sha256.Sum256([]byte(token))
	digest := string(sum[:])
	nowUnixNano := e.now().UnixNano()
	e.mu.Lock()
	if until, known := e.inactive[digest]; known && nowUnixNano < until {
		e.mu.Unlock()
		return nil, errTokenInactive
	}
	call := e.inflight[digest]
	until, seenActive := e.active[digest]
	e.mu.Unlock()
	if call == nil {
		if err := e.budget.acquire(client, seenActive && nowUnixNano < until, ctx.Done()); err != nil {
			return nil, err
		}
		e.mu.Lock()
		if call = e.inflight[digest]; call != nil {
			// Another request asked about the token meanwhile: its call answers this one too.
			e.mu.Unlock()
			e.budget.release(client, true)
		} else {
			call = &introspectionCall{done: make(chan struct{})}
			e.inflight[digest] = call
			e.mu.Unlock()
			go runIntrospection(e, call, token, digest, client)
		}
	}
	select {
	case <-call.done:
		return call.claims, call.err
	case <-ctx.Done():
		return nil, errIntrospectionUnavailable
	}
}

// runIntrospection makes one call in its own goroutine, so that a request that gives up does
// not cancel it for the others; the call is bounded by the HTTP client's timeout.
func runIntrospection(e *introspectionEndpoint, call *introspectionCall, token, digest, client string) {
	defer func() {
		if p := recover(); p != nil {
			call.claims = nil
			call.err = errIntrospectionUnavailable
			e.log.errorf("%s: introspection at %s: panic: %v", e.users.String(), redactURL(e.url), p)
		}
		e.budget.release(client, false)
		nowUnixNano := e.now().UnixNano()
		e.mu.Lock()
		delete(e.inflight, digest)
		if call.err == errTokenInactive {
			remember(e.inactive, digest, nowUnixNano+int64(inactiveAnswerTTL), maxRememberedAnswers)
			delete(e.active, digest)
		} else if call.err == nil {
			remember(e.active, digest, answerExpiry(call.claims, nowUnixNano), maxRememberedAnswers)
		}
		e.mu.Unlock()
		close(call.done)
	}()
	claims, err := askEndpoint(e, token)
	call.claims = claims
	call.err = err
}

// answerExpiry is until when an active answer's token may be revalidated: its exp, or for an
// answer without one, a minute.
func answerExpiry(claims map[string]interface{}, nowUnixNano int64) int64 {
	if exp, ok := jose.NumericDate(claims["exp"]); ok {
		return cacheExpiry(exp, 0)
	}
	return nowUnixNano + int64(time.Minute)
}

// askEndpoint sends RFC 7662's request (a form POST of token and token_type_hint, the client
// authenticated with HTTP Basic when configured) and reads the answer.
func askEndpoint(e *introspectionEndpoint, token string) (map[string]interface{}, error) {
	body := url.Values{"token": {token}, "token_type_hint": {"access_token"}}.Encode()
	header := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if e.clientID != "" {
		// RFC 6749 §2.3.1: the id and the secret are form-encoded before Basic encoding.
		credentials := url.QueryEscape(e.clientID) + ":" + url.QueryEscape(e.clientSecret)
		header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(credentials)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.client.Timeout)
	defer cancel()
	answer, status, err := fetchBounded(ctx, e.client, http.MethodPost, e.url, []byte(body), header)
	if err != nil {
		introspectionFailed(e, endpointFailure(status, err))
		return nil, errIntrospectionUnavailable
	}
	decoder := json.NewDecoder(bytes.NewReader(answer))
	decoder.UseNumber()
	var claims map[string]interface{}
	if err := decoder.Decode(&claims); err != nil || claims == nil {
		introspectionFailed(e, "the answer is not a JSON object")
		return nil, errIntrospectionUnavailable
	}
	active, isBool := claims["active"].(bool)
	if !isBool {
		introspectionFailed(e, "the answer has no boolean active member")
		return nil, errIntrospectionUnavailable
	}
	if !active {
		return nil, errTokenInactive
	}
	return claims, nil
}

// introspectionFailed logs a failed call, at most once a second for the endpoint: never the
// token or the client secret.
// endpointFailure says why a call got no answer: the connection's error, or the status and what
// to check for it.
func endpointFailure(status int, err error) string {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return fmt.Sprintf("the endpoint refused withauth's credentials (status %d %s); check introspectionClientId and introspectionClientSecret", status, http.StatusText(status))
	case status != 0 && status != http.StatusOK:
		return fmt.Sprintf("status %d %s", status, http.StatusText(status))
	}
	return err.Error()
}

func introspectionFailed(e *introspectionEndpoint, what string) {
	nowUnixNano := e.now().UnixNano()
	e.mu.Lock()
	quiet := nowUnixNano-e.lastFailureLog < int64(time.Second)
	if !quiet {
		e.lastFailureLog = nowUnixNano
	}
	e.mu.Unlock()
	if !quiet {
		e.log.errorf("%s: introspection at %s failed (tokens it judges are answered 503): %s", e.users.String(), redactURL(e.url), what)
	}
}

// compactJWS tells a token shaped as a JWT (three dot-separated base64url parts) from an opaque
// one, which may hold dots too (RFC 6750's b64token: RFC 9449's example token holds two) but
// then also "~", "+", "/" or "=", which base64url never does.
func compactJWS(token string) bool {
	return strings.Count(token, ".") == 2 && !strings.ContainsAny(token, "~+/=")
}

// confirmActive asks, for introspect "always", whether a token verified locally is still active
// (revocation), and bounds its grant by introspectionCacheDuration.
func confirmActive(ctx context.Context, i *introspection, token, client string, expiresUnixNano, nowUnixNano int64) (int64, error) {
	if _, err := introspect(ctx, i.endpoint, token, client); err != nil {
		return 0, err
	}
	if until := nowUnixNano + int64(i.cacheDuration); until < expiresUnixNano {
		return until, nil
	}
	return expiresUnixNano, nil
}

// remember sets key's expiry (Unix nanoseconds) in a map bounded to max entries: when it is
// full, an eighth of it, taken in Go's random map order, makes room. No bookkeeping per entry:
// what it forgets is only asked again.
func remember(entries map[string]int64, key string, untilUnixNano int64, max int) {
	if _, known := entries[key]; !known && len(entries) >= max {
		room := max/8 + 1
		for other := range entries {
			delete(entries, other)
			if room--; room == 0 {
				break
			}
		}
	}
	entries[key] = untilUnixNano
}
