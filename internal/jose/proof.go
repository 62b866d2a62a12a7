package jose

// DPoP proofs (RFC 9449 §4.3): a JWS the client signs with the key its token is bound to, for one
// request's method and URL and one token.

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
)

const (
	// MaxProofBytes bounds a DPoP header: a proof holds a public key and a few claims.
	MaxProofBytes = 8 << 10
	// MaxProofFutureSeconds is how far in the future a proof's iat may be: clocks differ a
	// little, and a proof dated later would stay acceptable, and remembered, longer.
	MaxProofFutureSeconds = 5
	// maxProofRSABits bounds a proof's RSA key (KeyFromJWK refuses those under 2048 bits): a
	// client chooses its key, and no proof may cost more to verify than an RSA-4096 signature.
	maxProofRSABits = 4096
)

// ProofKey is what a proof's header says: the algorithm, the key (its jwk), the key's RFC 7638
// thumbprint. A client sends the same header with each of its proofs.
type ProofKey struct {
	Alg        string
	Key        *Key
	Thumbprint string
}

// ProofClaims are the members of a proof withauth reads.
type ProofClaims struct {
	Jti   string      `json:"jti"`
	Htm   string      `json:"htm"`
	Htu   string      `json:"htu"`
	Iat   json.Number `json:"iat"`
	Ath   string      `json:"ath"`
	Nonce *string     `json:"nonce"`
}

// ProofRequest is what a proof must be for: the route's algorithms, the request's method, the
// token it carries, the time. The URL (htu) is the caller's to judge: URL parsing is net/url's.
type ProofRequest struct {
	Algorithms    map[string]bool
	Method        string
	Token         string
	NowSeconds    float64
	MaxAgeSeconds float64
}

// ProofHeaderPart is a proof's first part, or "" when the proof is not three parts within
// MaxProofBytes.
func ProofHeaderPart(proof string) string {
	if len(proof) > MaxProofBytes || strings.Count(proof, ".") != 2 {
		return ""
	}
	return proof[:strings.IndexByte(proof, '.')]
}

// ParseProofHeader reads a proof's first part: typ dpop+jwt, no crit, a public jwk (RSA of 2048
// to 4096 bits with e = 65537, EC on P-256, P-384 or P-521, Ed25519) that may verify alg.
func ParseProofHeader(encoded string) (*ProofKey, error) {
	var header struct {
		Typ  string                 `json:"typ"`
		Alg  string                 `json:"alg"`
		JWK  map[string]interface{} `json:"jwk"`
		Crit json.RawMessage        `json:"crit"`
	}
	if err := decodePart(encoded, &header); err != nil || header.Typ != "dpop+jwt" || header.Crit != nil || header.JWK == nil {
		return nil, ErrProofInvalid
	}
	for _, private := range privateMembers {
		if _, found := header.JWK[private]; found {
			return nil, ErrProofInvalid
		}
	}
	text, err := json.Marshal(header.JWK)
	if err != nil {
		return nil, ErrProofInvalid
	}
	var k JWK
	if err := json.Unmarshal(text, &k); err != nil {
		return nil, ErrProofInvalid
	}
	key, err := KeyFromJWK(k)
	if err != nil || !KeyAllows(key, header.Alg) {
		return nil, ErrProofInvalid
	}
	if rsaKey, isRSA := key.Public.(*rsa.PublicKey); isRSA && (rsaKey.N.BitLen() > maxProofRSABits || rsaKey.E != 65537) {
		return nil, ErrProofInvalid
	}
	thumbprint, err := Thumbprint(k)
	if err != nil {
		return nil, ErrProofInvalid
	}
	return &ProofKey{Alg: header.Alg, Key: key, Thumbprint: thumbprint}, nil
}

// CheckProof judges a proof whose header key (ParseProofHeader) is known, for a token bound to
// the key whose thumbprint is jkt, cheapest first: the algorithm, the key (before any signature
// is verified), the signature, jti, htm, ath, iat. It returns the claims, whose htu the caller
// judges, whose nonce too, and whose jti it records.
func CheckProof(proof string, key *ProofKey, jkt string, want *ProofRequest) (*ProofClaims, error) {
	if !want.Algorithms[key.Alg] {
		return nil, ErrProofInvalid
	}
	if key.Thumbprint != jkt {
		return nil, ErrProofKey
	}
	first, last := strings.IndexByte(proof, '.'), strings.LastIndexByte(proof, '.')
	signature, err := DecodeSegment(proof[last+1:])
	if err != nil || Verify(&Token{SigningInput: proof[:last], Signature: signature, Alg: key.Alg}, key.Key) != nil {
		return nil, ErrProofSignature
	}
	var claims ProofClaims
	if err := decodePart(proof[first+1:last], &claims); err != nil {
		return nil, ErrProofInvalid
	}
	if claims.Jti == "" {
		return nil, ErrProofNoJti
	}
	if claims.Htm != want.Method {
		return nil, ErrProofMethod
	}
	if claims.Ath != TokenHash(want.Token) {
		return nil, ErrProofTokenHash
	}
	iat, err := claims.Iat.Float64()
	if err != nil || iat < want.NowSeconds-want.MaxAgeSeconds || iat > want.NowSeconds+MaxProofFutureSeconds {
		return nil, ErrProofStale
	}
	return &claims, nil
}

// TokenHash is a proof's ath for token: the base64url SHA-256 of its text.
func TokenHash(token string) string {
	return base64.RawURLEncoding.EncodeToString(sha256Sum([]byte(token)))
}

// decodePart decodes one base64url part of a proof as JSON into v.
func decodePart(part string, v interface{}) error {
	data, err := DecodeSegment(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}
