package withauth

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxKeyResponseBytes bounds what is read from a key endpoint; real key sets are a few KiB.
	maxKeyResponseBytes = 1 << 20
	// minRSABits refuses keys too short to be safe; maxRSABits keys that would make every
	// verification needlessly slow.
	minRSABits = 2048
	maxRSABits = 16384
)

// keySource hands out the RSA key that verifies a token.
type keySource interface {
	// lookup returns the key for kid. It fails with errKeysUnavailable while no key was ever
	// obtained, and with errUnknownKey when the source has no key for kid.
	lookup(ctx context.Context, kid string) (*rsa.PublicKey, error)
	// retryAfter is how long a client should wait after errKeysUnavailable.
	retryAfter() time.Duration
	// epoch tells cached grants whether their key set is still current.
	epoch() *keyEpoch
}

// keyEpoch lets the request path judge a cached grant with two atomic loads, no call into the
// key source: a grant is good while the set it was verified against has not changed and no
// refresh is due.
type keyEpoch struct {
	generation atomic.Int64 // bumped whenever the key set changes
	refreshDue atomic.Int64 // Unix nanoseconds; past it, requests pass through the key source
}

func newStaticEpoch() *keyEpoch {
	e := &keyEpoch{}
	e.refreshDue.Store(math.MaxInt64)
	return e
}

// keySet is an immutable snapshot of usable keys.
type keySet struct {
	byKid map[string]*rsa.PublicKey
	// single verifies a token whatever kid it names: a configured PEM key, Frontegg's key,
	// or the only key of a JWKS for tokens that name no kid.
	single *rsa.PublicKey
	// singleForAnyKid tells whether single applies to every kid or only to tokens without one.
	singleForAnyKid bool
}

func (s *keySet) find(kid string) *rsa.PublicKey {
	if s.single != nil && (s.singleForAnyKid || kid == "") {
		return s.single
	}
	return s.byKid[kid]
}

// staticKeys is a key source fixed by the configuration.
type staticKeys struct {
	set    *keySet
	epochs *keyEpoch
}

func (s staticKeys) lookup(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if key := s.set.find(kid); key != nil {
		return key, nil
	}
	return nil, errUnknownKey
}

func (s staticKeys) retryAfter() time.Duration { return 0 }

func (s staticKeys) epoch() *keyEpoch { return s.epochs }

func singleKeySet(key *rsa.PublicKey) *keySet {
	return &keySet{single: key, singleForAnyKid: true}
}

// keyFetcher obtains a fresh key set from a remote endpoint.
type keyFetcher interface {
	fetch(ctx context.Context) (*keySet, error)
	describe() string
}

// remoteKeys caches the key set of one endpoint for every middleware that uses it, the way
// go-oidc's remote key set does: fetched lazily, one fetch shared by all waiting callers,
// refreshed after refreshInterval, refetched early for an unknown kid at most once per
// minRefreshInterval, and the last good set kept while the endpoint fails.
type remoteKeys struct {
	fetcher            keyFetcher
	timeout            time.Duration
	refreshInterval    time.Duration
	minRefreshInterval time.Duration
	epochs             *keyEpoch

	mu       sync.Mutex
	set      *keySet // nil until a fetch succeeds
	triedAt  time.Time
	inflight *fetchCall
}

func newRemoteKeys(fetcher keyFetcher, refreshInterval, minRefreshInterval, timeout time.Duration) *remoteKeys {
	return &remoteKeys{fetcher: fetcher, timeout: timeout, refreshInterval: refreshInterval,
		minRefreshInterval: minRefreshInterval, epochs: &keyEpoch{}}
}

// fetchCall is one fetch in progress; done is closed when it ends.
type fetchCall struct {
	done chan struct{}
}

// remoteKeySets holds one remoteKeys per endpoint and settings, shared by all middleware
// instances: routers and configuration reloads reuse the keys already fetched.
var remoteKeySets sync.Map

func sharedRemoteKeys(id string, fresh *remoteKeys) *remoteKeys {
	existing, _ := remoteKeySets.LoadOrStore(id, fresh)
	return existing.(*remoteKeys)
}

func (r *remoteKeys) lookup(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if set := r.current(); set != nil {
		if key := set.find(kid); key != nil {
			return key, nil
		}
	}
	set := r.refetch(ctx)
	if set == nil {
		return nil, errKeysUnavailable
	}
	if key := set.find(kid); key != nil {
		return key, nil
	}
	return nil, errUnknownKey
}

func (r *remoteKeys) epoch() *keyEpoch { return r.epochs }

func (r *remoteKeys) retryAfter() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.minRefreshInterval - time.Since(r.triedAt)
}

// current returns the cached set and, once it is older than refreshInterval, starts a
// refresh in the background: requests keep using the set they have meanwhile.
func (r *remoteKeys) current() *keySet {
	r.mu.Lock()
	set := r.set
	// refreshDue is refreshInterval after a success and minRefreshInterval after a failure.
	if set != nil && r.inflight == nil && time.Now().UnixNano() >= r.epochs.refreshDue.Load() {
		r.startFetchLocked()
	}
	r.mu.Unlock()
	return set
}

// refetch fetches now, unless a fetch ended less than minRefreshInterval ago, joining a fetch
// already under way. It returns the set as it then is, or nil if none was ever obtained.
func (r *remoteKeys) refetch(ctx context.Context) *keySet {
	r.mu.Lock()
	call := r.inflight
	if call == nil {
		if !r.triedAt.IsZero() && time.Since(r.triedAt) < r.minRefreshInterval {
			set := r.set
			r.mu.Unlock()
			return set
		}
		call = r.startFetchLocked()
	}
	r.mu.Unlock()

	select {
	case <-call.done:
	case <-ctx.Done():
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.set
}

// startFetchLocked runs one fetch in its own goroutine, so that a caller who gives up does not
// cancel it for the others; the fetch is bounded by the HTTP timeout. r.mu must be held.
func (r *remoteKeys) startFetchLocked() *fetchCall {
	call := &fetchCall{done: make(chan struct{})}
	r.inflight = call
	r.triedAt = time.Now()
	go r.runFetch(call)
	return call
}

func (r *remoteKeys) runFetch(call *fetchCall) {
	var set *keySet
	var err error
	defer func() {
		// A panic here would take all of Traefik down: turn it into a failed fetch.
		if p := recover(); p != nil {
			set = nil
			err = fmt.Errorf("panic while fetching keys: %v", p)
		}
		r.finishFetch(call, set, err)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	set, err = r.fetcher.fetch(ctx)
}

func (r *remoteKeys) finishFetch(call *fetchCall, set *keySet, err error) {
	if err == nil && set == nil {
		err = errors.New("the key source returned no keys")
	}
	r.mu.Lock()
	now := time.Now()
	if err != nil {
		fmt.Fprintf(os.Stderr, "withauth: fetching keys from %s failed (keeping the last good keys): %v\n", r.fetcher.describe(), err)
		r.epochs.refreshDue.Store(now.Add(r.minRefreshInterval).UnixNano())
	} else {
		set = keepKeyIdentity(r.set, set)
		if !sameKeySet(r.set, set) {
			r.epochs.generation.Add(1)
		}
		r.set = set
		r.epochs.refreshDue.Store(now.Add(r.refreshInterval).UnixNano())
	}
	// Throttling counts from the end of the fetch, so a slow endpoint is not hammered.
	r.triedAt = now
	r.inflight = nil
	r.mu.Unlock()
	close(call.done)
}

// keepKeyIdentity reuses the previous *rsa.PublicKey for every key that did not change, so
// tokens cached as verified by it stay valid across a refresh.
func keepKeyIdentity(previous, next *keySet) *keySet {
	if previous == nil {
		return next
	}
	if next.single != nil && previous.single != nil && sameKey(next.single, previous.single) {
		next.single = previous.single
	}
	for kid, key := range next.byKid {
		if old := previous.byKid[kid]; old != nil && sameKey(old, key) {
			next.byKid[kid] = old
			if next.single == key {
				next.single = old
			}
		}
	}
	return next
}

// sameKeySet reports whether next holds exactly the keys of previous (after keepKeyIdentity).
func sameKeySet(previous, next *keySet) bool {
	if previous == nil || previous.single != next.single || len(previous.byKid) != len(next.byKid) {
		return false
	}
	for kid, key := range next.byKid {
		if previous.byKid[kid] != key {
			return false
		}
	}
	return true
}

func sameKey(a, b *rsa.PublicKey) bool {
	return a.E == b.E && a.N.Cmp(b.N) == 0
}

// jwksEndpoint fetches a JSON Web Key Set (RFC 7517) over HTTP.
type jwksEndpoint struct {
	url    string
	client *http.Client
}

func (e jwksEndpoint) describe() string { return e.url }

func (e jwksEndpoint) fetch(ctx context.Context) (*keySet, error) {
	body, err := getBounded(ctx, e.client, e.url, nil)
	if err != nil {
		return nil, err
	}
	return parseJWKS(body)
}

// newHTTPClient is the client of every key endpoint and of Frontegg's API. It follows no
// redirect: none of them needs one, and following would hand the request (Frontegg's
// x-access-token with it) to whatever host a compromised or misconfigured endpoint names.
func newHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, CheckRedirect: refuseRedirect}
}

func refuseRedirect(req *http.Request, via []*http.Request) error {
	return fmt.Errorf("redirected to %s, which withauth does not follow; configure the final URL", req.URL.Redacted())
}

// getBounded GETs url and returns a 200 response's body, read up to maxKeyResponseBytes.
func getBounded(ctx context.Context, client *http.Client, url string, header http.Header) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for name, values := range header {
		req.Header[name] = values
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return readBounded(resp)
}

// readBounded reads a response's body up to maxKeyResponseBytes; a status other than 200 is an
// error, returned with the body read.
func readBounded(resp *http.Response) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeyResponseBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxKeyResponseBytes {
		return nil, fmt.Errorf("response larger than %d bytes", maxKeyResponseBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("unexpected status %s", resp.Status)
	}
	return body, nil
}

type jwk struct {
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// parseJWKS keeps the keys fit for RS256 signatures and skips the rest (other key types,
// encryption keys, other algorithms); a set with no usable key is an error.
func parseJWKS(body []byte) (*keySet, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("invalid JWKS: %v", err)
	}
	set := &keySet{byKid: make(map[string]*rsa.PublicKey)}
	for _, k := range doc.Keys {
		if k.Kty != "RSA" || (k.Alg != "" && k.Alg != "RS256") || (k.Use != "" && k.Use != "sig") {
			continue
		}
		key, err := rsaKeyFromJWK(k.N, k.E)
		if err != nil {
			continue
		}
		if _, seen := set.byKid[k.Kid]; !seen {
			set.byKid[k.Kid] = key
		}
	}
	if len(set.byKid) == 0 {
		return nil, errors.New("the JWKS holds no RSA signing key of at least 2048 bits")
	}
	if len(set.byKid) == 1 {
		for _, key := range set.byKid {
			set.single = key
		}
	}
	return set, nil
}

func rsaKeyFromJWK(n, e string) (*rsa.PublicKey, error) {
	modulus, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(n, "="))
	if err != nil {
		return nil, err
	}
	exponent, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(e, "="))
	if err != nil {
		return nil, err
	}
	if len(exponent) == 0 || len(exponent) > 4 {
		return nil, errors.New("unsupported RSA exponent")
	}
	var exp int64
	for _, b := range exponent {
		exp = exp<<8 | int64(b)
	}
	return checkRSAKey(&rsa.PublicKey{N: new(big.Int).SetBytes(modulus), E: int(exp)})
}

func checkRSAKey(key *rsa.PublicKey) (*rsa.PublicKey, error) {
	if bits := key.N.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("the RSA key has %d bits; %d to %d are accepted", bits, minRSABits, maxRSABits)
	}
	if key.E < 3 || key.E%2 == 0 || int64(key.E) > 1<<31-1 {
		return nil, errors.New("the RSA key has an invalid public exponent")
	}
	return key, nil
}

// parsePublicKeyPEM reads an RSA public key in PEM ("PUBLIC KEY" or "RSA PUBLIC KEY").
// Escaped newlines are accepted, since labels and environment variables rarely hold real ones.
func parsePublicKeyPEM(text string) (*rsa.PublicKey, error) {
	text = strings.ReplaceAll(strings.TrimSpace(text), `\n`, "\n")
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch block.Type {
	case "RSA PUBLIC KEY":
		key, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		return checkRSAKey(key)
	case "PUBLIC KEY":
		parsed, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		key, ok := parsed.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("the key is a %T, not an RSA key", parsed)
		}
		return checkRSAKey(key)
	}
	return nil, fmt.Errorf("PEM block of type %q, expected PUBLIC KEY", block.Type)
}
