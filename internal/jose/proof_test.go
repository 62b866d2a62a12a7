package jose

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// rfc9449 is RFC 9449 §7.1's request: its opaque token and its proof (the plugin's fixtures).
func rfc9449(t testing.TB) (token, proof string) {
	read := func(name string) string {
		data, err := os.ReadFile("../../testdata/rfc9449/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	return read("access-token"), read("proof")
}

// TestRFC9449Proof: the RFC's proof's key has the RFC's thumbprint, and the proof is judged
// valid for the RFC's request at its iat; each of its parts changed is refused by name.
func TestRFC9449Proof(t *testing.T) {
	t.Parallel()
	token, proof := rfc9449(t)
	key, err := ParseProofHeader(ProofHeaderPart(proof))
	if err != nil || key.Thumbprint != "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" || key.Alg != "ES256" {
		t.Fatalf("the RFC's proof header: %+v, %v; want ES256 and the RFC's thumbprint", key, err)
	}
	want := &ProofRequest{Algorithms: map[string]bool{"ES256": true}, Method: "GET", Token: token, NowSeconds: 1562262618, MaxAgeSeconds: 60}
	claims, err := CheckProof(proof, key, key.Thumbprint, want)
	if err != nil || claims.Htu != "https://resource.example.org/protectedresource" || claims.Jti != "e1j3V_bKic8-LAEB" {
		t.Fatalf("the RFC's proof for its request: %+v, %v; want accepted", claims, err)
	}
	for _, tc := range []struct {
		name   string
		change func(r *ProofRequest) (string, string)
		want   error
	}{
		{"another key's token", func(r *ProofRequest) (string, string) { return proof, "another-thumbprint" }, ErrProofKey},
		{"ES256 not accepted", func(r *ProofRequest) (string, string) {
			r.Algorithms = map[string]bool{"EdDSA": true}
			return proof, key.Thumbprint
		}, ErrProofInvalid},
		{"POST", func(r *ProofRequest) (string, string) { r.Method = "POST"; return proof, key.Thumbprint }, ErrProofMethod},
		{"another token", func(r *ProofRequest) (string, string) { r.Token = "other"; return proof, key.Thumbprint }, ErrProofTokenHash},
		{"61 s later", func(r *ProofRequest) (string, string) { r.NowSeconds += 61; return proof, key.Thumbprint }, ErrProofStale},
		{"6 s earlier", func(r *ProofRequest) (string, string) { r.NowSeconds -= 6; return proof, key.Thumbprint }, ErrProofStale},
		{"a changed signature", func(r *ProofRequest) (string, string) { return proof[:len(proof)-2] + "AA", key.Thumbprint }, ErrProofSignature},
		{"a newline in the signature", func(r *ProofRequest) (string, string) {
			return proof[:len(proof)-8] + "\n" + proof[len(proof)-8:], key.Thumbprint
		}, ErrProofSignature},
	} {
		request := *want
		changed, jkt := tc.change(&request)
		if _, err := CheckProof(changed, key, jkt, &request); err != tc.want {
			t.Errorf("%s: %v; want %v", tc.name, err, tc.want)
		}
	}
}

// TestProofKeys: proof keys are RSA of 2048 to 4096 bits with e = 65537, EC on P-256, P-384 or
// P-521, or Ed25519, public, allowing the header's alg (S4-7: a client must not choose a key that
// makes its proofs costly).
func TestProofKeys(t *testing.T) {
	t.Parallel()
	rsaJWK := func(bits int, exponent []byte) map[string]interface{} {
		modulus := make([]byte, bits/8)
		if _, err := rand.Read(modulus); err != nil {
			t.Fatal(err)
		}
		modulus[0] |= 0x80
		modulus[len(modulus)-1] |= 1
		return map[string]interface{}{"kty": "RSA", "n": base64.RawURLEncoding.EncodeToString(modulus), "e": base64.RawURLEncoding.EncodeToString(exponent)}
	}
	header := func(alg string, jwk interface{}, extra ...string) string {
		h := map[string]interface{}{"typ": "dpop+jwt", "alg": alg, "jwk": jwk}
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i]] = extra[i+1]
		}
		return segment(t, h)
	}
	k := keys(t)
	jwkOf := func(j JWK) map[string]interface{} { return jwkMap(j, "", "", "") }
	for _, tc := range []struct {
		name   string
		header string
		want   bool
	}{
		{"RSA-2048, e 65537", header("RS256", rsaJWK(2048, []byte{1, 0, 1})), true},
		{"RSA-4096, e 65537", header("PS256", rsaJWK(4096, []byte{1, 0, 1})), true},
		{"RSA-4104, e 65537", header("RS256", rsaJWK(4104, []byte{1, 0, 1})), false},
		{"RSA-16384, e 2^31-1", header("RS256", rsaJWK(16384, []byte{0x7f, 0xff, 0xff, 0xff})), false},
		{"RSA-2048, e 3", header("RS256", rsaJWK(2048, []byte{3})), false},
		{"RSA-1024, e 65537", header("RS256", rsaJWK(1024, []byte{1, 0, 1})), false},
		{"EC P-256", header("ES256", jwkOf(publicJWK(k.p256.Public()))), true},
		{"EC P-521", header("ES512", jwkOf(publicJWK(k.p521.Public()))), true},
		{"Ed25519", header("EdDSA", jwkOf(publicJWK(k.ed25519.Public()))), true},
		{"EC P-256 named for ES384", header("ES384", jwkOf(publicJWK(k.p256.Public()))), false},
		{"a private member", header("ES256", withMember(jwkOf(publicJWK(k.p256.Public())), "d", "AA")), false},
		{"typ JWT", header("ES256", jwkOf(publicJWK(k.p256.Public())), "typ", "JWT"), false},
		{"alg none", header("none", jwkOf(publicJWK(k.p256.Public()))), false},
		{"no jwk", segment(t, map[string]string{"typ": "dpop+jwt", "alg": "ES256"}), false},
	} {
		if _, err := ParseProofHeader(tc.header); (err == nil) != tc.want {
			t.Errorf("%s: %v; want accepted %v", tc.name, err, tc.want)
		}
	}
}

func withMember(object map[string]interface{}, name string, value interface{}) map[string]interface{} {
	copied := map[string]interface{}{name: value}
	for key, v := range object {
		copied[key] = v
	}
	return copied
}

// FuzzParseProofHeader: reading any header is bounded and total: a key only with a thumbprint
// of RFC 7638's size and an algorithm the key allows, else ErrProofInvalid.
func FuzzParseProofHeader(f *testing.F) {
	_, proof := rfc9449(f)
	f.Add(ProofHeaderPart(proof))
	f.Add(segment(f, map[string]string{"typ": "dpop+jwt", "alg": "none"}))
	f.Fuzz(func(t *testing.T, encoded string) {
		key, err := ParseProofHeader(encoded)
		if err != nil {
			if err != ErrProofInvalid || key != nil {
				t.Fatalf("ParseProofHeader(%q) = %v, %v; want nil, ErrProofInvalid", encoded, key, err)
			}
			return
		}
		if len(key.Thumbprint) != 43 || !KeyAllows(key.Key, key.Alg) || strings.ContainsAny(key.Thumbprint, "+/=") {
			t.Fatalf("ParseProofHeader(%q) = %+v", encoded, key)
		}
		text, _ := json.Marshal(key.Alg)
		if len(text) < 3 {
			t.Fatalf("ParseProofHeader(%q): an empty alg accepted", encoded)
		}
	})
}
