package withauth

// Key sources: where the key that verifies a token comes from, chosen once in New.

import (
	"context"
	"math"
	"sync/atomic"

	"github.com/seed0ec25cca/withauth/internal/jose"
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

// keyFetcher obtains a fresh key set from a remote endpoint.
type keyFetcher interface {
	fetch(ctx context.Context) (*jose.KeySet, error)
	describe() string
}

// cacheExpiry turns exp plus clock skew (seconds) into Unix nanoseconds, clamping absurd values
// instead of overflowing.
func cacheExpiry(expSeconds, skewSeconds float64) int64 {
	const far = 1 << 62
	limit := (expSeconds + skewSeconds) * 1e9
	if limit > far {
		return far
	}
	return int64(limit)
}
