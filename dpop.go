package withauth

// DPoP proofs (RFC 9449): with "Authorization: DPoP <token>" the client sends, on every request,
// a JWS signed by the key its token is bound to (cnf.jkt), for this method, URL and token.

import (
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

// dpopRule is a route's DPoP setting: allowed (Bearer tokens without cnf.jkt still pass) or
// required, the proofs' algorithms and age.
type dpopRule struct {
	// signers and proofs are the process's proof headers already read and proofs already used.
	signers       *proofSignerCache
	proofs        *replayStore
	required      bool
	algorithms    map[string]bool
	maxAgeSeconds float64
	// algs is the algs parameter of the route's DPoP challenge.
	algs string
}

// newDPoP checks dpop, dpopAlgorithms and dpopProofMaxAge; nil when DPoP is off.
func newDPoP(p *process, config *Config) (*dpopRule, error) {
	rule := &dpopRule{signers: p.proofSigners, proofs: p.proofs, maxAgeSeconds: 60}
	switch strings.TrimSpace(config.DPoP) {
	case "", "off":
		if config.DPoPAlgorithms != nil || config.DPoPProofMaxAge != "" {
			return nil, errors.New("dpopAlgorithms and dpopProofMaxAge apply with dpop allowed or required; set dpop or remove them")
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
		if d < time.Second {
			return nil, fmt.Errorf("dpopProofMaxAge: %s is below 1s; give how old a proof may be, such as \"60s\"", d)
		}
		rule.maxAgeSeconds = d.Seconds()
	}
	return rule, nil
}

// proofHeader and proofClaims are the members of a proof withauth reads.
type proofHeader struct {
	Typ  string                 `json:"typ"`
	Alg  string                 `json:"alg"`
	JWK  map[string]interface{} `json:"jwk"`
	Crit json.RawMessage        `json:"crit"`
}

type proofClaims struct {
	Jti string      `json:"jti"`
	Htm string      `json:"htm"`
	Htu string      `json:"htu"`
	Iat json.Number `json:"iat"`
	Ath string      `json:"ath"`
}

// checkProof verifies the request's one DPoP proof for token, bound to the key whose RFC 7638
// thumbprint is jkt, as RFC 9449 §4.3 lists: typ, an accepted asymmetric alg, a public jwk
// that verifies the signature, htm, htu, iat within dpopProofMaxAge, ath, the key's
// thumbprint, and a jti not seen before.
func checkProof(rule *dpopRule, req *http.Request, token, jkt string, now time.Time) error {
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
	signature, err := decodeSegment(proof[last+1:])
	if err != nil || verifySignature(&rawToken{signingInput: proof[:last], signature: signature, alg: signer.alg}, signer.key) != nil {
		return errDPoPProofInvalid
	}
	var claims proofClaims
	if err := decodeProofPart(proof[first+1:last], &claims); err != nil || claims.Jti == "" {
		return errDPoPProofInvalid
	}
	if claims.Htm != req.Method || !sameRequestURI(claims.Htu, requestURI(req)) {
		return errDPoPProofRequest
	}
	sum := sha256.Sum256([]byte(token))
	if claims.Ath != base64.RawURLEncoding.EncodeToString(sum[:]) {
		return errDPoPProofRequest
	}
	iat, err := claims.Iat.Float64()
	nowSeconds := float64(now.UnixNano()) / 1e9
	if err != nil || iat < nowSeconds-rule.maxAgeSeconds || iat > nowSeconds+rule.maxAgeSeconds {
		return errDPoPProofStale
	}
	if signer.thumbprint != jkt {
		return errDPoPKeyMismatch
	}
	// The proof is judged; its jti counts once, for as long as its iat keeps it acceptable.
	// Remembered by a SHA-256, so that a proof takes the same few bytes whatever its jti's size.
	seen := sha256.Sum256([]byte(jkt + " " + claims.Jti))
	return firstUse(rule.proofs, string(seen[:]), int64((iat+rule.maxAgeSeconds)*1e9)+1, now.UnixNano())
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
	thumbprint, err := jwkThumbprint(k)
	return key, thumbprint, err
}

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

// requestURI is the URI the client used, without query and fragment: scheme and host as
// Traefik forwards them (X-Forwarded-Proto, X-Forwarded-Host), else the request's own.
func requestURI(req *http.Request) string {
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	if forwarded := firstForwarded(req.Header["X-Forwarded-Proto"]); forwarded != "" {
		scheme = forwarded
	}
	host := req.Host
	if forwarded := firstForwarded(req.Header["X-Forwarded-Host"]); forwarded != "" {
		host = forwarded
	}
	return scheme + "://" + host + req.URL.EscapedPath()
}

// firstForwarded is the first value of an X-Forwarded-* header, "" without one.
func firstForwarded(values []string) string {
	if len(values) == 0 {
		return ""
	}
	value := values[0]
	if comma := strings.IndexByte(value, ','); comma >= 0 {
		value = value[:comma]
	}
	return strings.TrimSpace(value)
}

// sameRequestURI compares a proof's htu with the request's URI as RFC 9449 §4.3 says: without
// query and fragment, after RFC 3986's syntax- and scheme-based normalization (case of the
// scheme and host, default ports, percent-encoding, an empty path).
func sameRequestURI(htu, uri string) bool {
	a, okA := normalizedURI(htu)
	b, okB := normalizedURI(uri)
	return okA && okB && a == b
}

func normalizedURI(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if port := u.Port(); port != "" && !(scheme == "https" && port == "443" || scheme == "http" && port == "80") {
		host += ":" + port
	}
	path := normalizedPath(u.EscapedPath())
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
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
