package withauth

// The state every withauth middleware of one Traefik shares, in one place.

import (
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
	// headers are the identity header names every middleware strips from every request;
	// tokenHeaders the JOSE headers of tokens that verified, read once (jwt.go).
	headers      *headerRegistry
	tokenHeaders *knownHeaders
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
		tokenHeaders:    &knownHeaders{byText: make(map[string]*jose.Header)},
		log:             newProcessLog(),
		minRefreshFloor: time.Second,
	}
}

// sharedObject is the object of the process stored under key in objects, fresh if none was.
func sharedObject(objects *sync.Map, key string, fresh interface{}) interface{} {
	existing, _ := objects.LoadOrStore(key, fresh)
	return existing
}

// sharedRemoteKeys is the process's key source of fresh's id, fresh if it had none: routers and
// configuration reloads reuse the keys already fetched.
func sharedRemoteKeys(p *process, fresh *keySource) *keySource {
	return sharedObject(&p.keySets, fresh.id, fresh).(*keySource)
}

// sharedFronteggAPI is the process's client of fresh's id, shared by every middleware of that
// vendor as the key sets are: the key source of the same settings fetches with it, and its vendor
// token and access-token answers serve them all.
func sharedFronteggAPI(p *process, fresh *fronteggAPI) *fronteggAPI {
	return sharedObject(&p.fronteggAPIs, fresh.id, fresh).(*fronteggAPI)
}

// shareTrust makes the trust's key sources and Frontegg client the process's (the ones routes and
// reloads configured alike already share, or these), and records name among their users. New
// calls it once the whole configuration is accepted, so that a refused one shares nothing.
func shareTrust(p *process, t *trust, name string) {
	if t.frontegg != nil {
		t.frontegg = sharedFronteggAPI(p, t.frontegg)
		t.frontegg.users.add(name)
	}
	issuers := make([]*trustedIssuer, 0, len(t.byIss)+1)
	if t.only != nil {
		issuers = append(issuers, t.only)
	}
	for _, trusted := range t.byIss {
		issuers = append(issuers, trusted)
	}
	for _, trusted := range issuers {
		if trusted.keys.fetcher != nil {
			if api, isFrontegg := trusted.keys.fetcher.(*fronteggAPI); isFrontegg && api != t.frontegg {
				trusted.keys.fetcher = t.frontegg
			}
			trusted.keys = sharedRemoteKeys(p, trusted.keys)
			trusted.epoch = trusted.keys.epochs
		}
		trusted.keys.users.add(name)
	}
}

// shareIntrospection makes the route's endpoint the process's one of its settings, and records
// name among its users.
func shareIntrospection(p *process, i *introspection, name string) {
	i.endpoint = sharedObject(&p.introspections, i.endpoint.id, i.endpoint).(*introspectionEndpoint)
	i.endpoint.users.add(name)
}

// shareDPoP gives the rule the process's proof headers and used proofs, and the replicas' store of
// its replayStore setting; used proofs are remembered for its dpopProofMaxAge from now on.
func shareDPoP(p *process, rule *dpopRule, name string) {
	rule.signers = p.proofSigners
	rule.proofs = p.proofs
	if rule.remote != nil {
		rule.remote = sharedObject(&p.replayStores, rule.remote.id, rule.remote).(*redisStore)
		rule.remote.users.add(name)
	}
	p.proofs.noteMaxAge(time.Duration(rule.maxAgeSeconds * float64(time.Second)))
}
