package jose

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
)

// pemOf is a key in PEM: a private key as PKCS #8, a public key as PKIX.
func pemOf(t *testing.T, key interface{}) string {
	t.Helper()
	var der []byte
	var err error
	kind := "PRIVATE KEY"
	switch key.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey:
		kind = "PUBLIC KEY"
		der, err = x509.MarshalPKIXPublicKey(key)
	default:
		der, err = x509.MarshalPKCS8PrivateKey(key)
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}))
}

// TestSignerSignsWhatVerifies: a JWS signed with a P-256 or an Ed25519 key verifies with the
// published JWK, whose kid is its thumbprint and which has no private member.
func TestSignerSignsWhatVerifies(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(p256)
	for name, text := range map[string]string{
		"P-256, PKCS #8": pemOf(t, p256),
		"P-256, SEC 1":   string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})),
		"Ed25519":        pemOf(t, ed),
	} {
		signer, err := ParseSigningKeyPEM(text)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		jws, err := Sign(signer, []byte(`{"sub":"alice"}`))
		if err != nil {
			t.Fatalf("%s: Sign: %v", name, err)
		}
		token, err := Parse(jws, map[string]bool{signer.Alg: true}, nil)
		if err != nil || token.Kid != signer.JWK.Kid {
			t.Fatalf("%s: Parse(the signed JWS) = %+v, %v; want its kid %q", name, token, err, signer.JWK.Kid)
		}
		key, err := KeyFromJWK(signer.JWK)
		if err != nil || Verify(token, key) != nil {
			t.Errorf("%s: the JWS does not verify with the published key (%v)", name, err)
		}
		if kid, _ := Thumbprint(signer.JWK); kid != signer.JWK.Kid {
			t.Errorf("%s: kid %q; want the thumbprint %q", name, signer.JWK.Kid, kid)
		}
		public, err := PublishedJWK(pemOf(t, key.Public))
		if err != nil || public != signer.JWK {
			t.Errorf("%s: the public key's published JWK %+v, %v; want the private key's %+v", name, public, err, signer.JWK)
		}
	}
	set := PublicJWKS([]JWK{mustSigner(t, pemOf(t, p256)).JWK})
	var members map[string][]map[string]interface{}
	if err := json.Unmarshal(set, &members); err != nil || len(members["keys"]) != 1 {
		t.Fatalf("PublicJWKS: %s, %v", set, err)
	}
	for _, private := range privateMembers {
		if _, present := members["keys"][0][private]; present {
			t.Errorf("the published JWKS %s holds the private member %q", set, private)
		}
	}
}

func mustSigner(t *testing.T, text string) *Signer {
	t.Helper()
	s, err := ParseSigningKeyPEM(text)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSigningKeysRefused: what is not an EC P-256 or an Ed25519 private key is refused, saying
// what it is.
func TestSigningKeysRefused(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	for text, want := range map[string]string{
		"not a key":      "no PEM block found",
		pemOf(t, p384):   "the EC key is on P-384; P-256 (ES256) is accepted",
		pemOf(t, rsaKey): "the key is a *rsa.PrivateKey; give an EC P-256 or an Ed25519 private key",
		pemOf(t, ed):     `PEM block of type "PUBLIC KEY", expected PRIVATE KEY`,
	} {
		if _, err := ParseSigningKeyPEM(text); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSigningKeyPEM(%.30q…): %v; want %q", text, err, want)
		}
	}
}
