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
	"strings"
	"sync"
	"time"
)

const (
	// maxConcurrentIntrospections and maxIntrospectionsPerSecond bound the calls to one
	// endpoint, whatever the number of distinct tokens clients send: past them a request is
	// answered 503, never let through and never queued.
	maxConcurrentIntrospections = 8
	maxIntrospectionsPerSecond  = 100
	// inactiveAnswerTTL is how long an inactive (or unknown) token is refused without asking
	// again; maxInactiveAnswers bounds how many are remembered.
	inactiveAnswerTTL  = 5 * time.Second
	maxInactiveAnswers = 10000
)

// introspection is a route's introspection: the shared endpoint, whether JWTs are asked about
// too, and how long an active answer is trusted.
type introspection struct {
	endpoint      *introspectionEndpoint
	always        bool
	cacheDuration time.Duration
}

// newIntrospection checks introspectionUrl, introspectionClientId, introspectionClientSecret,
// introspect and introspectionCacheDuration; nil when introspection is off.
func newIntrospection(p *process, config *Config, timing fetchTiming) (*introspection, error) {
	endpointURL := strings.TrimSpace(config.IntrospectionURL)
	id, secret := strings.TrimSpace(config.IntrospectionClientID), strings.TrimSpace(config.IntrospectionClientSecret)
	mode := strings.TrimSpace(config.Introspect)
	if endpointURL == "" {
		if id != "" || secret != "" || mode != "" || config.IntrospectionCacheDuration != "" {
			return nil, errors.New("introspect, introspectionClientId, introspectionClientSecret and introspectionCacheDuration apply with introspectionUrl only; set introspectionUrl (RFC 7662's endpoint) or remove them")
		}
		return nil, nil
	}
	if err := checkEndpointURL(endpointURL); err != nil {
		return nil, fmt.Errorf("introspectionUrl: %v", err)
	}
	if (id == "") != (secret == "") {
		return nil, errors.New("introspectionClientId and introspectionClientSecret: only one is set; give both (the client withauth authenticates as), or neither for an endpoint that needs none")
	}
	i := &introspection{cacheDuration: 30 * time.Second}
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
	// One endpoint per URL, client and settings for the process, so that its bounds are the
	// process's.
	fresh := &introspectionEndpoint{url: endpointURL, clientID: id, clientSecret: secret, client: timing.client(), now: timing.now,
		calls: make(chan struct{}, maxConcurrentIntrospections), inactive: make(map[string]int64), inflight: make(map[string]*introspectionCall)}
	key := processKey("introspection", endpointURL, id, secret, timing.timeout.String(), timing.tls.id)
	i.endpoint = sharedObject(&p.introspections, key, fresh).(*introspectionEndpoint)
	return i, nil
}

// introspectionEndpoint asks one RFC 7662 endpoint about tokens: one call per token at a time,
// inactive answers remembered a few seconds, calls bounded in number and rate.
type introspectionEndpoint struct {
	url, clientID, clientSecret string
	client                      *http.Client
	now                         func() time.Time
	calls                       chan struct{} // one slot per call in flight

	mu             sync.Mutex
	inactive       map[string]int64              // token's SHA-256 → refused until (Unix nanoseconds)
	inflight       map[string]*introspectionCall // by token's SHA-256
	windowSecond   int64                         // the second the rate counts in
	windowCalls    int
	lastFailureLog int64
}

// introspectionCall is one call in progress; done is closed when claims and err are set.
type introspectionCall struct {
	done   chan struct{}
	claims map[string]interface{}
	err    error
}

// introspect returns the members of an active token's answer. An inactive token is
// errTokenInactive; an endpoint that fails, answers something else than RFC 7662's JSON, or is
// past its bounds is errIntrospectionUnavailable.
func introspect(ctx context.Context, e *introspectionEndpoint, token string) (map[string]interface{}, error) {
	if len(token) > maxTokenBytes {
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
	if call == nil {
		if !admitCall(e, nowUnixNano) {
			e.mu.Unlock()
			return nil, errIntrospectionUnavailable
		}
		call = &introspectionCall{done: make(chan struct{})}
		e.inflight[digest] = call
		go runIntrospection(e, call, token, digest)
	}
	e.mu.Unlock()
	select {
	case <-call.done:
		return call.claims, call.err
	case <-ctx.Done():
		return nil, errIntrospectionUnavailable
	}
}

// admitCall takes a slot for one more call, within the rate and the concurrency; e.mu is held.
func admitCall(e *introspectionEndpoint, nowUnixNano int64) bool {
	second := nowUnixNano / int64(time.Second)
	if second != e.windowSecond {
		e.windowSecond = second
		e.windowCalls = 0
	}
	if e.windowCalls >= maxIntrospectionsPerSecond {
		return false
	}
	select {
	case e.calls <- struct{}{}:
	default:
		return false
	}
	e.windowCalls++
	return true
}

// runIntrospection makes one call in its own goroutine, so that a request that gives up does
// not cancel it for the others; the call is bounded by the HTTP client's timeout.
func runIntrospection(e *introspectionEndpoint, call *introspectionCall, token, digest string) {
	defer func() {
		if p := recover(); p != nil {
			call.claims = nil
			call.err = errIntrospectionUnavailable
			logError("withauth: introspection at %s: panic: %v", redactURL(e.url), p)
		}
		<-e.calls
		nowUnixNano := e.now().UnixNano()
		e.mu.Lock()
		delete(e.inflight, digest)
		if call.err == errTokenInactive {
			rememberInactive(e, digest, nowUnixNano+int64(inactiveAnswerTTL))
		}
		e.mu.Unlock()
		close(call.done)
	}()
	claims, err := askEndpoint(e, token)
	call.claims = claims
	call.err = err
}

// rememberInactive keeps an inactive answer by its token's digest; when full, an eighth of the
// answers, taken in Go's random map order, makes room. e.mu is held.
func rememberInactive(e *introspectionEndpoint, digest string, untilUnixNano int64) {
	if len(e.inactive) >= maxInactiveAnswers {
		room := maxInactiveAnswers / 8
		for known := range e.inactive {
			delete(e.inactive, known)
			if room--; room == 0 {
				break
			}
		}
	}
	e.inactive[digest] = untilUnixNano
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
		introspectionFailed(e, fmt.Sprintf("status %d: %v", status, err))
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
func introspectionFailed(e *introspectionEndpoint, what string) {
	nowUnixNano := e.now().UnixNano()
	e.mu.Lock()
	quiet := nowUnixNano-e.lastFailureLog < int64(time.Second)
	if !quiet {
		e.lastFailureLog = nowUnixNano
	}
	e.mu.Unlock()
	if !quiet {
		logError("withauth: introspection at %s failed (tokens it judges are answered 503): %s", redactURL(e.url), what)
	}
}

// compactJWS tells a token shaped as a JWT (three dot-separated parts) from an opaque one.
func compactJWS(token string) bool {
	return strings.Count(token, ".") == 2
}
