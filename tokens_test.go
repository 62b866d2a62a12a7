package withauth

// Tokens for tests: the fixtures (RSA keys in testdata/keys, where key-1 and key-2 are in
// jwks.json and rogue is in no key set; the claims of a Frontegg user token in testdata/claims),
// one signer for every algorithm, and the JWKs and key sets of test keys.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatalf("reading fixture %s: %v", name, err)
	}
	return data
}

func privateKey(t testing.TB, name string) *rsa.PrivateKey {
	t.Helper()
	block, _ := pem.Decode(readFixture(t, "keys/"+name+".key.pem"))
	if block == nil {
		t.Fatalf("fixture keys/%s.key.pem holds no PEM block", name)
	}
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("fixture keys/%s.key.pem: %v", name, err)
	}
	return key
}

// userClaims returns the fixture claims valid for an hour, with changes applied: a nil value
// removes the claim.
func userClaims(t testing.TB, changes map[string]interface{}) map[string]interface{} {
	t.Helper()
	var claims map[string]interface{}
	if err := json.Unmarshal(readFixture(t, "claims/frontegg-user.json"), &claims); err != nil {
		t.Fatalf("fixture claims/frontegg-user.json: %v", err)
	}
	now := time.Now().Unix()
	claims["iat"] = now
	claims["exp"] = now + 3600
	return changeClaims(claims, changes)
}

// changeClaims applies changes to claims: a nil value removes the claim.
func changeClaims(claims, changes map[string]interface{}) map[string]interface{} {
	for name, value := range changes {
		if value == nil {
			delete(claims, name)
		} else {
			claims[name] = value
		}
	}
	return claims
}

func segment(t testing.TB, value interface{}) string {
	t.Helper()
	data, err := json.Marshal(value)
	if err != nil {
		t.Fatalf("encoding %v: %v", value, err)
	}
	return base64.RawURLEncoding.EncodeToString(data)
}

// signRS256 makes a compact JWS of header and claims signed with key.
func signRS256(t testing.TB, key *rsa.PrivateKey, header, claims interface{}) string {
	t.Helper()
	input := segment(t, header) + "." + segment(t, claims)
	digest := sha256.Sum256([]byte(input))
	signature, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(signature)
}

func rs256Header(kid string) map[string]interface{} {
	return map[string]interface{}{"alg": "RS256", "typ": "JWT", "kid": kid}
}

// signRaw signs header and claims given as raw JSON text, so that a test controls every byte:
// duplicate member names, trailing data, odd spacing.
func signRaw(t testing.TB, key *rsa.PrivateKey, headerJSON, claimsJSON string) string {
	t.Helper()
	input := base64.RawURLEncoding.EncodeToString([]byte(headerJSON)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claimsJSON))
	return input + "." + rs256Signature(t, key, input)
}

// rs256Signature is the base64url RS256 signature of input.
func rs256Signature(t testing.TB, key *rsa.PrivateKey, input string) string {
	t.Helper()
	digest := sha256.Sum256([]byte(input))
	signature, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(signature)
}

// signWith makes a compact JWS of header and claims, by the algorithm header["alg"] names,
// with key: an *rsa.PrivateKey for RS* and PS*, an *ecdsa.PrivateKey for ES* (R and S as the
// fixed-size halves JWS wants) or an ed25519.PrivateKey for EdDSA.
func signWith(t testing.TB, key crypto.Signer, header map[string]interface{}, claims interface{}) string {
	t.Helper()
	input := segment(t, header) + "." + segment(t, claims)
	alg, _ := header["alg"].(string)
	hash := map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}[alg[len(alg)-3:]] // none for EdDSA
	var signature []byte
	var err error
	switch k := key.(type) {
	case *rsa.PrivateKey:
		digest := jose.Digest(alg, input)
		if strings.HasPrefix(alg, "PS") {
			signature, err = rsa.SignPSS(rand.Reader, k, hash, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			signature, err = rsa.SignPKCS1v15(rand.Reader, k, hash, digest)
		}
	case *ecdsa.PrivateKey:
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k, jose.Digest(alg, input))
		if err == nil {
			size := (k.Curve.Params().BitSize + 7) / 8
			signature = make([]byte, 2*size)
			r.FillBytes(signature[:size])
			s.FillBytes(signature[size:])
		}
	case ed25519.PrivateKey:
		signature = ed25519.Sign(k, []byte(input))
	default:
		t.Fatalf("signWith: unsupported key %T", key)
	}
	if err != nil {
		t.Fatalf("signing %s: %v", alg, err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(signature)
}

// testKeys are one key of each kind the algorithms need, made once per test binary: key-1 for
// RSA, fresh EC and Ed25519 keys.
type testKeys struct {
	rsa              *rsa.PrivateKey
	p256, p384, p521 *ecdsa.PrivateKey
	ed25519          ed25519.PrivateKey
}

// sharedTestKeys are made once, by the first test that asks (tests run in parallel).
var sharedTestKeys struct {
	sync.Mutex
	keys *testKeys
}

func algorithmKeys(t testing.TB) *testKeys {
	t.Helper()
	sharedTestKeys.Lock()
	defer sharedTestKeys.Unlock()
	if sharedTestKeys.keys != nil {
		return sharedTestKeys.keys
	}
	k := &testKeys{rsa: privateKey(t, "key-1")}
	// One assignment at a time: Yaegi v0.16.1 drops values of tuple assignments to fields.
	k.p256 = ecKey(t, elliptic.P256())
	k.p384 = ecKey(t, elliptic.P384())
	k.p521 = ecKey(t, elliptic.P521())
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k.ed25519 = edKey
	sharedTestKeys.keys = k
	return k
}

func ecKey(t testing.TB, curve elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// forAlgorithm is the key of testKeys that signs alg.
func (k *testKeys) forAlgorithm(alg string) crypto.Signer {
	switch alg {
	case "ES256":
		return k.p256
	case "ES384":
		return k.p384
	case "ES512":
		return k.p521
	case "EdDSA":
		return k.ed25519
	}
	return k.rsa
}

// publicJWK is the JWK of a public key (RSA, EC or Ed25519) named kid, with alg ("" for none).
func publicJWK(t testing.TB, key crypto.PublicKey, kid, alg string) map[string]interface{} {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	jwk := map[string]interface{}{"kid": kid, "use": "sig"}
	switch k := key.(type) {
	case *rsa.PublicKey:
		jwk["kty"] = "RSA"
		jwk["n"] = b64(k.N.Bytes())
		jwk["e"] = b64(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		x := make([]byte, size)
		y := make([]byte, size)
		k.X.FillBytes(x)
		k.Y.FillBytes(y)
		jwk["kty"] = "EC"
		jwk["crv"] = k.Curve.Params().Name
		jwk["x"] = b64(x)
		jwk["y"] = b64(y)
	case ed25519.PublicKey:
		jwk["kty"] = "OKP"
		jwk["crv"] = "Ed25519"
		jwk["x"] = b64(k)
	default:
		t.Fatalf("publicJWK: unsupported key %T", key)
	}
	if alg != "" {
		jwk["alg"] = alg
	}
	return jwk
}

// hmacSigned is a token whose header names alg (HS256, HS384 or HS512) and whose signature is
// an HMAC keyed with secret: the key-confusion forgery.
func hmacSigned(t testing.TB, alg, kid string, secret []byte) string {
	t.Helper()
	input := segment(t, map[string]string{"alg": alg, "typ": "JWT", "kid": kid}) + "." + segment(t, userClaims(t, nil))
	var newHash func() hash.Hash
	switch alg {
	case "HS384":
		newHash = sha512.New384
	case "HS512":
		newHash = sha512.New
	default:
		newHash = sha256.New
	}
	mac := hmac.New(newHash, secret)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// claimsText is userClaims as JSON text.
func claimsText(t testing.TB, changes map[string]interface{}) string {
	t.Helper()
	data, err := json.Marshal(userClaims(t, changes))
	if err != nil {
		t.Fatalf("encoding claims: %v", err)
	}
	return string(data)
}

// prependMembers inserts raw `"name":value` members at the start of a JSON object's text;
// appendMembers at its end, where a duplicate name wins.
func prependMembers(object, members string) string {
	return "{" + members + "," + strings.TrimPrefix(object, "{")
}

func appendMembers(object, members string) string {
	return strings.TrimSuffix(object, "}") + "," + members + "}"
}

// jwkOf is the JWK of an RSA public key.
func jwkOf(key *rsa.PublicKey, kid string) map[string]interface{} {
	return map[string]interface{}{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}
}

// jwksOf is the text of a JWKS holding keys.
func jwksOf(t testing.TB, keys ...map[string]interface{}) []byte {
	t.Helper()
	data, err := json.Marshal(map[string]interface{}{"keys": keys})
	if err != nil {
		t.Fatalf("encoding JWKS: %v", err)
	}
	return data
}

func validToken(t testing.TB) string {
	return signRS256(t, privateKey(t, "key-1"), rs256Header("key-1"), userClaims(t, nil))
}

func tokenWith(changes map[string]interface{}) func(t testing.TB) string {
	return func(t testing.TB) string {
		return signRS256(t, privateKey(t, "key-1"), rs256Header("key-1"), userClaims(t, changes))
	}
}

func literal(token string) func(t testing.TB) string {
	return func(t testing.TB) string { return token }
}

func tamperedPayload(t testing.TB) string {
	parts := strings.Split(validToken(t), ".")
	parts[1] = segment(t, userClaims(t, map[string]interface{}{"roles": []string{"admin", "owner"}}))
	return strings.Join(parts, ".")
}
