package withauth

// DPoP proofs (RFC 9449): with "Authorization: DPoP <token>" the client sends, on every request,
// a JWS signed by the key its token is bound to (cnf.jkt), for this method, URL and token.

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxProofBytes bounds a DPoP header: a proof holds a public key and a few claims.
const maxProofBytes = 8 << 10

const (
	// maxProofFutureSeconds is how far in the future a proof's iat may be: clocks differ a little,
	// and a proof dated later would stay acceptable, and remembered, longer.
	maxProofFutureSeconds = 5
	// maxDPoPProofMaxAge bounds dpopProofMaxAge: every used proof is remembered that long.
	maxDPoPProofMaxAge = 10 * time.Minute
)

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
func newDPoP(p *process, config *Config, timing fetchTiming) (*dpopRule, error) {
	rule := &dpopRule{signers: p.proofSigners, proofs: p.proofs, maxAgeSeconds: 60}
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
		if _, ok := supportedAlgorithms[name]; !ok {
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
	if rule.remote, err = newReplayStoreSetting(p, config.ReplayStore, timing); err != nil {
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

// proofHeader and proofClaims are the members of a proof withauth reads.
type proofHeader struct {
	Typ  string                 `json:"typ"`
	Alg  string                 `json:"alg"`
	JWK  map[string]interface{} `json:"jwk"`
	Crit json.RawMessage        `json:"crit"`
}

type proofClaims struct {
	Jti   string      `json:"jti"`
	Htm   string      `json:"htm"`
	Htu   string      `json:"htu"`
	Iat   json.Number `json:"iat"`
	Ath   string      `json:"ath"`
	Nonce *string     `json:"nonce"`
}

// checkProof verifies the request's one DPoP proof for token, bound to the key whose RFC 7638
// thumbprint is jkt, as RFC 9449 §4.3 lists, the cheap checks first: typ, an accepted
// asymmetric alg and a public jwk of a bounded size, the jwk's thumbprint, the signature, jti,
// htm, htu, ath, iat, the nonce, and a jti not seen before (recorded then). A fresh nonce for the
// client goes in answer's DPoP-Nonce when its own is about to expire.
func checkProof(rule *dpopRule, req *http.Request, answer http.Header, token, jkt string, now time.Time) error {
	values := req.Header["Dpop"]
	if len(values) != 1 {
		return errDPoPProofMissing
	}
	proof := values[0]
	if len(proof) > maxProofBytes || strings.Count(proof, ".") != 2 {
		return errDPoPProofInvalid
	}
	first, last := strings.IndexByte(proof, '.'), strings.LastIndexByte(proof, '.')
	signer := proofSignerOf(rule.signers, proof[:first])
	if signer == nil || !rule.algorithms[signer.alg] {
		return errDPoPProofInvalid
	}
	// Before the signature: a key other than the token's is refused without verifying anything.
	if signer.thumbprint != jkt {
		return errDPoPKeyMismatch
	}
	signature, err := decodeSegment(proof[last+1:])
	if err != nil || verifySignature(&rawToken{signingInput: proof[:last], signature: signature, alg: signer.alg}, signer.key) != nil {
		return errDPoPSignature
	}
	var claims proofClaims
	if err := decodeProofPart(proof[first+1:last], &claims); err != nil {
		return errDPoPProofInvalid
	}
	return checkProofClaims(rule, req, answer, token, jkt, &claims, now)
}

// checkProofClaims is checkProof for the claims of a proof whose signature verified.
func checkProofClaims(rule *dpopRule, req *http.Request, answer http.Header, token, jkt string, claims *proofClaims, now time.Time) error {
	if claims.Jti == "" {
		return errDPoPNoJti
	}
	if claims.Htm != req.Method {
		return errDPoPMethod
	}
	origin, path, ok := normalizedURI(claims.Htu)
	if !ok || !rule.origins[origin] || path != requestPath(req) {
		return errDPoPURI
	}
	sum := sha256.Sum256([]byte(token))
	if claims.Ath != base64.RawURLEncoding.EncodeToString(sum[:]) {
		return errDPoPTokenHash
	}
	iat, err := claims.Iat.Float64()
	nowSeconds := float64(now.UnixNano()) / 1e9
	if err != nil || iat < nowSeconds-rule.maxAgeSeconds || iat > nowSeconds+maxProofFutureSeconds {
		return errDPoPProofStale
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

// requestPath is the request's path as normalizedURI writes an htu's.
func requestPath(req *http.Request) string {
	path := normalizedPath(req.URL.EscapedPath())
	if path == "" {
		return "/"
	}
	return path
}

// proofSigner is what a proof's header says: the algorithm, the key (its jwk), the key's
// RFC 7638 thumbprint.
type proofSigner struct {
	alg        string
	key        *publicKey
	thumbprint string
}

// maxProofSigners bounds the proof headers remembered.
const maxProofSigners = 10000

// proofSignerCache remembers the headers already read, by the SHA-256 of their exact text: a
// client sends the same header (typ, alg, jwk) with each of its proofs, so its key is read and
// its thumbprint computed once. When full, an eighth of it, in Go's random map order, makes room.
type proofSignerCache struct {
	mu       sync.Mutex
	byHeader map[string]*proofSigner
}

// proofSignerOf reads a proof's header: typ dpop+jwt, no crit, a public jwk that may verify
// alg. nil when it is not such a header; the route judges the algorithm itself.
func proofSignerOf(proofSigners *proofSignerCache, encoded string) *proofSigner {
	sum := sha256.Sum256([]byte(encoded))
	digest := string(sum[:])
	proofSigners.mu.Lock()
	signer := proofSigners.byHeader[digest]
	proofSigners.mu.Unlock()
	if signer != nil {
		return signer
	}
	var header proofHeader
	if err := decodeProofPart(encoded, &header); err != nil || header.Typ != "dpop+jwt" || header.Crit != nil || header.JWK == nil {
		return nil
	}
	key, thumbprint, err := proofKey(header.JWK)
	if err != nil || !keyAllows(key, header.Alg) {
		return nil
	}
	signer = &proofSigner{alg: header.Alg, key: key, thumbprint: thumbprint}
	proofSigners.mu.Lock()
	if len(proofSigners.byHeader) >= maxProofSigners {
		room := maxProofSigners / 8
		for known := range proofSigners.byHeader {
			delete(proofSigners.byHeader, known)
			if room--; room == 0 {
				break
			}
		}
	}
	proofSigners.byHeader[digest] = signer
	proofSigners.mu.Unlock()
	return signer
}

// decodeProofPart decodes one base64url part of a proof as JSON into v.
func decodeProofPart(part string, v interface{}) error {
	data, err := decodeSegment(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// proofKey reads a proof's jwk: a public key withauth verifies with (no private member), and
// its RFC 7638 SHA-256 thumbprint.
func proofKey(members map[string]interface{}) (*publicKey, string, error) {
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
		if _, found := members[private]; found {
			return nil, "", errors.New("the jwk holds a private member")
		}
	}
	text, err := json.Marshal(members)
	if err != nil {
		return nil, "", err
	}
	var k jwk
	if err := json.Unmarshal(text, &k); err != nil {
		return nil, "", err
	}
	key, err := keyFromJWK(k)
	if err != nil {
		return nil, "", err
	}
	// A client's key, chosen by the client: RSA only of the sizes and exponent clients use, so
	// that no proof costs more to verify than an RSA-4096 signature.
	if rsaKey, isRSA := key.key.(*rsa.PublicKey); isRSA && (rsaKey.N.BitLen() > maxProofRSABits || rsaKey.E != 65537) {
		return nil, "", errors.New("the proof's RSA key is larger than 4096 bits or its exponent is not 65537")
	}
	thumbprint, err := jwkThumbprint(k)
	return key, thumbprint, err
}

// maxProofRSABits bounds a proof's RSA key; keyFromJWK has refused those under 2048 bits.
const maxProofRSABits = 4096

// jwkThumbprint is RFC 7638's thumbprint: SHA-256 over the required members of the key's type,
// in lexicographic order, as JSON without white space; base64url.
func jwkThumbprint(k jwk) (string, error) {
	var members []string
	switch k.Kty {
	case "RSA":
		members = []string{"e", k.E, "kty", k.Kty, "n", k.N}
	case "EC":
		members = []string{"crv", k.Crv, "kty", k.Kty, "x", k.X, "y", k.Y}
	case "OKP":
		members = []string{"crv", k.Crv, "kty", k.Kty, "x", k.X}
	default:
		return "", fmt.Errorf("no thumbprint for kty %q", k.Kty)
	}
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i < len(members); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(members[i])
		value, _ := json.Marshal(members[i+1])
		b.Write(name)
		b.WriteByte(':')
		b.Write(value)
	}
	b.WriteByte('}')
	sum := sha256.Sum256([]byte(b.String()))
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
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
	path = normalizedPath(u.EscapedPath())
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host, path, true
}

// normalizedPath decodes the percent-encoded octets that need none (RFC 3986 unreserved) and
// writes the others' hex digits in upper case.
func normalizedPath(path string) string {
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
