package withauth

// Key sources: where the key that verifies a token comes from, chosen once in New.

import (
	"context"
	"math"
	"sync/atomic"
	"time"
)

// keySource hands out the key that verifies a token.
type keySource interface {
	// lookup returns the key for kid. It fails with errKeysUnavailable while no key was ever
	// obtained, and with errUnknownKey when the source has no key for kid.
	lookup(ctx context.Context, kid string) (*publicKey, error)
	// retryAfter is how long a client should wait after errKeysUnavailable.
	retryAfter() time.Duration
	// epoch tells cached grants whether their key set is still current.
	epoch() *keyEpoch
	// replacement is the key that replaced failed after a refetch (throttled by
	// minRefreshInterval), for a source whose one key verifies every kid (Frontegg's): there a
	// rotation shows as a bad signature, not as an unknown kid. nil when nothing changed.
	replacement(ctx context.Context, kid string, failed *publicKey) *publicKey
}

// keyEpoch lets the request path judge a cached grant with two atomic loads, no call into the
// key source: a grant is good while the set it was verified against has not changed and no
// refresh is due.
type keyEpoch struct {
	generation         atomic.Int64 // bumped whenever the key set changes
	refreshDueUnixNano atomic.Int64 // past it, requests pass through the key source
}

func newStaticEpoch() *keyEpoch {
	e := &keyEpoch{}
	e.refreshDueUnixNano.Store(math.MaxInt64)
	return e
}

// keySet is an immutable snapshot of usable keys.
type keySet struct {
	byKid map[string]*publicKey
	// single verifies a token whatever kid it names: a configured PEM key, Frontegg's key,
	// or the only key of a JWKS for tokens that name no kid.
	single *publicKey
	// singleForAnyKid tells whether single applies to every kid or only to tokens without one.
	singleForAnyKid bool
}

func findKey(s *keySet, kid string) *publicKey {
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

func (s staticKeys) lookup(ctx context.Context, kid string) (*publicKey, error) {
	return staticLookup(s.set, kid)
}

func staticLookup(set *keySet, kid string) (*publicKey, error) {
	if key := findKey(set, kid); key != nil {
		return key, nil
	}
	return nil, errUnknownKey
}

// lookupKey is keys.lookup, with the two sources withauth makes read through plain functions:
// under Yaegi a method call through an interface costs several times a function call.
func lookupKey(ctx context.Context, keys keySource, kid string) (*publicKey, error) {
	switch source := keys.(type) {
	case staticKeys:
		return staticLookup(source.set, kid)
	case *remoteKeys:
		return remoteLookup(ctx, source, kid)
	}
	return keys.lookup(ctx, kid)
}

func (s staticKeys) retryAfter() time.Duration { return 0 }

func (s staticKeys) replacement(ctx context.Context, kid string, failed *publicKey) *publicKey {
	return nil
}

func (s staticKeys) epoch() *keyEpoch { return s.epochs }

func singleKeySet(key *publicKey) *keySet {
	return &keySet{single: key, singleForAnyKid: true}
}

// keyFetcher obtains a fresh key set from a remote endpoint.
type keyFetcher interface {
	fetch(ctx context.Context) (*keySet, error)
	describe() string
}
