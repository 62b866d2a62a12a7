package withauth

// Key sources: where the key that verifies a token comes from, chosen once in New.

import (
	"context"
	"crypto/rsa"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
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

// newKeySource picks the one key source the configuration names; with none of jwksUrl,
// issuer and publicKey it is Frontegg's vendor mode, whose API also checks access tokens.
func newKeySource(config *Config) (keySource, *fronteggAPI, error) {
	jwksURL := strings.TrimSpace(config.JWKSURL)
	if jwksURL != "" && strings.TrimSpace(config.PublicKey) != "" {
		return nil, nil, fmt.Errorf("jwksUrl and publicKey are both set; keep only one key source")
	}
	if strings.TrimSpace(config.PublicKey) != "" {
		key, err := parsePublicKeyPEM(config.PublicKey)
		if err != nil {
			return nil, nil, fmt.Errorf("publicKey: %v; give an RSA public key of 2048 to 16384 bits in PEM (-----BEGIN PUBLIC KEY-----)", err)
		}
		return staticKeys{set: singleKeySet(key), epochs: newStaticEpoch()}, nil, nil
	}
	timing, err := parseFetchTiming(config)
	if err != nil {
		return nil, nil, err
	}
	key := "jwksUrl"
	if jwksURL == "" && config.Issuer != "" {
		key = "issuer"
		jwksURL = strings.TrimRight(config.Issuer, "/") + "/.well-known/jwks.json"
	}
	if jwksURL != "" {
		if err := checkEndpointURL(jwksURL); err != nil {
			return nil, nil, fmt.Errorf("%s: %v", key, err)
		}
		fetcher := jwksEndpoint{url: jwksURL, client: newHTTPClient(timing.timeout)}
		return sharedRemoteKeys(timing.id("jwks", jwksURL), timing.remoteKeys(fetcher)), nil, nil
	}
	gateway, clientID, apiKey, ok, err := fronteggSettings(config)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, fmt.Errorf("no key source: set jwksUrl (your identity provider's JWKS endpoint), issuer (keys from <issuer>/.well-known/jwks.json), publicKey (a PEM RSA public key), or clientId and apiKey for Frontegg (or FRONTEGG_CLIENT_ID and FRONTEGG_API_KEY in Traefik's environment)")
	}
	endpoint := strconv.Quote(gateway) + " " + strconv.Quote(clientID) + " " + strconv.Quote(apiKey)
	api := sharedFronteggAPI(endpoint+" "+timing.timeout.String(),
		&fronteggAPI{gateway: gateway, clientID: clientID, apiKey: apiKey, client: newHTTPClient(timing.timeout)})
	return sharedRemoteKeys(timing.id("frontegg", endpoint), timing.remoteKeys(api)), api, nil
}
