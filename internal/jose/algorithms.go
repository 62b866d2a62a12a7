package jose

// JWS algorithms (RFC 7518, RFC 8037): which key may verify which alg, and how.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	_ "crypto/sha512" // registers SHA-384 and SHA-512 for crypto.Hash.New
	"math/big"
)

// Key is a verification key: *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
type Key struct {
	Public crypto.PublicKey
	// Alg is the one algorithm the key's JWK names; "" lets the key verify every algorithm its
	// type allows.
	Alg string
}

// algorithm is how one JWS alg verifies.
type algorithm struct {
	family string      // "RS" (PKCS #1 v1.5), "PS" (PSS), "ES" (ECDSA) or "EdDSA"
	hash   crypto.Hash // none for EdDSA
	curve  string      // ES only: the curve its keys must be on
}

// algorithms are the algorithms withauth verifies. none and HS* are never among them: a public
// key must not double as an HMAC secret.
var algorithms = map[string]algorithm{
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

// Supported reports whether alg is one of the algorithms withauth verifies.
func Supported(alg string) bool {
	_, ok := algorithms[alg]
	return ok
}

// KeyAllows reports whether key may verify a signature of alg: its type must be alg's (RSA for
// RS* and PS*, EC on alg's curve for ES*, Ed25519 for EdDSA) and its JWK alg, if any, alg.
func KeyAllows(key *Key, alg string) bool {
	a, ok := algorithms[alg]
	if !ok || key.Alg != "" && key.Alg != alg {
		return false
	}
	switch k := key.Public.(type) {
	case *rsa.PublicKey:
		return a.family == "RS" || a.family == "PS"
	case *ecdsa.PublicKey:
		return a.family == "ES" && k.Curve.Params().Name == a.curve
	case ed25519.PublicKey:
		return a.family == "EdDSA"
	}
	return false
}

// Verify checks the token's signature with key, by the algorithm its header names. RS256, the
// default and the most common, takes a small function of its own: under Yaegi every local of a
// function is allocated on entry. That shortcut is KeyAllows's rule for RS256 written inline,
// and TestRS256ShortcutIsTheGeneralRule holds the two together.
func Verify(t *Token, key *Key) error {
	if rsaKey, ok := key.Public.(*rsa.PublicKey); ok && t.Alg == "RS256" && (key.Alg == "" || key.Alg == "RS256") {
		return verifyRS256(t, rsaKey)
	}
	return verifyOtherAlgorithm(t, key)
}

func verifyRS256(t *Token, key *rsa.PublicKey) error {
	if len(t.Signature) != key.Size() {
		return ErrSignatureSize
	}
	digest := sha256.Sum256([]byte(t.SigningInput))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, digest[:], t.Signature); err != nil {
		return ErrBadSignature
	}
	return nil
}

func verifyOtherAlgorithm(t *Token, key *Key) error {
	if !KeyAllows(key, t.Alg) {
		return ErrKeyAlgorithm
	}
	a := algorithms[t.Alg]
	if len(t.Signature) != signatureBytes(key) {
		return ErrSignatureSize
	}
	var valid bool
	switch k := key.Public.(type) {
	case *rsa.PublicKey:
		digest := digestOf(a.hash, t.SigningInput)
		if a.family == "PS" {
			valid = rsa.VerifyPSS(k, a.hash, digest, t.Signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		} else {
			valid = rsa.VerifyPKCS1v15(k, a.hash, digest, t.Signature) == nil
		}
	case *ecdsa.PublicKey:
		// JWS carries R and S as two fixed-size big-endian halves, not ASN.1 (RFC 7518 §3.4).
		size := len(t.Signature) / 2
		r := new(big.Int).SetBytes(t.Signature[:size])
		s := new(big.Int).SetBytes(t.Signature[size:])
		valid = ecdsa.Verify(k, digestOf(a.hash, t.SigningInput), r, s)
	case ed25519.PublicKey:
		valid = ed25519.Verify(k, []byte(t.SigningInput), t.Signature)
	}
	if !valid {
		return ErrBadSignature
	}
	return nil
}

// signatureBytes is the size of every signature key makes: an RSA key's modulus, an EC key's
// two coordinates (RFC 7518 §3.4: R and S as fixed-size halves), an Ed25519 signature.
func signatureBytes(key *Key) int {
	switch k := key.Public.(type) {
	case *rsa.PublicKey:
		return k.Size()
	case *ecdsa.PublicKey:
		return 2 * ((k.Curve.Params().BitSize + 7) / 8)
	}
	return ed25519.SignatureSize
}

// Digest is the hash of input by alg's hash function (nil for EdDSA, which hashes itself).
func Digest(alg, input string) []byte {
	a, ok := algorithms[alg]
	if !ok || a.hash == 0 {
		return nil
	}
	return digestOf(a.hash, input)
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

// SameKey reports whether a and b are the same key for the same algorithms.
func SameKey(a, b *Key) bool {
	if a.Alg != b.Alg {
		return false
	}
	switch x := a.Public.(type) {
	case *rsa.PublicKey:
		y, ok := b.Public.(*rsa.PublicKey)
		return ok && x.E == y.E && x.N.Cmp(y.N) == 0
	case *ecdsa.PublicKey:
		y, ok := b.Public.(*ecdsa.PublicKey)
		return ok && x.Curve.Params().Name == y.Curve.Params().Name && x.X.Cmp(y.X) == 0 && x.Y.Cmp(y.Y) == 0
	case ed25519.PublicKey:
		y, ok := b.Public.(ed25519.PublicKey)
		return ok && x.Equal(y)
	}
	return false
}
