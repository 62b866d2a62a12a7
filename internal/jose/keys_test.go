package jose

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
)

// TestThumbprint: RFC 7638 §3.1's example key and thumbprint.
func TestThumbprint(t *testing.T) {
	t.Parallel()
	k := JWK{Kty: "RSA", E: "AQAB", Alg: "RS256", Kid: "2011-04-29",
		N: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}
	if got, err := Thumbprint(k); err != nil || got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("thumbprint %q (%v); want RFC 7638's NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", got, err)
	}
	if _, err := Thumbprint(JWK{Kty: "oct"}); err == nil {
		t.Error("a thumbprint of a symmetric key; want none")
	}
}

func jwksText(t testing.TB, keys ...map[string]interface{}) []byte {
	text, err := json.Marshal(map[string]interface{}{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func jwkMap(k JWK, kid, alg, use string) map[string]interface{} {
	m := map[string]interface{}{"kty": k.Kty, "kid": kid}
	for name, value := range map[string]string{"n": k.N, "e": k.E, "crv": k.Crv, "x": k.X, "y": k.Y, "alg": alg, "use": use} {
		if value != "" {
			m[name] = value
		}
	}
	return m
}

// TestParseJWKS: usable signing keys are kept by kid, the rest skipped; a set of none, and a
// discovery document, are refused; a lone key also verifies tokens without kid.
func TestParseJWKS(t *testing.T) {
	t.Parallel()
	k := keys(t)
	rsaJWK, ecJWK := publicJWK(&k.rsa.PublicKey), publicJWK(k.p256.Public())
	set, err := ParseJWKS(jwksText(t, jwkMap(rsaJWK, "r", "RS256", "sig"), jwkMap(ecJWK, "e", "", ""), jwkMap(ecJWK, "enc", "", "enc"),
		jwkMap(ecJWK, "mismatched", "RS256", ""), map[string]interface{}{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}))
	if err != nil || len(set.ByKid) != 2 || FindKey(set, "r") == nil || FindKey(set, "e") == nil || set.Single != nil {
		t.Fatalf("a set of five, two usable: %+v, %v; want the RSA and the EC signing keys", set, err)
	}
	lone, err := ParseJWKS(jwksText(t, jwkMap(ecJWK, "only", "", "")))
	if err != nil || FindKey(lone, "") == nil || FindKey(lone, "other") != nil {
		t.Fatalf("a set of one: %+v, %v; want its key for tokens without kid, and only for them otherwise", lone, err)
	}
	for name, body := range map[string]string{
		"no usable key":         string(jwksText(t, map[string]interface{}{"kty": "oct", "k": "c2VjcmV0"})),
		"a discovery doc":       `{"issuer":"https://idp","jwks_uri":"https://idp/jwks"}`,
		"not JSON":              `<html>`,
		"RSA of 1024 bits":      string(jwksText(t, map[string]interface{}{"kty": "RSA", "n": base64.RawURLEncoding.EncodeToString(make([]byte, 128)), "e": "AQAB"})),
		"a point off its curve": string(jwksText(t, map[string]interface{}{"kty": "EC", "crv": "P-256", "x": ecJWK.X, "y": ecJWK.X})),
	} {
		if _, err := ParseJWKS([]byte(body)); err == nil {
			t.Errorf("%s: accepted; want refused", name)
		}
	}
	if _, err := ParseInlineJWKS(string(jwksText(t, map[string]interface{}{"kty": "EC", "crv": "P-256", "x": ecJWK.X, "y": ecJWK.Y, "d": "AA"}))); err == nil || !strings.Contains(err.Error(), `private member "d"`) {
		t.Errorf("an inline set holding a private key: %v; want it refused naming d", err)
	}
}

// TestParsePublicKeyPEM: PKIX and PKCS #1 keys, escaped newlines; private keys and small RSA keys
// refused.
func TestParsePublicKeyPEM(t *testing.T) {
	t.Parallel()
	k := keys(t)
	pkix, err := x509.MarshalPKIXPublicKey(k.p384.Public())
	if err != nil {
		t.Fatal(err)
	}
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}))
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)}))
	for name, text := range map[string]string{"EC P-384": ecPEM, "PKCS #1": pkcs1, "escaped newlines": strings.ReplaceAll(ecPEM, "\n", `\n`)} {
		if _, err := ParsePublicKeyPEM(text); err != nil {
			t.Errorf("%s: %v; want the key", name, err)
		}
	}
	private, err := x509.MarshalPKCS8PrivateKey(k.p256)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"a private key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: private})),
		"not PEM":       "ssh-rsa AAAA",
	} {
		if _, err := ParsePublicKeyPEM(text); err == nil {
			t.Errorf("%s: accepted; want refused", name)
		}
	}
}

// FuzzParseJWKS: parsing any body is bounded and total, and a set is returned only with keys
// KeyAllows lets verify something.
func FuzzParseJWKS(f *testing.F) {
	k := keys(f)
	f.Add(jwksText(f, jwkMap(publicJWK(&k.rsa.PublicKey), "r", "RS256", "sig")))
	f.Add([]byte(`{"keys":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		set, err := ParseJWKS(body)
		if (err == nil) != (set != nil) {
			t.Fatalf("ParseJWKS(%q) = %v, %v; want a set or an error", body, set, err)
		}
		if set == nil {
			return
		}
		for kid, key := range set.ByKid {
			usable := false
			for _, alg := range allAlgorithms {
				usable = usable || KeyAllows(key, alg)
			}
			if !usable {
				t.Fatalf("ParseJWKS(%q) kept kid %q, which verifies no algorithm", body, kid)
			}
		}
	})
}
