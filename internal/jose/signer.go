package jose

// Signing compact JWSs (RFC 7515) with a private key: the assertions withauth mints for the
// upstream, ES256 (P-256) or EdDSA (Ed25519); and the public keys that verify them, as a JWKS.

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Signer signs with one private key.
type Signer struct {
	Alg string // ES256 or EdDSA
	// JWK is the public key, its Kid the key's RFC 7638 thumbprint: the same key gives the same
	// kid on every replica.
	JWK JWK
	// header is the encoded JOSE header of every JWS it signs.
	header string
	ec     *ecdsa.PrivateKey
	ed     ed25519.PrivateKey
}

// ParseSigningKeyPEM reads a private key in PEM ("PRIVATE KEY", PKCS #8, or "EC PRIVATE KEY",
// SEC 1): EC on P-256 (ES256) or Ed25519 (EdDSA). Escaped newlines are accepted.
func ParseSigningKeyPEM(text string) (*Signer, error) {
	block, _ := pem.Decode([]byte(strings.ReplaceAll(strings.TrimSpace(text), `\n`, "\n")))
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var parsed interface{}
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		parsed, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block of type %q, expected PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, err
	}
	s := &Signer{}
	switch key := parsed.(type) {
	case *ecdsa.PrivateKey:
		if key.Curve != elliptic.P256() {
			return nil, fmt.Errorf("the EC key is on %s; P-256 (ES256) is accepted", key.Curve.Params().Name)
		}
		// One assignment at a time: Yaegi v0.16.1 drops a value of a tuple assignment into fields.
		s.Alg = "ES256"
		s.ec = key
		s.JWK = ecJWK(&key.PublicKey)
	case ed25519.PrivateKey:
		s.Alg = "EdDSA"
		s.ed = key
		s.JWK = JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(key.Public().(ed25519.PublicKey))}
	default:
		return nil, fmt.Errorf("the key is a %T; give an EC P-256 or an Ed25519 private key", key)
	}
	s.JWK.Alg = s.Alg
	s.JWK.Use = "sig"
	if s.JWK.Kid, err = Thumbprint(s.JWK); err != nil {
		return nil, err
	}
	header, _ := json.Marshal(map[string]string{"alg": s.Alg, "kid": s.JWK.Kid, "typ": "JWT"})
	s.header = base64.RawURLEncoding.EncodeToString(header)
	return s, nil
}

// PublishedJWK is the public JWK of a key in PEM, private or public (a key still published after
// a rotation): EC P-256 or Ed25519, its kid its thumbprint.
func PublishedJWK(text string) (JWK, error) {
	if signer, err := ParseSigningKeyPEM(text); err == nil {
		return signer.JWK, nil
	}
	key, err := ParsePublicKeyPEM(text)
	if err != nil {
		return JWK{}, err
	}
	var k JWK
	switch public := key.Public.(type) {
	case *ecdsa.PublicKey:
		if public.Curve != elliptic.P256() {
			return JWK{}, fmt.Errorf("the EC key is on %s; P-256 (ES256) is accepted", public.Curve.Params().Name)
		}
		k = ecJWK(public)
		k.Alg = "ES256"
	case ed25519.PublicKey:
		k = JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(public), Alg: "EdDSA"}
	default:
		return JWK{}, errors.New("the key is not an EC P-256 or an Ed25519 key")
	}
	k.Use = "sig"
	k.Kid, err = Thumbprint(k)
	return k, err
}

func ecJWK(public *ecdsa.PublicKey) JWK {
	// The coordinates as RFC 7518 §6.2.1 writes them: 32 bytes each for P-256.
	raw, _ := public.ECDH()
	point := raw.Bytes() // 0x04 || x || y
	return JWK{Kty: "EC", Crv: "P-256", X: base64.RawURLEncoding.EncodeToString(point[1:33]), Y: base64.RawURLEncoding.EncodeToString(point[33:65])}
}

// Sign returns the compact JWS of payload (a JSON object), signed by s.
func Sign(s *Signer, payload []byte) (string, error) {
	input := s.header + "." + base64.RawURLEncoding.EncodeToString(payload)
	var signature []byte
	if s.ed != nil {
		signature = ed25519.Sign(s.ed, []byte(input))
	} else {
		sum := sha256.Sum256([]byte(input))
		r, sv, err := ecdsa.Sign(rand.Reader, s.ec, sum[:])
		if err != nil {
			return "", err
		}
		signature = make([]byte, 64)
		r.FillBytes(signature[:32])
		sv.FillBytes(signature[32:])
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(signature), nil
}

// PublicJWKS is the JSON Web Key Set of keys, public members only.
func PublicJWKS(keys []JWK) []byte {
	type published struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Y   string `json:"y,omitempty"`
		Alg string `json:"alg"`
		Use string `json:"use"`
		Kid string `json:"kid"`
	}
	set := struct {
		Keys []published `json:"keys"`
	}{Keys: make([]published, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, published{Kty: k.Kty, Crv: k.Crv, X: k.X, Y: k.Y, Alg: k.Alg, Use: k.Use, Kid: k.Kid})
	}
	body, _ := json.Marshal(set)
	return body
}
