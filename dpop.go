package withauth

// DPoP proofs (RFC 9449): with "Authorization: DPoP <token>" the client sends, on every request,
// a JWS signed by the key its token is bound to (cnf.jkt), for this method, URL and token.

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

// maxDPoPProofMaxAge bounds dpopProofMaxAge: every used proof is remembered that long.
const maxDPoPProofMaxAge = 10 * time.Minute

// dpopRule is a route's DPoP setting: allowed (Bearer tokens without cnf.jkt still pass) or
// required, the proofs' algorithms, origins and age, its nonces, and where used proofs are
// recorded.
type dpopRule struct {
	required      bool
	algorithms    map[string]bool
	maxAgeSeconds float64
	// origins are dpopOrigins, normalized (normalizedURI): the only scheme://host[:port] an htu
	// may name.
	origins map[string]bool
	// nonces issue and judge nonces; nil when dpopNonce is off.
	nonces *nonceRule
	// signers and proofs are the process's proof headers already read and proofs already used;
	// remote, when replayStore names one, the store every replica records proofs in too.
	signers *proofSignerCache
	proofs  *replayStore
	remote  *redisStore
	// algs is the algs parameter of the route's DPoP challenge.
	algs string
}

// newDPoP checks dpop, dpopAlgorithms, dpopProofMaxAge, dpopOrigins, the nonce settings and
// replayStore; nil when DPoP is off.
func newDPoP(config *Config, timing fetchTiming) (*dpopRule, error) {
	rule := &dpopRule{maxAgeSeconds: 60}
	switch strings.TrimSpace(config.DPoP) {
	case "", "off":
		if config.DPoPAlgorithms != nil || config.DPoPProofMaxAge != "" || config.DPoPOrigins != nil || config.DPoPNonce != "" ||
			config.DPoPNonceSecret != "" || config.DPoPNonceLifetime != "" || config.ReplayStore != "" {
			return nil, errors.New("dpopAlgorithms, dpopProofMaxAge, dpopOrigins, dpopNonce, dpopNonceSecret, dpopNonceLifetime and replayStore apply with dpop allowed or required; set dpop or remove them")
		}
		return nil, nil
	case "allowed":
	case "required":
		rule.required = true
	default:
		return nil, fmt.Errorf("dpop: %q is not a setting; use off, allowed (DPoP-bound tokens need their proof, Bearer tokens still pass) or required", config.DPoP)
	}
	names := []string{"ES256", "EdDSA", "PS256", "RS256"}
	if config.DPoPAlgorithms != nil {
		var err error
		if names, err = splitList("dpopAlgorithms", config.DPoPAlgorithms); err != nil {
			return nil, err
		}
	}
	rule.algorithms = make(map[string]bool, len(names))
	for _, name := range names {
		if !jose.Supported(name) {
			return nil, fmt.Errorf("dpopAlgorithms: %q is not supported; use asymmetric ones: ES256, ES384, ES512, EdDSA, PS256, PS384, PS512, RS256, RS384, RS512", name)
		}
		rule.algorithms[name] = true
	}
	rule.algs = strings.Join(names, " ")
	if config.DPoPProofMaxAge != "" {
		d, err := parseDuration("dpopProofMaxAge", config.DPoPProofMaxAge)
		if err != nil {
			return nil, err
		}
		if d < time.Second || d > maxDPoPProofMaxAge {
			return nil, fmt.Errorf("dpopProofMaxAge: %s is not between 1s and %s; give how old a proof may be, such as \"60s\"", d, maxDPoPProofMaxAge)
		}
		rule.maxAgeSeconds = d.Seconds()
	}
	var err error
	if rule.origins, err = newDPoPOrigins(config.DPoPOrigins); err != nil {
		return nil, err
	}
	if rule.nonces, err = newNonceRule(config); err != nil {
		return nil, err
	}
	if rule.remote, err = newReplayStoreSetting(config.ReplayStore, timing); err != nil {
		return nil, err
	}
	return rule, nil
}

// newDPoPOrigins checks dpopOrigins: required, each scheme://host[:port] and nothing more.
func newDPoPOrigins(values []string) (map[string]bool, error) {
	if values == nil {
		return nil, errors.New("dpopOrigins: is required with dpop: give the origins clients reach this route at, such as https://api.example.com, which a proof's htu must name (never the request's Host, which the client chooses)")
	}
	items, err := splitList("dpopOrigins", values)
	if err != nil {
		return nil, err
	}
	origins := make(map[string]bool, len(items))
	for _, item := range items {
		u, err := url.Parse(item)
		origin, path, ok := normalizedURI(item)
		if err != nil || !ok || (u.Scheme != "https" && u.Scheme != "http") || path != "/" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			return nil, fmt.Errorf("dpopOrigins: %q is not an origin; give scheme://host[:port] only, such as https://api.example.com", redactURL(item))
		}
		origins[origin] = true
	}
	return origins, nil
}

// checkProof verifies the request's one DPoP proof for token, bound to the key whose RFC 7638
// thumbprint is jkt, as RFC 9449 §4.3 lists: the token core judges the proof itself (its
// header, key, signature, jti, htm, ath, iat), then its htu against dpopOrigins, its nonce, and
// its jti is recorded. A fresh nonce for the client goes in answer's DPoP-Nonce when its own is
// about to expire.
func checkProof(rule *dpopRule, req *http.Request, answer http.Header, token, jkt string, now time.Time) error {
	values := req.Header["Dpop"]
	if len(values) != 1 {
		return errDPoPProofMissing
	}
	proof := values[0]
	key := proofKeyOf(rule.signers, jose.ProofHeaderPart(proof))
	if key == nil {
		return errDPoPProofInvalid
	}
	nowSeconds := float64(now.UnixNano()) / 1e9
	claims, err := jose.CheckProof(proof, key, jkt, &jose.ProofRequest{Algorithms: rule.algorithms, Method: req.Method,
		Token: token, NowSeconds: nowSeconds, MaxAgeSeconds: rule.maxAgeSeconds})
	if err != nil {
		return err
	}
	origin, path, ok := normalizedURI(claims.Htu)
	if !ok || !rule.origins[origin] || path != requestPath(req.URL.EscapedPath()) {
		return errDPoPURI
	}
	if rule.nonces != nil {
		if claims.Nonce == nil {
			return errDPoPNonceMissing
		}
		current, err := rule.nonces.judge(*claims.Nonce, now)
		if err != nil {
			return err
		}
		if !current {
			answer.Set("DPoP-Nonce", rule.nonces.issue(now))
		}
	}
	// The proof is judged; its jti counts once, for as long as any route of the process would
	// accept it. Remembered by a SHA-256, so that a proof takes the same few bytes whatever its
	// jti's size.
	iat, _ := claims.Iat.Float64()
	seen := sha256.Sum256([]byte(jkt + " " + claims.Jti))
	return recordProof(rule, string(seen[:]), jkt, int64(iat*1e9), now.UnixNano())
}

// recordProof records a judged proof as used: in the process's store, then in the replicas'
// one (replayStore). A proof the replicas' store cannot record is not accepted, nor kept as used
// here, so that the client may send it again.
func recordProof(rule *dpopRule, digest, jkt string, iatUnixNano, nowUnixNano int64) error {
	until, err := rule.proofs.firstUse(digest, jkt, iatUnixNano, nowUnixNano)
	if err != nil || rule.remote == nil {
		return err
	}
	first, err := rule.remote.setOnce(digest, until-nowUnixNano)
	if err != nil {
		rule.proofs.forget(digest)
		return errReplayStoreDown
	}
	if !first {
		return errDPoPProofReplayed
	}
	return nil
}

// maxProofSigners bounds the proof headers remembered.
const maxProofSigners = 10000

// proofSignerCache remembers the headers already read, by the SHA-256 of their exact text: a
// client sends the same header (typ, alg, jwk) with each of its proofs, so its key is read and
// its thumbprint computed once. When full, an eighth of it, in Go's random map order, makes room.
type proofSignerCache struct {
	mu       sync.Mutex
	byHeader map[string]*jose.ProofKey
}

// proofKeyOf is the key of a proof's header (jose.ParseProofHeader), nil when it is not a DPoP
// proof's; the route judges the algorithm itself.
func proofKeyOf(signers *proofSignerCache, encoded string) *jose.ProofKey {
	if encoded == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(encoded))
	digest := string(sum[:])
	signers.mu.Lock()
	key := signers.byHeader[digest]
	signers.mu.Unlock()
	if key != nil {
		return key
	}
	key, err := jose.ParseProofHeader(encoded)
	if err != nil {
		return nil
	}
	signers.mu.Lock()
	if len(signers.byHeader) >= maxProofSigners {
		room := maxProofSigners / 8
		for known := range signers.byHeader {
			delete(signers.byHeader, known)
			if room--; room == 0 {
				break
			}
		}
	}
	signers.byHeader[digest] = key
	signers.mu.Unlock()
	return key
}

// expectedHTU is the htu a proof for req would name: each origin of dpopOrigins with the
// request's path, " or " between them.
func expectedHTU(rule *dpopRule, req *http.Request) string {
	path := requestPath(req.URL.EscapedPath())
	htus := make([]string, 0, len(rule.origins))
	for origin := range rule.origins {
		htus = append(htus, origin+path)
	}
	sort.Strings(htus)
	return strings.Join(htus, " or ")
}

// normalizedURI splits an htu (or an origin) into its origin, scheme://host[:port], and its
// path, after RFC 3986's syntax- and scheme-based normalization (case of the scheme and host,
// default ports, percent-encoding, an empty path), as RFC 9449 §4.3 compares them; query and
// fragment are left out. ok is false for what is not an absolute http(s) URL without userinfo.
func normalizedURI(raw string) (origin, path string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return "", "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", "", false
	}
	host := strings.ToLower(u.Hostname())
	if port := u.Port(); port != "" && !(scheme == "https" && port == "443" || scheme == "http" && port == "80") {
		host += ":" + port
	}
	return scheme + "://" + host, requestPath(u.EscapedPath()), true
}

// requestPath is an escaped path as normalizedURI writes an htu's: the percent-encoded octets
// that need none (RFC 3986 unreserved) decoded, the others' hex digits in upper case, "/" for
// none.
func requestPath(path string) string {
	if path == "" {
		return "/"
	}
	if strings.IndexByte(path, '%') < 0 {
		return path
	}
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		if path[i] != '%' || i+2 >= len(path) {
			b.WriteByte(path[i])
			continue
		}
		decoded, err := url.PathUnescape(path[i : i+3])
		if err != nil {
			b.WriteByte(path[i])
			continue
		}
		if c := decoded[0]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			b.WriteString(strings.ToUpper(path[i : i+3]))
		}
		i += 2
	}
	return b.String()
}
