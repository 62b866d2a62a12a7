package withauth

// The state every withauth middleware of one Traefik shares, in one place.

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// process is what the withauth middlewares of one Traefik share. Traefik interprets the plugin
// once and calls New for every router on every configuration change, with no teardown: what
// must outlive a reload (fetched keys, verified tokens, used DPoP proofs) or be the same for
// every route (an introspection endpoint's budget, the identity headers stripped from every
// request) lives here, each store bounded, and nowhere else. Stores of endpoints are keyed by
// processKey, from every setting their behaviour depends on, so that two routes share one only
// when they would behave alike. Nothing here is shared between replicas: what must be (used
// DPoP proofs across replicas) is named by the configuration (replayStore).
type process struct {
	// grants are the verified tokens of every configuration and token source (cache.go),
	// 64 MiB in all.
	grants *tokenStore
	// keySets, fronteggAPIs, introspections and replayStores hold one *keySource,
	// *fronteggAPI, *introspectionEndpoint and *redisStore per endpoint and settings: routes and
	// reloads share keys already fetched, Frontegg's vendor token and answers, an endpoint's
	// budget, a Redis's connections. Bounded by the configurations loaded since Traefik started.
	keySets, fronteggAPIs, introspections, replayStores sync.Map
	// proofs are the DPoP proofs already used (replay.go), so that one is refused again on
	// every route and after a reload; proofSigners the proof headers already read (dpop.go).
	proofs       *replayStore
	proofSigners *proofSignerCache
	// headers are the identity header names every middleware strips from every request.
	headers *headerRegistry
	// absentClaimsLogged holds "<route>\x00<claim path>" once that claim was logged absent.
	absentClaimsLogged sync.Map
	// log is Traefik's log, as the process's middlewares and shared objects write to it.
	log *processLog
	// minRefreshFloor is the least minRefreshInterval accepted: below it, tokens naming made-up
	// kids could make every request fetch keys (1 s; tests lower it to refetch at once).
	minRefreshFloor time.Duration
}

// shared is the process of the Traefik that loaded the plugin: the only mutable package-level
// variable. Tests make processes of their own.
var shared = newProcess()

func newProcess() *process {
	return &process{
		grants:          newTokenStore(maxStoreBytes),
		proofs:          newReplayStore(maxProofsSeen),
		proofSigners:    &proofSignerCache{byHeader: make(map[string]*jose.ProofKey)},
		headers:         newHeaderRegistry(),
		log:             newProcessLog(),
		minRefreshFloor: time.Second,
	}
}

// processKey names a shared object of kind by every setting it depends on: a SHA-256 of the
// settings, so that no secret or key is kept in it and no separator inside a setting can make
// two settings read alike.
func processKey(kind string, settings ...string) string {
	quoted := make([]string, len(settings))
	for i, setting := range settings {
		quoted[i] = strconv.Quote(setting)
	}
	sum := sha256.Sum256([]byte(strings.Join(quoted, " ")))
	return kind + " " + hex.EncodeToString(sum[:])
}

// sharedObject is the object of the process stored under key in objects, fresh if none was.
func sharedObject(objects *sync.Map, key string, fresh interface{}) interface{} {
	existing, _ := objects.LoadOrStore(key, fresh)
	return existing
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
