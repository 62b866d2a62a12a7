package withauth

// Key sources: where the key that verifies a token comes from, chosen once in New.

import (
	"context"
	"math"
	"sync/atomic"
)

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

func singleKeySet(key *publicKey) *keySet {
	return &keySet{single: key, singleForAnyKid: true}
}

// keyFetcher obtains a fresh key set from a remote endpoint.
type keyFetcher interface {
	fetch(ctx context.Context) (*keySet, error)
	describe() string
}
