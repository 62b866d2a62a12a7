package withauth

// JWS algorithms (RFC 7518, RFC 8037): which key may verify which alg, and how.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	_ "crypto/sha512" // registers SHA-384 and SHA-512 for crypto.Hash.New
	"fmt"
	"math/big"
)

// publicKey is a verification key: *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
type publicKey struct {
	key crypto.PublicKey
	// alg is the one algorithm the key's JWK names; "" lets the key verify every algorithm
	// its type allows.
	alg string
}

// algorithm is how one JWS alg verifies.
type algorithm struct {
	family string      // "RS" (PKCS #1 v1.5), "PS" (PSS), "ES" (ECDSA) or "EdDSA"
	hash   crypto.Hash // none for EdDSA
	curve  string      // ES only: the curve its keys must be on
}

// supportedAlgorithms are the algorithms algorithms may list. none and HS* are never among
// them: a public key must not double as an HMAC secret.
var supportedAlgorithms = map[string]algorithm{
	"RS256": {family: "RS", hash: crypto.SHA256},
	"RS384": {family: "RS", hash: crypto.SHA384},
	"RS512": {family: "RS", hash: crypto.SHA512},
	"PS256": {family: "PS", hash: crypto.SHA256},
	"PS384": {family: "PS", hash: crypto.SHA384},
	"PS512": {family: "PS", hash: crypto.SHA512},
	"ES256": {family: "ES", hash: crypto.SHA256, curve: "P-256"},
	"ES384": {family: "ES", hash: crypto.SHA384, curve: "P-384"},
	"ES512": {family: "ES", hash: crypto.SHA512, curve: "P-521"},
	"EdDSA": {family: "EdDSA"},
}

// newAlgorithms checks algorithms (default RS256). none and HS* are refused by name: a public
// key must never double as an HMAC secret.
func newAlgorithms(values []string) (map[string]bool, error) {
	if values == nil {
		return map[string]bool{"RS256": true}, nil
	}
	names, err := splitList("algorithms", values)
	if err != nil {
		return nil, err
	}
	accepted := make(map[string]bool, len(names))
	for _, name := range names {
		if _, ok := supportedAlgorithms[name]; !ok {
			return nil, fmt.Errorf("algorithms: %q is not supported; use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA (none and HS* never: withauth verifies with public keys)", name)
		}
		accepted[name] = true
	}
	return accepted, nil
}

// keyAllows reports whether key may verify a signature of alg: its type must be alg's (RSA
// for RS* and PS*, EC on alg's curve for ES*, Ed25519 for EdDSA) and its JWK alg, if any, alg.
func keyAllows(key *publicKey, alg string) bool {
	a, ok := supportedAlgorithms[alg]
	if !ok || key.alg != "" && key.alg != alg {
		return false
	}
	switch k := key.key.(type) {
	case *rsa.PublicKey:
		return a.family == "RS" || a.family == "PS"
	case *ecdsa.PublicKey:
		return a.family == "ES" && k.Curve.Params().Name == a.curve
	case ed25519.PublicKey:
		return a.family == "EdDSA"
	}
	return false
}

// verifySignature checks the token's signature with key, by the algorithm its header names.
// RS256, the default and the most common, takes a small function of its own: under Yaegi every
// local of a function is allocated on entry.
func verifySignature(t *rawToken, key *publicKey) error {
	if rsaKey, ok := key.key.(*rsa.PublicKey); ok && t.alg == "RS256" && (key.alg == "" || key.alg == "RS256") {
		return verifyRS256(t, rsaKey)
	}
	return verifyOtherAlgorithm(t, key)
}

func verifyRS256(t *rawToken, key *rsa.PublicKey) error {
	if len(t.signature) != key.Size() {
		return errSignatureSize
	}
	digest := sha256.Sum256([]byte(t.signingInput))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], t.signature); err != nil {
		return errBadSignature
	}
	return nil
}

func verifyOtherAlgorithm(t *rawToken, key *publicKey) error {
	if !keyAllows(key, t.alg) {
		return errKeyAlgorithm
	}
	a := supportedAlgorithms[t.alg]
	if len(t.signature) != signatureBytes(key) {
		return errSignatureSize
	}
	var valid bool
	switch k := key.key.(type) {
	case *rsa.PublicKey:
		digest := digestOf(a.hash, t.signingInput)
		if a.family == "PS" {
			valid = rsa.VerifyPSS(k, a.hash, digest, t.signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		} else {
			valid = rsa.VerifyPKCS1v15(k, a.hash, digest, t.signature) == nil
		}
	case *ecdsa.PublicKey:
		// JWS carries R and S as two fixed-size big-endian halves, not ASN.1 (RFC 7518 §3.4).
		size := len(t.signature) / 2
		r := new(big.Int).SetBytes(t.signature[:size])
		s := new(big.Int).SetBytes(t.signature[size:])
		valid = ecdsa.Verify(k, digestOf(a.hash, t.signingInput), r, s)
	case ed25519.PublicKey:
		valid = ed25519.Verify(k, []byte(t.signingInput), t.signature)
	}
	if !valid {
		return errBadSignature
	}
	return nil
}

// signatureBytes is the size of every signature key makes: an RSA key's modulus, an EC key's
// two coordinates (RFC 7518 §3.4: R and S as fixed-size halves), an Ed25519 signature.
func signatureBytes(key *publicKey) int {
	switch k := key.key.(type) {
	case *rsa.PublicKey:
		return k.Size()
	case *ecdsa.PublicKey:
		return 2 * ((k.Curve.Params().BitSize + 7) / 8)
	}
	return ed25519.SignatureSize
}

func digestOf(hash crypto.Hash, input string) []byte {
	if hash == crypto.SHA256 {
		sum := sha256.Sum256([]byte(input))
		return sum[:]
	}
	h := hash.New()
	h.Write([]byte(input))
	return h.Sum(nil)
}

// sameKey reports whether a and b are the same key for the same algorithms.
func sameKey(a, b *publicKey) bool {
	if a.alg != b.alg {
		return false
	}
	switch x := a.key.(type) {
	case *rsa.PublicKey:
		y, ok := b.key.(*rsa.PublicKey)
		return ok && x.E == y.E && x.N.Cmp(y.N) == 0
	case *ecdsa.PublicKey:
		y, ok := b.key.(*ecdsa.PublicKey)
		return ok && x.Curve.Params().Name == y.Curve.Params().Name && x.X.Cmp(y.X) == 0 && x.Y.Cmp(y.Y) == 0
	case ed25519.PublicKey:
		y, ok := b.key.(ed25519.PublicKey)
		return ok && x.Equal(y)
	}
	return false
}
