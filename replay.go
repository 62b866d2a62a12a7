package withauth

// The DPoP proofs already used: one bounded store for the process, so that a proof replayed to
// another route, or after a reload, is refused as well.

import "sync"

// maxProofsSeen bounds the proofs remembered (about 100 bytes each): past it, and once the
// expired ones are dropped, a new proof is answered 503 rather than remembered less.
const maxProofsSeen = 100000

// replayStore maps the SHA-256 of a proof's key thumbprint and jti to the time its proof
// stops being acceptable (Unix nanoseconds).
type replayStore struct {
	mu   sync.Mutex
	max  int
	seen map[string]int64
}

func newReplayStore(max int) *replayStore {
	return &replayStore{max: max, seen: make(map[string]int64)}
}

// firstUse records key until untilUnixNano: nil the first time, errDPoPProofReplayed after,
// errProofStoreFull when the store holds max proofs that are all still acceptable.
func firstUse(s *replayStore, key string, untilUnixNano, nowUnixNano int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if until, seen := s.seen[key]; seen && nowUnixNano < until {
		return errDPoPProofReplayed
	}
	if len(s.seen) >= s.max {
		for known, until := range s.seen {
			if nowUnixNano >= until {
				delete(s.seen, known)
			}
		}
		if len(s.seen) >= s.max {
			return errProofStoreFull
		}
	}
	s.seen[key] = untilUnixNano
	return nil
}
