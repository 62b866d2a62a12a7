package jose

// JSON Web Keys and key sets (RFC 7517), and PEM public keys: the keys withauth verifies with.

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

const (
	// minRSABits refuses keys too short to be safe; maxRSABits keys that would make every
	// verification needlessly slow.
	minRSABits = 2048
	maxRSABits = 16384
)

// KeySet is an immutable set of usable keys.
type KeySet struct {
	ByKid map[string]*Key
	// Single verifies a token whatever kid it names: a configured PEM key, Frontegg's key, or
	// the only key of a JWKS for tokens that name no kid.
	Single *Key
	// SingleForAnyKid tells whether Single applies to every kid or only to tokens without one.
	SingleForAnyKid bool
}

// FindKey is the key of s that verifies a token naming kid, nil when there is none.
func FindKey(s *KeySet, kid string) *Key {
	if s.Single != nil && (s.SingleForAnyKid || kid == "") {
		return s.Single
	}
	return s.ByKid[kid]
}

// SingleKeySet is the set of one key that verifies every token, whatever kid it names.
func SingleKeySet(key *Key) *KeySet {
	return &KeySet{Single: key, SingleForAnyKid: true}
}

// JWK is the members of a JSON Web Key withauth reads.
type JWK struct {
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// privateMembers are the JWK members that only a private (or symmetric) key has.
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "k"}

// ParseJWKS keeps the signing keys withauth can use (RSA of 2048 to 16384 bits, EC on P-256,
// P-384 or P-521, Ed25519; with no alg or a supported one their type allows) and skips the
// rest; a set with no usable key is an error, as is a discovery document given as a JWKS.
func ParseJWKS(body []byte) (*KeySet, error) {
	var doc struct {
		Keys    []JWK  `json:"keys"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("invalid JWKS: %v", err)
	}
	if doc.Keys == nil && doc.JWKSURI != "" {
		return nil, fmt.Errorf("this is an OpenID discovery document, not a JWKS: set jwksUrl to its jwks_uri (%s), or set only issuer", doc.JWKSURI)
	}
	set := &KeySet{ByKid: make(map[string]*Key)}
	for _, k := range doc.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		key, err := KeyFromJWK(k)
		if err != nil || k.Alg != "" && !KeyAllows(key, k.Alg) {
			continue
		}
		if _, seen := set.ByKid[k.Kid]; !seen {
			set.ByKid[k.Kid] = key
		}
	}
	if len(set.ByKid) == 0 {
		return nil, errors.New("the JWKS holds no usable signing key (RSA of at least 2048 bits, EC on P-256, P-384 or P-521, or Ed25519)")
	}
	if len(set.ByKid) == 1 {
		for _, key := range set.ByKid {
			set.Single = key
		}
	}
	return set, nil
}

// ParseInlineJWKS reads a key set given in a configuration: a fetched set's rules, and no
// private key, which a configuration must never hold.
func ParseInlineJWKS(text string) (*KeySet, error) {
	var doc struct {
		Keys []map[string]interface{} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil || doc.Keys == nil {
		return nil, fmt.Errorf("is not a JSON Web Key Set ({\"keys\": [...]}); give the set your identity provider publishes")
	}
	for i, key := range doc.Keys {
		for _, private := range privateMembers {
			if _, found := key[private]; found {
				return nil, fmt.Errorf("keys[%d] holds the private member %q: give the public key set only, and replace a private key that was shared", i, private)
			}
		}
	}
	set, err := ParseJWKS([]byte(text))
	if err != nil {
		return nil, fmt.Errorf("%v; give the public keys that sign your tokens", err)
	}
	return set, nil
}

// KeyFromJWK decodes an RSA, EC or OKP (Ed25519) JWK.
func KeyFromJWK(k JWK) (*Key, error) {
	switch k.Kty {
	case "RSA":
		key, err := rsaKeyFromJWK(k.N, k.E)
		if err != nil {
			return nil, err
		}
		return &Key{Public: key, Alg: k.Alg}, nil
	case "EC":
		curve, ok := jwkCurves[k.Crv]
		if !ok {
			return nil, errors.New("unsupported EC curve")
		}
		size := (curve.Params().BitSize + 7) / 8
		x, errX := decodeJWKField(k.X)
		y, errY := decodeJWKField(k.Y)
		if errX != nil || errY != nil || len(x) != size || len(y) != size {
			return nil, errors.New("invalid EC point")
		}
		key := &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		// crypto/ecdh checks points too, but yields no *ecdsa.PublicKey to verify with, and
		// ecdsa.ParseUncompressedPublicKey (Go 1.25) is beyond Yaegi v0.16.1's symbols.
		//lint:ignore SA1019 the on-curve check guards against invalid-curve points
		if !curve.IsOnCurve(key.X, key.Y) {
			return nil, errors.New("the EC point is not on its curve")
		}
		return &Key{Public: key, Alg: k.Alg}, nil
	case "OKP":
		x, err := decodeJWKField(k.X)
		if err != nil || k.Crv != "Ed25519" || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("not an Ed25519 key")
		}
		return &Key{Public: ed25519.PublicKey(x), Alg: k.Alg}, nil
	}
	return nil, errors.New("unsupported key type")
}

// jwkCurves are the curves of the ES algorithms, by their JWK crv name.
var jwkCurves = map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}

// decodeJWKField decodes a base64url JWK member, tolerating the padding some providers add.
func decodeJWKField(value string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(value, "="))
}

func rsaKeyFromJWK(n, e string) (*rsa.PublicKey, error) {
	modulus, err := decodeJWKField(n)
	if err != nil {
		return nil, err
	}
	exponent, err := decodeJWKField(e)
	if err != nil {
		return nil, err
	}
	if len(exponent) == 0 || len(exponent) > 4 {
		return nil, errors.New("unsupported RSA exponent")
	}
	var exp int64
	for _, b := range exponent {
		exp = exp<<8 | int64(b)
	}
	return checkRSAKey(&rsa.PublicKey{N: new(big.Int).SetBytes(modulus), E: int(exp)})
}

func checkRSAKey(key *rsa.PublicKey) (*rsa.PublicKey, error) {
	if bits := key.N.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("the RSA key has %d bits; %d to %d are accepted", bits, minRSABits, maxRSABits)
	}
	if key.E < 3 || key.E%2 == 0 || int64(key.E) > 1<<31-1 {
		return nil, errors.New("the RSA key has an invalid public exponent")
	}
	return key, nil
}

// ParsePublicKeyPEM reads a public key in PEM: "PUBLIC KEY" (RSA, EC on P-256, P-384 or P-521,
// Ed25519) or "RSA PUBLIC KEY". Escaped newlines are accepted, since labels and environment
// variables rarely hold real ones.
func ParsePublicKeyPEM(text string) (*Key, error) {
	text = strings.ReplaceAll(strings.TrimSpace(text), `\n`, "\n")
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch block.Type {
	case "RSA PUBLIC KEY":
		key, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		if key, err = checkRSAKey(key); err != nil {
			return nil, err
		}
		return &Key{Public: key}, nil
	case "PUBLIC KEY":
		parsed, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		switch key := parsed.(type) {
		case *rsa.PublicKey:
			if key, err = checkRSAKey(key); err != nil {
				return nil, err
			}
			return &Key{Public: key}, nil
		case *ecdsa.PublicKey:
			if _, ok := jwkCurves[key.Curve.Params().Name]; !ok {
				return nil, fmt.Errorf("the EC key is on %s; P-256, P-384 and P-521 are accepted", key.Curve.Params().Name)
			}
			return &Key{Public: key}, nil
		case ed25519.PublicKey:
			return &Key{Public: key}, nil
		default:
			return nil, fmt.Errorf("the key is a %T, not an RSA, EC or Ed25519 key", key)
		}
	}
	return nil, fmt.Errorf("PEM block of type %q, expected PUBLIC KEY", block.Type)
}

// Thumbprint is RFC 7638's thumbprint of a key: SHA-256 over the required members of its type, in
// lexicographic order, as JSON without white space; base64url.
func Thumbprint(k JWK) (string, error) {
	var members []string
	switch k.Kty {
	case "RSA":
		members = []string{"e", k.E, "kty", k.Kty, "n", k.N}
	case "EC":
		members = []string{"crv", k.Crv, "kty", k.Kty, "x", k.X, "y", k.Y}
	case "OKP":
		members = []string{"crv", k.Crv, "kty", k.Kty, "x", k.X}
	default:
		return "", errNoThumbprint
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
	return base64.RawURLEncoding.EncodeToString(sha256Sum([]byte(b.String()))), nil
}

// errNoThumbprint is Thumbprint's answer for a key type without one.
var errNoThumbprint = errors.New("no thumbprint for this key type")

func sha256Sum(data []byte) []byte {
	sum := sha256.Sum256(data)
	return sum[:]
}
