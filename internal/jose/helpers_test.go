package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"sync"
	"testing"
)

// The keys every test of the package shares, made once: RSA-2048, EC on each curve, Ed25519.
type testKeys struct {
	rsa              *rsa.PrivateKey
	p256, p384, p521 *ecdsa.PrivateKey
	ed25519          ed25519.PrivateKey
}

// sharedKeys are made once, by the first test that asks (tests run in parallel).
var sharedKeys struct {
	sync.Mutex
	keys *testKeys
}

func keys(t testing.TB) *testKeys {
	t.Helper()
	sharedKeys.Lock()
	defer sharedKeys.Unlock()
	if sharedKeys.keys != nil {
		return sharedKeys.keys
	}
	k := &testKeys{}
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	// One assignment at a time: Yaegi v0.16.1 drops values of tuple assignments to fields.
	k.p256 = ecKey(t, elliptic.P256())
	k.p384 = ecKey(t, elliptic.P384())
	k.p521 = ecKey(t, elliptic.P521())
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k.ed25519 = edKey
	sharedKeys.keys = k
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

// signerOf is the key of k that signs alg.
func (k *testKeys) signerOf(alg string) crypto.Signer {
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

func segment(t testing.TB, value interface{}) string {
	t.Helper()
	data, err := json.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(data)
}

// sign makes a compact JWS of header and claims signed by key with the algorithm header names.
func sign(t testing.TB, key crypto.Signer, header map[string]interface{}, claims interface{}) string {
	t.Helper()
	input := segment(t, header) + "." + segment(t, claims)
	alg, _ := header["alg"].(string)
	a := algorithms[alg]
	var signature []byte
	var err error
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if a.family == "PS" {
			signature, err = rsa.SignPSS(rand.Reader, k, a.hash, digestOf(a.hash, input), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			signature, err = rsa.SignPKCS1v15(rand.Reader, k, a.hash, digestOf(a.hash, input))
		}
	case *ecdsa.PrivateKey:
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k, digestOf(a.hash, input))
		if err == nil {
			size := (k.Curve.Params().BitSize + 7) / 8
			signature = make([]byte, 2*size)
			r.FillBytes(signature[:size])
			s.FillBytes(signature[size:])
		}
	case ed25519.PrivateKey:
		signature = ed25519.Sign(k, []byte(input))
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(signature)
}

// publicJWK is the JWK of a public key (RSA, EC or Ed25519).
func publicJWK(key crypto.PublicKey) JWK {
	b64 := base64.RawURLEncoding.EncodeToString
	switch k := key.(type) {
	case *rsa.PublicKey:
		return JWK{Kty: "RSA", N: b64(k.N.Bytes()), E: b64(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		x := make([]byte, size)
		y := make([]byte, size)
		k.X.FillBytes(x)
		k.Y.FillBytes(y)
		return JWK{Kty: "EC", Crv: k.Curve.Params().Name, X: b64(x), Y: b64(y)}
	case ed25519.PublicKey:
		return JWK{Kty: "OKP", Crv: "Ed25519", X: b64(k)}
	}
	return JWK{}
}

// allAlgorithms are the algorithms withauth verifies, in a fixed order.
var allAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

func acceptAll() map[string]bool {
	accepted := map[string]bool{}
	for _, alg := range allAlgorithms {
		accepted[alg] = true
	}
	return accepted
}
