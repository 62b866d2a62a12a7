package withauth

// The DPoP proofs already used: one bounded store for the process, so that a proof replayed to
// another route, or after a reload, is refused as well; each proof key has a share of it.

import (
	"sync"
	"time"
)

const (
	// maxProofsSeen bounds the proofs remembered (about 150 bytes each); maxProofsPerKey is one
	// key's share: past it the key's proofs are answered 429 while every other key's pass, so
	// that no one holder of a bound token can fill the store.
	maxProofsSeen   = 100000
	maxProofsPerKey = maxProofsSeen / 10
)

// replayStore maps the SHA-256 of a proof's key thumbprint and jti to the time its proof stops
// being acceptable on any route (Unix nanoseconds), counted per key. Expired proofs leave a few
// at a time, by the second they expire in: no request scans the store.
type replayStore struct {
	max, maxPerKey int

	mu sync.Mutex
	// longestMaxAgeNanos is the longest dpopProofMaxAge a middleware of the process has had: a
	// proof is remembered that long after its iat, so that a route (or a reload) that accepts
	// older proofs refuses it too.
	longestMaxAgeNanos int64
	seen               map[string]usedProof
	perKey             map[string]int
	// expiring lists the proofs by the second from which they are expired; every second up to
	// sweptThrough has been swept.
	expiring     map[int64][]string
	sweptThrough int64
}

// usedProof is a proof remembered: until when, and its key's thumbprint.
type usedProof struct {
	untilUnixNano int64
	jkt           string
}

func newReplayStore(max int) *replayStore {
	return &replayStore{max: max, maxPerKey: max / 10, seen: make(map[string]usedProof), perKey: make(map[string]int),
		expiring: make(map[int64][]string)}
}

// noteMaxAge raises the time proofs are remembered to maxAge, if it is longer; a middleware
// notes its dpopProofMaxAge once its whole configuration is accepted.
func (s *replayStore) noteMaxAge(maxAge time.Duration) {
	s.mu.Lock()
	if int64(maxAge) > s.longestMaxAgeNanos {
		s.longestMaxAgeNanos = int64(maxAge)
	}
	s.mu.Unlock()
}

// firstUse records the proof digest of key jkt, issued at iat: until when it is remembered the
// first time; errDPoPProofReplayed after; errDPoPKeyOverShare when jkt holds its share of the
// store, errProofStoreFull when the store holds max proofs that are all still acceptable.
func (s *replayStore) firstUse(digest, jkt string, iatUnixNano, nowUnixNano int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(nowUnixNano)
	if _, seen := s.seen[digest]; seen {
		return 0, errDPoPProofReplayed
	}
	if s.perKey[jkt] >= s.maxPerKey {
		return 0, errDPoPKeyOverShare
	}
	if len(s.seen) >= s.max {
		return 0, errProofStoreFull
	}
	until := iatUnixNano + s.longestMaxAgeNanos + 1
	if until <= nowUnixNano {
		until = nowUnixNano + 1
	}
	s.seen[digest] = usedProof{untilUnixNano: until, jkt: jkt}
	s.perKey[jkt]++
	second := until/int64(time.Second) + 1
	s.expiring[second] = append(s.expiring[second], digest)
	return until, nil
}

// forget drops a proof recorded but not accepted after all.
func (s *replayStore) forget(digest string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if used, seen := s.seen[digest]; seen {
		s.drop(digest, used)
	}
}

// sweep drops the proofs expired by nowUnixNano: the seconds since the last sweep, one bucket
// each, or the buckets themselves when there are fewer of them than seconds; s.mu is held.
func (s *replayStore) sweep(nowUnixNano int64) {
	nowSecond := nowUnixNano / int64(time.Second)
	if s.sweptThrough == 0 || nowSecond-s.sweptThrough > int64(len(s.expiring)) {
		for second := range s.expiring {
			if second <= nowSecond {
				s.dropBucket(second, nowUnixNano)
			}
		}
	} else {
		for second := s.sweptThrough + 1; second <= nowSecond; second++ {
			s.dropBucket(second, nowUnixNano)
		}
	}
	if nowSecond > s.sweptThrough {
		s.sweptThrough = nowSecond
	}
}

// dropBucket drops the expired proofs of one second's bucket; s.mu is held.
func (s *replayStore) dropBucket(second, nowUnixNano int64) {
	for _, digest := range s.expiring[second] {
		// A proof forgotten and recorded again since is in a later bucket.
		if used, seen := s.seen[digest]; seen && used.untilUnixNano <= nowUnixNano {
			s.drop(digest, used)
		}
	}
	delete(s.expiring, second)
}

// drop removes one proof; s.mu is held.
func (s *replayStore) drop(digest string, used usedProof) {
	delete(s.seen, digest)
	if s.perKey[used.jkt] <= 1 {
		delete(s.perKey, used.jkt)
	} else {
		s.perKey[used.jkt]--
	}
}
