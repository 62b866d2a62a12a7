package withauth

// The shared remote key set: lazy fetch, one fetch for all waiters, refresh, throttled refetch.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// keySource hands out the key that verifies a token. A fetched one caches the key set of one
// endpoint for every middleware that uses it, the way go-oidc's remote key set does: fetched
// lazily, one fetch shared by all waiting callers, refreshed after refreshInterval, refetched
// early for an unknown kid at most once per minRefreshInterval, and the last good set kept
// while the endpoint fails. A static one (publicKey) is a set that is never fetched.
type keySource struct {
	// id names the source in the process (fetchTiming.id): routes with the same endpoint and
	// timing share one.
	id                 string
	fetcher            keyFetcher
	timeout            time.Duration
	refreshInterval    time.Duration
	minRefreshInterval time.Duration
	epochs             *keyEpoch
	users              users            // the middlewares that use the set, for its log lines
	now                func() time.Time // Config.Now of the middleware that made it
	log                *processLog

	mu         sync.Mutex
	set        *jose.KeySet // nil until a fetch succeeds
	fetchedAt  time.Time    // the last success
	triedAt    time.Time    // the end of the last attempt
	lastFailed bool
	// mismatched: the last attempt found the issuer's discovery document naming another
	// issuer, which retrying does not fix.
	mismatched bool
	inflight   *fetchCall
}

func newRemoteKeys(id string, fetcher keyFetcher, t fetchTiming) *keySource {
	return &keySource{id: id, fetcher: fetcher, timeout: t.timeout, refreshInterval: t.refresh,
		minRefreshInterval: t.minRefresh, epochs: &keyEpoch{}, now: t.now, log: t.log}
}

// fetchCall is one fetch in progress; done is closed when it ends.
type fetchCall struct {
	done chan struct{}
}

// newStaticKeys is the key source of a set fixed by the configuration.
func newStaticKeys(set *jose.KeySet) *keySource {
	return &keySource{set: set, epochs: newStaticEpoch()}
}

// lookupKey returns the key for kid. It fails with errKeysUnavailable while no key was ever
// obtained, and with errUnknownKey when the source has no key for kid (after a refetch,
// throttled by minRefreshInterval).
func lookupKey(ctx context.Context, r *keySource, kid string) (*jose.Key, error) {
	if r.fetcher == nil {
		// A static set is read as it is: no lock, no refresh (under Yaegi, 39 allocations
		// against 73 through currentKeys).
		if key := jose.FindKey(r.set, kid); key != nil {
			return key, nil
		}
		return nil, errUnknownKey
	}
	if set := currentKeys(r); set != nil {
		if key := jose.FindKey(set, kid); key != nil {
			return key, nil
		}
	}
	return refetchedKey(ctx, r, kid)
}

// refetchedKey is the key for a kid the current set lacks, after a refetch.
func refetchedKey(ctx context.Context, r *keySource, kid string) (*jose.Key, error) {
	set := r.refetch(ctx)
	if set == nil {
		return nil, unavailable(r)
	}
	if key := jose.FindKey(set, kid); key != nil {
		return key, nil
	}
	return nil, errUnknownKey
}

// unavailable is why a source has no key yet: errIssuerMismatch when the configuration names
// another issuer than the provider's document, else errKeysUnavailable.
func unavailable(r *keySource) error {
	r.mu.Lock()
	mismatched := r.mismatched
	r.mu.Unlock()
	if mismatched {
		return errIssuerMismatch
	}
	return errKeysUnavailable
}

// replacementKey is the key that replaced failed after a refetch (throttled by
// minRefreshInterval), for a fetched source whose one key verifies every kid (Frontegg's):
// there a rotation shows as a bad signature, not as an unknown kid. nil when nothing changed.
func replacementKey(ctx context.Context, r *keySource, kid string, failed *jose.Key) *jose.Key {
	if set := currentKeys(r); set == nil || !set.SingleForAnyKid {
		return nil
	}
	set := r.refetch(ctx)
	if set == nil {
		return nil
	}
	if key := jose.FindKey(set, kid); key != nil && key != failed {
		return key
	}
	return nil
}

// retryAfter is how long a client should wait after errKeysUnavailable.
func (r *keySource) retryAfter() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.minRefreshInterval - r.now().Sub(r.triedAt)
}

// currentKeys returns the cached set and, once it is older than refreshInterval, starts a
// refresh in the background: requests keep using the set they have meanwhile.
func currentKeys(r *keySource) *jose.KeySet {
	r.mu.Lock()
	set := r.set
	// The scheduled refresh follows refreshInterval since the last success; after a failed
	// attempt it also waits minRefreshInterval, so a failing endpoint is not hammered.
	now := r.now()
	due := now.Sub(r.fetchedAt) >= r.refreshInterval && (!r.lastFailed || now.Sub(r.triedAt) >= r.minRefreshInterval)
	if set != nil && r.fetcher != nil && r.inflight == nil && due {
		r.startFetchLocked()
	}
	r.mu.Unlock()
	return set
}

// refetch fetches now, unless a fetch ended less than minRefreshInterval ago, joining a fetch
// already under way. It returns the set as it then is, or nil if none was ever obtained.
func (r *keySource) refetch(ctx context.Context) *jose.KeySet {
	r.mu.Lock()
	call := r.inflight
	if r.fetcher == nil { // a static set: nothing to fetch
		set := r.set
		r.mu.Unlock()
		return set
	}
	if call == nil {
		if !r.triedAt.IsZero() && r.now().Sub(r.triedAt) < r.minRefreshInterval {
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
func (r *keySource) startFetchLocked() *fetchCall {
	call := &fetchCall{done: make(chan struct{})}
	r.inflight = call
	r.triedAt = r.now()
	go r.runFetch(call)
	return call
}

func (r *keySource) runFetch(call *fetchCall) {
	var set *jose.KeySet
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

func (r *keySource) finishFetch(call *fetchCall, set *jose.KeySet, err error) {
	if err == nil && set == nil {
		err = errors.New("the key source returned no keys")
	}
	r.mu.Lock()
	now := r.now()
	if err != nil {
		kept := "keeping the last good keys"
		if r.set == nil {
			kept = "no keys obtained yet: tokens are answered 503"
		}
		r.log.errorf("%s: fetching keys from %s failed (%s): %v", r.users.String(), r.fetcher.describe(), kept, err)
		r.epochs.refreshDueUnixNano.Store(now.Add(r.minRefreshInterval).UnixNano())
		r.lastFailed = true
		r.mismatched = wraps(err, errIssuerMismatch)
	} else {
		set = keepKeyIdentity(r.set, set)
		if !sameKeySet(r.set, set) {
			r.epochs.generation.Add(1)
		}
		r.set = set
		r.fetchedAt = now
		r.lastFailed = false
		r.mismatched = false
		r.epochs.refreshDueUnixNano.Store(now.Add(r.refreshInterval).UnixNano())
	}
	// Throttling counts from the end of the fetch, so a slow endpoint is not hammered.
	r.triedAt = now
	r.inflight = nil
	r.mu.Unlock()
	close(call.done)
}

// keepKeyIdentity reuses the previous *jose.Key for every key that did not change, so
// tokens cached as verified by it stay valid across a refresh.
func keepKeyIdentity(previous, next *jose.KeySet) *jose.KeySet {
	if previous == nil {
		return next
	}
	if next.Single != nil && previous.Single != nil && jose.SameKey(next.Single, previous.Single) {
		next.Single = previous.Single
	}
	for kid, key := range next.ByKid {
		if old := previous.ByKid[kid]; old != nil && jose.SameKey(old, key) {
			next.ByKid[kid] = old
			if next.Single == key {
				next.Single = old
			}
		}
	}
	return next
}

// sameKeySet reports whether next holds exactly the keys of previous (after keepKeyIdentity).
func sameKeySet(previous, next *jose.KeySet) bool {
	if previous == nil || previous.Single != next.Single || len(previous.ByKid) != len(next.ByKid) {
		return false
	}
	for kid, key := range next.ByKid {
		if previous.ByKid[kid] != key {
			return false
		}
	}
	return true
}

// fetchTiming holds what an object a middleware shares with others gets from it: the durations
// that govern a remote key source, the clock, the TLS of its fetches, the process's log.
type fetchTiming struct {
	refresh, minRefresh, timeout time.Duration
	now                          func() time.Time
	tls                          fetchTLS
	log                          *processLog
}

// parseFetchTiming checks the remote key source's durations. refreshInterval may be shorter
// than minRefreshInterval: the first schedules refreshes, the second throttles the fetches
// that unknown kids and failures cause.
// minRefreshFloor is the least minRefreshInterval accepted (process.minRefreshFloor); log the
// process's log.
func parseFetchTiming(config *Config, minRefreshFloor time.Duration, log *processLog) (fetchTiming, error) {
	t := fetchTiming{now: clockOf(config), log: log}
	var err error
	if t.refresh, err = parseDuration("refreshInterval", config.RefreshInterval); err != nil {
		return t, err
	}
	if t.minRefresh, err = parseDuration("minRefreshInterval", config.MinRefreshInterval); err != nil {
		return t, err
	}
	if t.timeout, err = parseDuration("httpTimeout", config.HTTPTimeout); err != nil {
		return t, err
	}
	if t.refresh <= 0 {
		return t, fmt.Errorf("refreshInterval: must be positive, such as \"10m\", or keys would be fetched on every request")
	}
	if t.minRefresh < minRefreshFloor {
		return t, fmt.Errorf("minRefreshInterval: %s is below %s; raise it (default 5s): it bounds how often tokens naming unknown kids can make withauth fetch keys", t.minRefresh, minRefreshFloor)
	}
	if t.timeout <= 0 {
		return t, fmt.Errorf("httpTimeout: must be positive, such as \"5s\", so that a slow key endpoint cannot hang requests")
	}
	if t.tls, err = newFetchTLS(config); err != nil {
		return t, err
	}
	return t, nil
}

// id names a shared remote key source: middlewares with the same endpoint and timing share it.
func (t fetchTiming) id(kind string, endpoint ...string) string {
	return processKey(kind, append(endpoint, t.refresh.String(), t.minRefresh.String(), t.timeout.String(), t.tls.id)...)
}

// client is the HTTP client of one fetcher.
func (t fetchTiming) client() *http.Client {
	return newHTTPClient(t.timeout, t.tls.transport)
}

// remoteKeys is a fresh key source of id fetching with fetcher, on this timing.
func (t fetchTiming) remoteKeys(id string, fetcher keyFetcher) *keySource {
	return newRemoteKeys(id, fetcher, t)
}
