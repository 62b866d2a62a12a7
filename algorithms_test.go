package withauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"testing"

	"github.com/seed0ec25cca/withauth/internal/jose"
)

var allAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// algorithmsServer serves a JWKS holding one key per algorithm, kid = the algorithm's name,
// each JWK naming its alg.
func algorithmsServer(t *testing.T) (*keyServer, *testKeys) {
	keys := algorithmKeys(t)
	var jwks []map[string]interface{}
	for _, alg := range allAlgorithms {
		jwks = append(jwks, publicJWK(t, keys.forAlgorithm(alg).Public(), alg, alg))
	}
	server := newKeyServer(t)
	server.set(http.StatusOK, jwksOf(t, jwks...))
	return server, keys
}

func algHeader(alg, kid string) map[string]interface{} {
	return map[string]interface{}{"alg": alg, "typ": "JWT", "kid": kid}
}

// TestEveryAlgorithmVerifies: each supported algorithm, with a key of its type, from a JWKS.
func TestEveryAlgorithmVerifies(t *testing.T) {
	server, keys := algorithmsServer(t)
	config := jwksConfig(t, server)
	config.Algorithms = allAlgorithms
	handler := newHandler(t, config, &upstream{})
	for _, alg := range allAlgorithms {
		token := signWith(t, keys.forAlgorithm(alg), algHeader(alg, alg), userClaims(t, nil))
		if rec, _ := serve(handler, request(token)); rec.Code != http.StatusOK {
			t.Errorf("%s token from the JWKS: status %d (%s); want 200", alg, rec.Code, errorDescription(rec))
		}
	}
}

// TestAlgorithmsAreRefusedOutsideTheirKeys: the list, the key type, the curve and the JWK's alg
// each bound what a key verifies, and ECDSA signatures are JWS's R‖S, never ASN.1.
func TestAlgorithmsAreRefusedOutsideTheirKeys(t *testing.T) {
	server, keys := algorithmsServer(t)
	claims := userClaims(t, nil)
	asn1ES256 := func(t testing.TB) string {
		input := segment(t, algHeader("ES256", "ES256")) + "." + segment(t, claims)
		r, s, err := ecdsa.Sign(rand.Reader, keys.p256, jose.Digest("ES256", input))
		if err != nil {
			t.Fatal(err)
		}
		der, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + base64.RawURLEncoding.EncodeToString(der)
	}
	signed := func(alg, kid string) func(testing.TB) string {
		return func(t testing.TB) string { return signWith(t, keys.forAlgorithm(alg), algHeader(alg, kid), claims) }
	}
	all := func(c *Config) { c.Algorithms = allAlgorithms }
	runTokenCases(t, func(t testing.TB) *Config { return jwksConfig(t, server) }, []tokenCase{
		{name: "an algorithm outside the default RS256", token: signed("ES256", "ES256"), wantStatus: 401, wantError: "invalid_token", wantErr: errAlgorithm},
		{name: "an algorithm outside the list", config: func(c *Config) { c.Algorithms = []string{"RS256", "ES384"} }, token: signed("EdDSA", "EdDSA"), wantStatus: 401, wantError: "invalid_token", wantErr: errAlgorithm},
		{name: "ES256 naming an RSA key", config: all, token: signed("ES256", "RS256"), wantStatus: 401, wantError: "invalid_token", wantErr: errKeyAlgorithm},
		{name: "PS256 naming the RS256 JWK (its alg is RS256)", config: all, token: signed("PS256", "RS256"), wantStatus: 401, wantError: "invalid_token", wantErr: errKeyAlgorithm},
		{name: "EdDSA naming an EC key", config: all, token: signed("EdDSA", "ES256"), wantStatus: 401, wantError: "invalid_token", wantErr: errKeyAlgorithm},
		{name: "ES256 with an ASN.1 signature", config: all, token: asn1ES256, wantStatus: 401, wantError: "invalid_token", wantErr: errSignatureSize},
		{name: "RS512 header over an RS256 signature", config: all, token: func(t testing.TB) string {
			token := signWith(t, keys.rsa, algHeader("RS256", "RS512"), claims)
			parts := strings.Split(token, ".")
			return segment(t, algHeader("RS512", "RS512")) + "." + parts[1] + "." + parts[2]
		}, wantStatus: 401, wantError: "invalid_token", wantErr: errBadSignature},
	})
	// A P-256 key never verifies ES384, whatever the header says.
	p256 := &jose.Key{Public: &keys.p256.PublicKey}
	if jose.KeyAllows(p256, "ES384") || !jose.KeyAllows(p256, "ES256") || jose.KeyAllows(&jose.Key{Public: keys.ed25519.Public()}, "ES256") {
		t.Errorf("keyAllows: a P-256 key must allow ES256 only, an Ed25519 key EdDSA only")
	}
}

// TestAlgorithmsConfiguration: none, HMAC and unknown names are refused at load.
func TestAlgorithmsConfiguration(t *testing.T) {
	for _, tc := range []struct {
		algorithms []string
		want       string
	}{
		{[]string{"HS256"}, `algorithms: "HS256" is not supported`},
		{[]string{"none"}, `algorithms: "none" is not supported`},
		{[]string{"RS256", "ES256K"}, `algorithms: "ES256K" is not supported`},
		{[]string{}, "algorithms: is set but empty"},
		{[]string{"RS256,,ES256"}, "algorithms: \"RS256,,ES256\" has an empty item"},
	} {
		config := pemConfig(t)
		config.Algorithms = tc.algorithms
		if got := newError(t, config); !strings.Contains(got, tc.want) {
			t.Errorf("algorithms %q: New error %q; want it to contain %q", tc.algorithms, got, tc.want)
		}
	}
	config := pemConfig(t)
	config.Algorithms = []string{"RS256, PS256"} // as a label gives a list
	if _, err := build(testProcess(t), &upstream{}, config, "route"); err != nil {
		t.Fatalf("algorithms \"RS256, PS256\": %v; want it accepted", err)
	}
}

// TestPublicKeyOfEveryType: publicKey may be an RSA, EC or Ed25519 PEM key.
func TestPublicKeyOfEveryType(t *testing.T) {
	keys := algorithmKeys(t)
	for _, alg := range []string{"PS384", "ES512", "EdDSA"} {
		der, err := x509.MarshalPKIXPublicKey(keys.forAlgorithm(alg).Public())
		if err != nil {
			t.Fatal(err)
		}
		config := CreateConfig()
		config.PublicKey = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		config.Algorithms = []string{alg}
		token := signWith(t, keys.forAlgorithm(alg), algHeader(alg, "any"), userClaims(t, nil))
		if rec, _ := serve(newHandler(t, config, &upstream{}), request(token)); rec.Code != http.StatusOK {
			t.Errorf("%s token, PEM key: status %d (%s); want 200", alg, rec.Code, errorDescription(rec))
		}
	}
	if _, ok := keys.ed25519.Public().(ed25519.PublicKey); !ok {
		t.Fatalf("the test Ed25519 key is not an ed25519.PublicKey")
	}
}
