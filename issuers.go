package withauth

// The issuers a middleware trusts: for each, where its keys come from and how its claims are
// checked. A token's iss picks one when several are configured.

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// trustedIssuer is one issuer whose tokens a middleware accepts: its keys and claim rules.
type trustedIssuer struct {
	keys  *keySource
	epoch *keyEpoch
	rules jose.ClaimRules
}

// trust is what New concluded about whose tokens a middleware accepts: one issuer (only) for
// every token, or several chosen by iss (byIss); frontegg is set in Frontegg vendor mode.
type trust struct {
	only     *trustedIssuer
	byIss    map[string]*trustedIssuer
	frontegg *fronteggAPI
}

// newTrust builds the trusted issuers the configuration names: the issuers list, or one issuer
// from jwksUrl, issuer, publicKey and jwks, or Frontegg's vendor mode when none of them is set.
func newTrust(config *Config, audiences []string, base jose.ClaimRules, timing fetchTiming) (trust, error) {
	issuer := strings.TrimSpace(config.Issuer)
	given := givenKeys{jwksURL: strings.TrimSpace(config.JWKSURL), publicKey: strings.TrimSpace(config.PublicKey), jwks: strings.TrimSpace(config.JWKS)}
	if config.Issuers != nil {
		if issuer != "" || given.named() {
			return trust{}, fmt.Errorf("issuers: cannot be combined with issuer, jwksUrl, publicKey or jwks; give each issuer its own entry")
		}
		return newIssuerList(config.Issuers, audiences, base, timing)
	}
	rules := base
	rules.Issuer = issuer
	rules.Audiences = toSet(audiences)
	if issuer != "" || given.named() {
		keys, err := newKeySource(issuer, given, timing)
		if err != nil {
			return trust{}, err
		}
		return trust{only: &trustedIssuer{keys: keys, epoch: keys.epochs, rules: rules}}, nil
	}
	gateway, clientID, apiKey, ok, err := fronteggSettings(config)
	if err != nil {
		return trust{}, err
	}
	if !ok {
		return trust{}, fmt.Errorf("no key source: set issuer (keys found by OpenID discovery), jwksUrl (your identity provider's JWKS endpoint), publicKey (a PEM public key), jwks (a key set given inline), issuers (several issuers), or clientId and apiKey for Frontegg (or FRONTEGG_CLIENT_ID and FRONTEGG_API_KEY in Traefik's environment)")
	}
	api := newFronteggAPI(processKey("frontegg", gateway, clientID, apiKey, timing.timeout.String(), timing.tls.id),
		&fronteggAPI{gateway: gateway, clientID: clientID, apiKey: apiKey, client: timing.client(), now: timing.now, log: timing.log})
	keys := timing.remoteKeys(timing.id("frontegg", gateway, clientID, apiKey), api)
	return trust{only: &trustedIssuer{keys: keys, epoch: keys.epochs, rules: rules}, frontegg: api}, nil
}

// newIssuerList builds the entries of issuers, one per distinct iss.
func newIssuerList(entries []IssuerConfig, audiences []string, base jose.ClaimRules, timing fetchTiming) (trust, error) {
	if len(entries) == 0 {
		return trust{}, fmt.Errorf("issuers: is set but empty; give at least one entry with issuer, or remove the key")
	}
	t := trust{byIss: make(map[string]*trustedIssuer)}
	for i, entry := range entries {
		key := "issuers[" + strconv.Itoa(i) + "]"
		issuer := strings.TrimSpace(entry.Issuer)
		if issuer == "" {
			return trust{}, fmt.Errorf("%s.issuer: is required: the iss of the tokens the entry accepts", key)
		}
		if t.byIss[issuer] != nil {
			return trust{}, fmt.Errorf("%s.issuer: %q is also an earlier entry's; keep one entry per issuer", key, redactURL(issuer))
		}
		entryAudiences := audiences
		if entry.Audience != nil {
			var err error
			if entryAudiences, err = splitList(key+".audience", entry.Audience); err != nil {
				return trust{}, err
			}
		}
		keys, err := newKeySource(issuer, givenKeys{jwksURL: strings.TrimSpace(entry.JWKSURL)}, timing)
		if err != nil {
			return trust{}, fmt.Errorf("%s.%v", key, err)
		}
		rules := base
		rules.Issuer = issuer
		rules.Audiences = toSet(entryAudiences)
		t.byIss[issuer] = &trustedIssuer{keys: keys, epoch: keys.epochs, rules: rules}
	}
	return t, nil
}

// givenKeys are the key sources a configuration may name for one issuer; at most one is set.
type givenKeys struct {
	jwksURL, publicKey, jwks string
}

// named reports whether the configuration names a key source.
func (g givenKeys) named() bool {
	return g.jwksURL != "" || g.publicKey != "" || g.jwks != ""
}

// newKeySource picks an issuer's one key source: a PEM key, a key set given inline, a JWKS
// endpoint, or discovery from the issuer.
func newKeySource(issuer string, given givenKeys, timing fetchTiming) (*keySource, error) {
	jwksURL, publicKey := given.jwksURL, given.publicKey
	sources := 0
	for _, source := range []string{jwksURL, publicKey, given.jwks} {
		if source != "" {
			sources++
		}
	}
	if sources > 1 {
		return nil, fmt.Errorf("jwksUrl, publicKey and jwks: more than one is set; keep only one key source")
	}
	if given.jwks != "" {
		set, err := jose.ParseInlineJWKS(given.jwks)
		if err != nil {
			return nil, fmt.Errorf("jwks: %v", err)
		}
		return newStaticKeys(set), nil
	}
	if publicKey != "" {
		key, err := jose.ParsePublicKeyPEM(publicKey)
		if err != nil {
			return nil, fmt.Errorf("publicKey: %v; give a public key in PEM (-----BEGIN PUBLIC KEY-----): RSA of 2048 to 16384 bits, EC on P-256, P-384 or P-521, or Ed25519", err)
		}
		return newStaticKeys(jose.SingleKeySet(key)), nil
	}
	if jwksURL != "" {
		if err := checkEndpointURL(jwksURL, exampleJWKSURL); err != nil {
			return nil, fmt.Errorf("jwksUrl: %v", err)
		}
		fetcher := jwksEndpoint{url: jwksURL, client: timing.client()}
		return timing.remoteKeys(timing.id("jwks", jwksURL), fetcher), nil
	}
	if err := checkEndpointURL(issuer, exampleIssuer); err != nil {
		return nil, fmt.Errorf("issuer: %v", err)
	}
	fetcher := discoveryEndpoint{issuer: issuer, client: timing.client()}
	return timing.remoteKeys(timing.id("discovery", issuer), fetcher), nil
}

// issuerByIss picks the trusted issuer a token's iss names, read from the unverified payload
// (the signature is checked next, with that issuer's keys only), so that tokens of unknown
// issuers are refused before any key is fetched.
func issuerByIss(byIss map[string]*trustedIssuer, raw *jose.Token) (*trustedIssuer, error) {
	payload, err := jose.DecodeSegment(raw.Payload)
	if err != nil {
		return nil, errPayloadBase64
	}
	var claims struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, errBadClaims
	}
	if trusted := byIss[claims.Iss]; trusted != nil {
		return trusted, nil
	}
	return nil, errIssuer
}

// retryAfter is how long a client should wait after errKeysUnavailable: the longest of the
// issuers' waits.
func (t trust) retryAfter() time.Duration {
	var wait time.Duration
	if t.only != nil {
		return t.only.keys.retryAfter()
	}
	for _, trusted := range t.byIss {
		if d := trusted.keys.retryAfter(); d > wait {
			wait = d
		}
	}
	return wait
}
